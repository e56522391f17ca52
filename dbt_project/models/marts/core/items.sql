{{ config(post_hook="{{ export_to_lake() }}") }}

with

reviews as (

    select * from {{ ref('int_reviews__normalised') }}

)

select
    item_id,
    -- an ASIN sits in one category file; min() makes that explicit and deterministic
    min(category) as category,
    count(*) as review_count,
    count(distinct user_key) as user_count,
    avg(rating) as mean_rating,
    min(reviewed_at) as first_review_at,
    max(reviewed_at) as last_review_at

from reviews
group by item_id
