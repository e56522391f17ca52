select
    run_id,
    cast(segment_id as integer) as segment_id,
    facet,
    feature,
    cast(segment_value as double precision) as segment_value,
    cast(population_value as double precision) as population_value,
    cast(lift as double precision) as lift,
    cast(z as double precision) as z_score
from {{ source('segmentation', 'profiles') }}
