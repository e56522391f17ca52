-- Every run's segments and their sizes: how segments form, grow and shrink over runs.
with

runs as (

    select
        run_id,
        segmented_at,
        as_of
    from {{ ref('stg_segmentation__runs') }}

),

segments as (

    select
        run_id,
        segment_id,
        segment_name,
        user_count,
        user_share
    from {{ ref('stg_segmentation__segments') }}

),

sized as (

    select
        segments.run_id,
        runs.segmented_at,
        runs.as_of,
        segments.segment_id,
        segments.segment_name,
        segments.user_count,
        segments.user_share
    from segments
    inner join runs using (run_id)

)

select * from sized
