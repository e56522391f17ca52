-- Deduplication drops rows but loses none: every staged row is one distinct review or
-- a counted duplicate of one. Returns a row (fails) when the totals differ.
select
    staged,
    distinct_with_duplicates
from (
    select
        (select count(*) from {{ ref('stg_amazon__reviews') }}) as staged,
        (select sum(duplicate_count) from {{ ref('int_reviews__deduplicated') }})
            as distinct_with_duplicates
) as totals
where staged != distinct_with_duplicates
