select
    segment_items.segment_id,
    segments.segment_name,
    segment_items.item_rank,
    segment_items.item_id,
    items.category as item_category,
    segment_items.score,
    segment_items.reviewers as segment_reviewers,
    items.mean_rating as item_mean_rating,
    segment_items.run_id
from {{ ref('stg_recommendations__segment_items') }} as segment_items
inner join {{ ref('int_segmentation__current_run') }} using (run_id)
inner join {{ ref('stg_segmentation__segments') }} as segments using (run_id, segment_id)
left join {{ ref('items') }} as items on segment_items.item_id = items.item_id
