with

source as (

    select * from {{ source('amazon', 'quarantine') }}

),

renamed as (

    -- The raw text is left in the lake: it may hold unpseudonymised ids.
    select
        ingest_run_id,
        source_file,
        line_number,
        split_part(reason, ' ', 1) as reason_code,
        reason

    from source

)

select * from renamed
