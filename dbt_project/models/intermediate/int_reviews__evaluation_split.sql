{#- The recommender's offline evaluation split, by time: per user with more than
    `evaluation_holdout_items` distinct items, the most recently reviewed item(s) are
    held out (every review of them); ties in time go to the larger review key. The
    recommender built for the evaluation sees the 'train' rows only. -#}
{%- set holdout_items = var('evaluation_holdout_items') -%}

with

reviews as (

    select * from {{ ref('int_reviews__normalised') }}

),

user_items as (

    select
        user_key,
        item_id,
        max(reviewed_at) as last_reviewed_at,
        max(review_key) as last_review_key

    from reviews
    group by user_key, item_id

),

ranked as (

    select
        user_key,
        item_id,
        row_number() over (
            partition by user_key order by last_reviewed_at desc, last_review_key desc
        ) as recency_rank,
        count(*) over (partition by user_key) as user_item_count

    from user_items

),

held_out as (

    select
        user_key,
        item_id
    from ranked
    where recency_rank <= {{ holdout_items }} and user_item_count > {{ holdout_items }}

)

select
    reviews.*,
    case when held_out.item_id is null then 'train' else 'holdout' end as evaluation_split

from reviews
left join held_out
    on reviews.user_key = held_out.user_key and reviews.item_id = held_out.item_id
