select
    run_id,
    {{ evaluation_metric_columns() }}
from {{ source('recommendations', 'evaluation') }}
