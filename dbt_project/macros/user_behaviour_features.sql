{#- One row per user of ``reviews`` (a relation or a subquery with the columns of
    int_reviews__normalised): what they do (volume, ratings, time, helpfulness) and
    where (category mix). Recency is measured against the newest review in ``reviews``,
    not the wall clock, so the same data always gives the same features. One macro for
    the published features (every review) and the recommender evaluation's (training
    reviews only). -#}
{% macro user_behaviour_features(reviews) -%}
    {%- set categories = var('review_categories') -%}

with

reviews as (

    select * from {{ reviews }}

),

as_of as (

    select max(reviewed_at) as reference_at from reviews

),

per_user as (

    select
        user_key,
        count(*) as review_count,
        count(distinct item_id) as item_count,
        avg(rating) as mean_rating,
        -- sample standard deviation from sums, not stddev_samp(): ratings are whole
        -- stars, so these sums are exact in any order and reruns give the same bits
        -- (stddev_samp's streaming update depends on DuckDB's parallel row order)
        case
            when count(*) > 1 then sqrt(greatest(
                (sum(rating * rating) - sum(rating) * sum(rating) / count(*)) / (count(*) - 1),
                0.0
            ))
            else 0.0
        end as rating_stddev,
        min(reviewed_at) as first_review_at,
        max(reviewed_at) as last_review_at,
        avg(cast(review_words as double precision)) as mean_review_words,
        -- over the reviews that record it (2018); null for users with none
        avg(cast(cast(is_verified as integer) as double precision)) as verified_share,
        cast(coalesce(sum(helpful_votes), 0) as bigint) as helpful_votes,
        avg(cast(cast(has_text as integer) as double precision)) as text_share,
    {%- for category in categories %}
        avg(cast(cast(category = '{{ category }}' as integer) as double precision)) as share_{{ category }}{{ "," if not loop.last }}
    {%- endfor %}

    from reviews
    group by user_key

),

primary_categories as (

    -- the majority category; a tie goes to the alphabetically first category
    select user_key, primary_category
    from (
        select
            user_key,
            category as primary_category,
            row_number() over (partition by user_key order by count(*) desc, category) as category_rank
        from reviews
        group by user_key, category
    ) as ranked_categories
    where category_rank = 1

)

select
    per_user.*,
    cast({{ dbt.datediff('per_user.first_review_at', 'per_user.last_review_at', 'day') }} as bigint) as tenure_days,
    cast({{ dbt.datediff('per_user.last_review_at', 'as_of.reference_at', 'day') }} as bigint) as recency_days,
    primary_categories.primary_category

from per_user
inner join primary_categories on per_user.user_key = primary_categories.user_key
cross join as_of
{%- endmacro %}
