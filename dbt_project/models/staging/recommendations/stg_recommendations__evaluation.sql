select
    run_id,
    recommender,
    scope,
    cast(segment_id as integer) as segment_id,
    cast(k as integer) as k,
    cast(users as bigint) as users,
    cast(hit_rate as double) as hit_rate,
    cast(recall as double) as recall,
    cast(ndcg as double) as ndcg,
    cast(catalogue_coverage as double) as catalogue_coverage,
    mlflow_run_id
from {{ source('recommendations', 'evaluation') }}
