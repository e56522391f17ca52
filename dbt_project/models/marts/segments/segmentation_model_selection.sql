select
    run_id,
    algorithm,
    k,
    silhouette,
    cost,
    smallest_segment,
    is_chosen
from {{ ref('stg_segmentation__model_selection') }}
