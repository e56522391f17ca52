select
    terms.segment_id,
    terms.term_rank,
    terms.term,
    terms.score,
    terms.lift,
    terms.term_count,
    terms.user_count,
    terms.run_id
from {{ ref('stg_segmentation__terms') }} as terms
inner join {{ ref('int_segmentation__current_run') }} using (run_id)
