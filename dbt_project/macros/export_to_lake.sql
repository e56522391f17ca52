{#- Post-hook: write the model as Parquet to lake/clean/, where the Spark stages read it.
    DuckDB writes a temporary file and renames it, so readers never see half a file;
    rows are ordered so the same table always gives the same file.
    PostgreSQL cannot write Parquet: there the DAG's export task does it
    (usersegments.warehouse_load.export_marts), and this hook renders nothing. -#}
{% macro export_to_lake() -%}
    {{ return(adapter.dispatch('export_to_lake', 'usersegments')()) }}
{%- endmacro %}

{% macro default__export_to_lake() -%}
    {%- set clean_dir = env_var('USERSEGMENTS_DATA_DIR') ~ '/lake/clean' -%}
    copy (select * from {{ this }} order by all)
    to '{{ clean_dir }}/{{ this.identifier }}.parquet' (format parquet)
{%- endmacro %}

{% macro postgres__export_to_lake() -%}
{%- endmacro %}
