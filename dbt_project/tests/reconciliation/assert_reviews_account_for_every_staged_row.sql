-- Deduplication drops rows but loses none: every staged row (before the run's as-of)
-- is one distinct review or a counted duplicate of one. Returns a row (fails) when the
-- totals differ.
select
    staged,
    distinct_with_duplicates
from (
    select
        (
            select count(*) from {{ ref('stg_amazon__reviews') }}
            where {{ reviewed_before_as_of('reviewed_at') }}
        ) as staged,
        (select sum(duplicate_count) from {{ ref('int_reviews__deduplicated') }})
            as distinct_with_duplicates
) as totals
where staged != distinct_with_duplicates
