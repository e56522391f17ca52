with

reviews as (

    select * from {{ ref('int_reviews__deduplicated') }}

),

source_files as (

    select * from {{ ref('amazon_source_files') }}

),

normalised as (

    select
        reviews.review_key,
        reviews.user_key,
        reviews.item_id,
        source_files.category,
        reviews.rating,
        reviews.reviewed_at,
        {{ normalize_text('reviews.summary') }} as summary,
        {{ normalize_text('reviews.review_text') }} as review_text,
        reviews.is_verified,
        reviews.helpful_votes,
        reviews.image_count,
        reviews.duplicate_count,
        reviews.source_file,
        reviews.line_number,
        reviews.schema_version

    from reviews
    inner join source_files on reviews.source_file = source_files.source_file

)

select
    *,
    review_text is not null as has_text,
    -- words in the body; 0 where a review has no body
    {{ word_count('review_text') }} as review_words

from normalised
