select
    run_id,
    cast(segment_id as integer) as segment_id,
    segment_name,
    cast(user_count as bigint) as user_count,
    cast(user_share as double precision) as user_share,
    top_category,
    cast(top_category_share as double precision) as top_category_share,
    nullif(traits, '') as traits,
    nullif(top_terms, '') as top_terms,
    cast(previous_match_distance as double precision) as previous_match_distance,
    cast(stability as double precision) as stability,
    cast(is_stable as boolean) as is_stable
from {{ source('segmentation', 'segments') }}
