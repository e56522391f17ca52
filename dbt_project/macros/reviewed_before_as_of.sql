{#- The run's "as of" view: reviews strictly before the var as_of (the Airflow run's data
    interval end, UTC, 'YYYY-MM-DD HH:MM:SS'); without it (a manual run, dbt by hand)
    every review. -#}
{% macro reviewed_before_as_of(column) -%}
    {%- if var('as_of', '') -%}
        {{ column }} < cast('{{ var("as_of") }}' as timestamp)
    {%- else -%}
        true
    {%- endif -%}
{%- endmacro %}
