-- Users moving between the segments of each run and the run before it (the run its
-- segment ids were matched to). A user only in the run joined (from_segment_id null),
-- a user only in the run before left (to_segment_id null); a run without a run before
-- has every user joined. One full outer join of two runs' assignments per run:
-- O(assignments of all runs).
with

runs as (

    select
        run_id,
        previous_run_id,
        segmented_at
    from {{ ref('stg_segmentation__runs') }}

),

assignments as (

    select
        run_id,
        user_key,
        segment_id
    from {{ ref('stg_segmentation__assignments') }}

),

members as (

    select
        runs.run_id,
        assignments.user_key,
        assignments.segment_id
    from assignments
    inner join runs using (run_id)

),

previous_members as (

    select
        runs.run_id,
        assignments.user_key,
        assignments.segment_id
    from runs
    inner join assignments on runs.previous_run_id = assignments.run_id

),

paired as (

    select
        coalesce(members.run_id, previous_members.run_id) as run_id,
        previous_members.segment_id as from_segment_id,
        members.segment_id as to_segment_id
    from members
    full outer join previous_members
        on
            members.run_id = previous_members.run_id
            and members.user_key = previous_members.user_key

),

counted as (

    select
        run_id,
        from_segment_id,
        to_segment_id,
        cast(case
            when from_segment_id is null then 'joined'
            when to_segment_id is null then 'left'
            when from_segment_id = to_segment_id then 'stayed'
            else 'moved'
        end as varchar) as movement,
        count(*) as user_count
    from paired
    group by run_id, from_segment_id, to_segment_id

),

final as (

    select
        counted.run_id,
        runs.segmented_at,
        runs.previous_run_id,
        counted.from_segment_id,
        counted.to_segment_id,
        counted.movement,
        counted.user_count
    from counted
    inner join runs using (run_id)

)

select * from final
