{{ config(post_hook="{{ export_to_lake() }}") }}

select
    review_key,
    user_key,
    item_id,
    category,
    rating,
    reviewed_at,
    summary,
    review_text,
    has_text,
    review_words,
    is_verified,
    helpful_votes,
    image_count,
    duplicate_count,
    source_file,
    line_number,
    schema_version

from {{ ref('int_reviews__normalised') }}
