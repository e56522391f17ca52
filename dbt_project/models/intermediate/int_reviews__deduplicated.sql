{#- The 2018 files repeat one review across product variants and contain exact
    duplicate lines. A review is identified as the source documents it: one reviewer,
    one text, one summary, one time. The first occurrence (file, line) is kept. -#}
with

reviews as (

    select * from {{ ref('stg_amazon__reviews') }}
    where {{ reviewed_before_as_of('reviewed_at') }}

),

numbered as (

    select
        *,
        row_number() over (
            partition by user_key, review_text, summary, reviewed_at
            order by source_file, line_number
        ) as occurrence,
        count(*) over (
            partition by user_key, review_text, summary, reviewed_at
        ) as duplicate_count

    from reviews

)

select
    md5(concat_ws(
        '|',
        user_key,
        {{ unix_seconds('reviewed_at') }},
        coalesce(summary, ''),
        coalesce(review_text, '')
    )) as review_key,
    ingest_run_id,
    source_file,
    line_number,
    schema_version,
    user_key,
    item_id,
    rating,
    summary,
    review_text,
    reviewed_at,
    is_verified,
    helpful_votes,
    helpful_total,
    style_json,
    image_count,
    duplicate_count

from numbered
where occurrence = 1
