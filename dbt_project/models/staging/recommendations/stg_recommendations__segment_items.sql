select
    run_id,
    cast(segment_id as integer) as segment_id,
    cast(item_rank as integer) as item_rank,
    item_id,
    cast(score as double precision) as score,
    cast(reviewers as bigint) as reviewers
from {{ source('recommendations', 'segment_items') }}
