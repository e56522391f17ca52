-- The run the segment marts show: the latest segmentation run by what it saw (its
-- as-of; a run without one saw everything and counts as the newest), so a rerun of an
-- old interval does not replace the present with the past.
select run_id
from {{ ref('stg_segmentation__runs') }}
order by as_of desc nulls first, segmented_at desc, run_id desc
limit 1
