select
    run_id,
    cast(segment_id as integer) as segment_id,
    facet,
    feature,
    cast(segment_value as double) as segment_value,
    cast(population_value as double) as population_value,
    cast(lift as double) as lift,
    cast(z as double) as z_score
from {{ source('segmentation', 'profiles') }}
