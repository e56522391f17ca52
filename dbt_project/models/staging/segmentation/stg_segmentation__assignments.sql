select
    run_id,
    user_key,
    cast(segment_id as integer) as segment_id,
    cast(distance_to_centroid as double precision) as distance_to_centroid,
    cast(projection_x as double precision) as projection_x,
    cast(projection_y as double precision) as projection_y
from {{ source('segmentation', 'assignments') }}
