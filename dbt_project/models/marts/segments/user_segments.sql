select
    assignments.user_key,
    assignments.segment_id,
    segments.segment_name,
    assignments.distance_to_centroid,
    assignments.run_id,
    runs.segmented_at
from {{ ref('stg_segmentation__assignments') }} as assignments
inner join {{ ref('int_segmentation__current_run') }} using (run_id)
inner join {{ ref('stg_segmentation__runs') }} as runs using (run_id)
inner join {{ ref('stg_segmentation__segments') }} as segments using (run_id, segment_id)
