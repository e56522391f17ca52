select
    evaluation.run_id,
    evaluation.recommender,
    evaluation.scope,
    evaluation.segment_id,
    segments.segment_name,
    evaluation.k,
    evaluation.users,
    evaluation.hit_rate,
    evaluation.recall,
    evaluation.ndcg,
    evaluation.hit_rate_low,
    evaluation.hit_rate_high,
    evaluation.ndcg_low,
    evaluation.ndcg_high,
    evaluation.catalogue_coverage,
    evaluation.mlflow_run_id,
    runs.segmented_at
from {{ ref('stg_recommendations__evaluation') }} as evaluation
inner join {{ ref('stg_segmentation__runs') }} as runs using (run_id)
left join {{ ref('stg_segmentation__segments') }} as segments
    on evaluation.run_id = segments.run_id and evaluation.segment_id = segments.segment_id
