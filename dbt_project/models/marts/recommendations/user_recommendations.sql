select
    recommendations.user_key,
    recommendations.recommendation_rank,
    recommendations.item_id,
    items.category as item_category,
    recommendations.score,
    recommendations.segment_id,
    segments.segment_name,
    recommendations.run_id
from {{ ref('stg_recommendations__user_recommendations') }} as recommendations
inner join {{ ref('int_segmentation__current_run') }} using (run_id)
inner join {{ ref('stg_segmentation__segments') }} as segments using (run_id, segment_id)
left join {{ ref('items') }} as items on recommendations.item_id = items.item_id
