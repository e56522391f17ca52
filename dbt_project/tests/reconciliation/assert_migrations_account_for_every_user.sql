-- The migration table loses no one: per run, the users who stayed or moved are the
-- users the segmentation job found in both runs, and with those who joined they are
-- every user of the run. Returns a row (fails) for a run where either differs.
with

migrations as (

    select
        run_id,
        sum(case when movement in ('stayed', 'moved') then user_count else 0 end) as shared,
        sum(case when movement != 'left' then user_count else 0 end) as in_run
    from {{ ref('segment_migrations') }}
    group by run_id

),

runs as (

    select
        run_id,
        previous_run_id,
        shared_users,
        user_count
    from {{ ref('segmentation_runs') }}

)

select
    runs.run_id,
    runs.shared_users,
    migrations.shared,
    runs.user_count,
    migrations.in_run
from runs
left join migrations using (run_id)
where
    coalesce(migrations.in_run, 0) != runs.user_count
    or (runs.previous_run_id is not null and migrations.shared != runs.shared_users)
