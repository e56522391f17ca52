select
    run_id,
    user_key,
    cast(segment_id as integer) as segment_id,
    cast(rank as integer) as recommendation_rank,
    item_id,
    cast(score as double precision) as score
from {{ source('recommendations', 'user_recommendations') }}
