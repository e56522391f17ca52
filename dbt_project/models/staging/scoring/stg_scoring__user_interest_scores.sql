select
    user_key,
    predicted_interest,
    cast(segment_id as integer) as segment_id,
    cast(distance_to_centroid as double precision) as distance_to_centroid,
    model_name,
    cast(model_version as integer) as model_version,
    model_run_id,
    segmentation_run_id,
    scoring_run_id,
    cast(scored_at as timestamp) as scored_at
from {{ source('scoring', 'user_interest_scores') }}
