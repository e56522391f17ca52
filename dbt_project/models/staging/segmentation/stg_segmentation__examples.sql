select
    run_id,
    cast(segment_id as integer) as segment_id,
    cast(example_rank as integer) as example_rank,
    review_key,
    cast(similarity as double precision) as similarity
from {{ source('segmentation', 'examples') }}
