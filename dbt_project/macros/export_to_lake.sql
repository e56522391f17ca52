{#- Post-hook: write the model as Parquet to lake/clean/, where the Spark stages read it.
    DuckDB writes a temporary file and renames it, so readers never see half a file;
    rows are ordered so the same table always gives the same file. -#}
{% macro export_to_lake() -%}
    {%- set clean_dir = env_var('USERSEGMENTS_DATA_DIR') ~ '/lake/clean' -%}
    copy (select * from {{ this }} order by all)
    to '{{ clean_dir }}/{{ this.identifier }}.parquet' (format parquet)
{%- endmacro %}
