-- The run the segment marts show: the latest segmentation run.
select run_id
from {{ ref('stg_segmentation__runs') }}
order by segmented_at desc, run_id desc
limit 1
