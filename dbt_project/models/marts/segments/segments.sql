with

current_run as (

    select runs.*
    from {{ ref('stg_segmentation__runs') }} as runs
    inner join {{ ref('int_segmentation__current_run') }} using (run_id)

),

segments as (

    select segments.*
    from {{ ref('stg_segmentation__segments') }} as segments
    inner join current_run using (run_id)

),

profiles as (

    select
        profiles.segment_id,
        max(case when profiles.feature = 'review_count' then profiles.segment_value end) as mean_reviews,
        max(case when profiles.feature = 'mean_rating' then profiles.segment_value end) as mean_rating,
        max(case when profiles.feature = 'mean_rating' then profiles.lift end) as mean_rating_lift,
        max(case when profiles.feature = 'mean_review_words' then profiles.segment_value end) as mean_review_words,
        max(case when profiles.feature = 'mean_review_words' then profiles.lift end) as mean_review_words_lift,
        max(case when profiles.feature = 'helpful_votes' then profiles.lift end) as helpful_votes_lift,
        max(case when profiles.feature = 'recency_days' then profiles.segment_value end) as mean_recency_days,
        max(case when profiles.feature = 'degree' then profiles.lift end) as co_reviewer_lift
    from {{ ref('stg_segmentation__profiles') }} as profiles
    inner join current_run using (run_id)
    group by profiles.segment_id

),

examples as (

    select
        examples.segment_id,
        reviews.summary as example_review_summary
    from {{ ref('stg_segmentation__examples') }} as examples
    inner join current_run using (run_id)
    inner join {{ ref('reviews') }} as reviews using (review_key)
    where examples.example_rank = 1

)

select
    segments.segment_id,
    segments.segment_name,
    segments.user_count,
    segments.user_share,
    segments.top_category,
    segments.top_category_share,
    segments.traits,
    segments.top_terms,
    segments.stability,
    segments.is_stable,
    profiles.mean_reviews,
    profiles.mean_rating,
    profiles.mean_rating_lift,
    profiles.mean_review_words,
    profiles.mean_review_words_lift,
    profiles.helpful_votes_lift,
    profiles.mean_recency_days,
    profiles.co_reviewer_lift,
    examples.example_review_summary,
    current_run.run_id,
    current_run.algorithm,
    current_run.k,
    current_run.silhouette,
    current_run.segmented_at
from segments
cross join current_run
left join profiles using (segment_id)
left join examples using (segment_id)
