select
    run_id,
    cast(segment_id as integer) as segment_id,
    cast(term_rank as integer) as term_rank,
    term,
    cast(score as double precision) as score,
    cast(lift as double precision) as lift,
    cast(term_count as bigint) as term_count,
    cast(users as bigint) as user_count
from {{ source('segmentation', 'terms') }}
