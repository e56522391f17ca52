select
    run_id,
    algorithm,
    k,
    silhouette,
    macro_silhouette,
    macro_silhouette_noise,
    stability,
    cost,
    smallest_segment,
    is_chosen
from {{ ref('stg_segmentation__model_selection') }}
