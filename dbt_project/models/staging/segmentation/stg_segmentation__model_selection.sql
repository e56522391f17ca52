select
    run_id,
    algorithm,
    cast(k as integer) as k,
    cast(silhouette as double precision) as silhouette,
    cast(macro_silhouette as double precision) as macro_silhouette,
    cast(macro_silhouette_noise as double precision) as macro_silhouette_noise,
    cast(stability as double precision) as stability,
    cast(cost as double precision) as cost,
    cast(smallest_segment as bigint) as smallest_segment,
    cast(is_chosen as boolean) as is_chosen
from {{ source('segmentation', 'model_selection') }}
