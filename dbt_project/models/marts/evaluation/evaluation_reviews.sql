{{ config(post_hook="{{ export_to_lake() }}") }}

select
    review_key,
    user_key,
    item_id,
    category,
    rating,
    reviewed_at,
    evaluation_split

from {{ ref('int_reviews__evaluation_split') }}
