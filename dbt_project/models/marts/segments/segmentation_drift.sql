-- Per run, how much the segmentation changed since the run before: users who joined,
-- left, stayed or changed segment, how far the matched centroids moved, and segments
-- born (ids new in the run) and gone.
with

runs as (

    select
        run_id,
        previous_run_id,
        segmented_at,
        k
    from {{ ref('stg_segmentation__runs') }}

),

migrations as (

    select * from {{ ref('segment_migrations') }}

),

segment_ids as (

    select
        run_id,
        segment_id
    from {{ ref('stg_segmentation__segments') }}

),

-- previous_match_distance: squared Euclidean distance between a segment's centroid and
-- the centroid of the previous run's segment it was matched to (null: a new segment)
shifts as (

    select
        run_id,
        avg(sqrt(previous_match_distance)) as mean_centroid_shift,
        max(sqrt(previous_match_distance)) as max_centroid_shift
    from {{ ref('stg_segmentation__segments') }}
    group by run_id

),

movements as (

    select
        run_id,
        cast(coalesce(sum(case when movement = 'joined' then user_count end), 0) as bigint)
            as joined_users,
        cast(coalesce(sum(case when movement = 'left' then user_count end), 0) as bigint)
            as left_users,
        cast(coalesce(sum(case when movement = 'stayed' then user_count end), 0) as bigint)
            as stayed_users,
        cast(coalesce(sum(case when movement = 'moved' then user_count end), 0) as bigint)
            as moved_users
    from migrations
    group by run_id

),

-- each segment id of a run beside the same id in the run before: an id only in the run
-- was born, an id only in the run before is gone
paired_ids as (

    select
        coalesce(current_ids.run_id, runs.run_id) as run_id,
        current_ids.segment_id as current_id,
        previous_ids.segment_id as previous_id
    from runs
    inner join segment_ids as previous_ids on runs.previous_run_id = previous_ids.run_id
    full outer join segment_ids as current_ids
        on
            runs.run_id = current_ids.run_id
            and previous_ids.segment_id = current_ids.segment_id

),

born_and_gone as (

    select
        run_id,
        count(*) filter (where previous_id is null) as segments_born,
        count(*) filter (where current_id is null) as segments_gone
    from paired_ids
    group by run_id

),

final as (

    select
        runs.run_id,
        runs.segmented_at,
        runs.previous_run_id,
        runs.k,
        movements.joined_users,
        movements.left_users,
        movements.stayed_users + movements.moved_users as shared_users,
        movements.moved_users,
        case
            when movements.stayed_users + movements.moved_users > 0
                then
                    cast(movements.moved_users as double precision)
                    / (movements.stayed_users + movements.moved_users)
        end as moved_share,
        shifts.mean_centroid_shift,
        shifts.max_centroid_shift,
        case when runs.previous_run_id is not null then coalesce(born_and_gone.segments_born, 0) end
            as segments_born,
        case when runs.previous_run_id is not null then coalesce(born_and_gone.segments_gone, 0) end
            as segments_gone
    from runs
    inner join movements using (run_id)
    left join shifts using (run_id)
    left join born_and_gone using (run_id)

)

select * from final
