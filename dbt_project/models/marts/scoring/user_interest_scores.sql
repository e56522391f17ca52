select
    scores.user_key,
    scores.predicted_interest,
    scores.segment_id,
    segments.segment_name,
    scores.distance_to_centroid,
    scores.model_name,
    scores.model_version,
    scores.model_run_id,
    scores.segmentation_run_id,
    scores.scoring_run_id,
    scores.scored_at
from {{ ref('stg_scoring__user_interest_scores') }} as scores
left join {{ ref('stg_segmentation__segments') }} as segments
    on
        scores.segmentation_run_id = segments.run_id
        and scores.segment_id = segments.segment_id
