{#- The columns of a recommendation evaluation (offline or prospective) after its run
    and window: recommender, scope and segment, then the @k metrics with their
    bootstrap intervals, cast as the marts declare them. -#}
{% macro evaluation_metric_columns() -%}
    recommender,
    scope,
    cast(segment_id as integer) as segment_id,
    cast(k as integer) as k,
    cast(users as bigint) as users,
    cast(hit_rate as double precision) as hit_rate,
    cast(recall as double precision) as recall,
    cast(ndcg as double precision) as ndcg,
    cast(hit_rate_low as double precision) as hit_rate_low,
    cast(hit_rate_high as double precision) as hit_rate_high,
    cast(ndcg_low as double precision) as ndcg_low,
    cast(ndcg_high as double precision) as ndcg_high,
    cast(catalogue_coverage as double precision) as catalogue_coverage,
    mlflow_run_id
{%- endmacro %}
