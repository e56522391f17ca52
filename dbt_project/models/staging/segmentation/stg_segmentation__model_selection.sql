select
    run_id,
    algorithm,
    cast(k as integer) as k,
    cast(silhouette as double precision) as silhouette,
    cast(cost as double precision) as cost,
    cast(smallest_segment as bigint) as smallest_segment,
    cast(is_chosen as boolean) as is_chosen
from {{ source('segmentation', 'model_selection') }}
