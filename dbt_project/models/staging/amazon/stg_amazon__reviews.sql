with

source as (

    select * from {{ source('amazon', 'reviews') }}

),

renamed as (

    select
        -- lineage
        ingest_run_id,
        source_file,
        line_number,
        schema_version,

        -- ids: the reviewer id leaves here only as a keyed hash; names are dropped
        {{ pseudonymize('reviewer_id') }} as user_key,
        item_id,

        -- review
        cast(rating as double precision) as rating,
        summary,
        review_text,
        {{ timestamp_from_unix('unix_review_time') }} as reviewed_at,
        verified as is_verified,
        -- 2014 counts helpful votes in helpful[0], 2018 as text with separators
        coalesce(helpful_up, cast(replace(vote_text, ',', '') as integer)) as helpful_votes,
        helpful_total,
        style_json,
        coalesce(image_count, 0) as image_count

    from source

)

select * from renamed
