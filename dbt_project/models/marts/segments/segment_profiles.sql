select
    profiles.segment_id,
    profiles.facet,
    profiles.feature,
    profiles.segment_value,
    profiles.population_value,
    profiles.lift,
    profiles.z_score,
    profiles.run_id
from {{ ref('stg_segmentation__profiles') }} as profiles
inner join {{ ref('int_segmentation__current_run') }} using (run_id)
