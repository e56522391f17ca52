select
    prospective.run_id,
    prospective.lists_run_id,
    prospective.window_start,
    prospective.window_end,
    prospective.recommender,
    prospective.scope,
    prospective.segment_id,
    segments.segment_name,
    prospective.k,
    prospective.users,
    prospective.hit_rate,
    prospective.recall,
    prospective.ndcg,
    prospective.hit_rate_low,
    prospective.hit_rate_high,
    prospective.ndcg_low,
    prospective.ndcg_high,
    prospective.catalogue_coverage,
    prospective.mlflow_run_id,
    runs.segmented_at
from {{ ref('stg_recommendations__prospective_evaluation') }} as prospective
inner join {{ ref('stg_segmentation__runs') }} as runs using (run_id)
left join {{ ref('stg_segmentation__segments') }} as segments
    on prospective.lists_run_id = segments.run_id and prospective.segment_id = segments.segment_id
