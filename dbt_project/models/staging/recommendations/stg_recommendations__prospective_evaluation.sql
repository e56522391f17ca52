select
    run_id,
    lists_run_id,
    cast(window_start as timestamp) as window_start,
    cast(window_end as timestamp) as window_end,
    {{ evaluation_metric_columns() }}
from {{ source('recommendations', 'prospective_evaluation') }}
