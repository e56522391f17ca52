select
    examples.segment_id,
    examples.example_rank,
    examples.review_key,
    examples.similarity,
    reviews.category,
    reviews.rating,
    reviews.summary,
    reviews.review_text,
    examples.run_id
from {{ ref('stg_segmentation__examples') }} as examples
inner join {{ ref('int_segmentation__current_run') }} using (run_id)
inner join {{ ref('reviews') }} as reviews using (review_key)
