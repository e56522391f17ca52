{#- Decode HTML entities, fold every run of white space (no-break spaces included) to
    one space, trim, and turn empty text into null. decode_html_entities() is Python's
    html.unescape in both warehouses: the dbt-duckdb plugin registers it in DuckDB, and
    a PL/Python function in PostgreSQL (docker/postgres/warehouse-functions.sql). -#}
{% macro normalize_text(column) -%}
    nullif(trim(regexp_replace(decode_html_entities({{ column }}), {{ usersegments.whitespace_run_pattern() }}, ' ', 'g')), '')
{%- endmacro %}

{#- The same character class in each regex dialect: RE2 (DuckDB) and Tcl ARE (PostgreSQL). -#}
{% macro whitespace_run_pattern() -%}
    {{ return(adapter.dispatch('whitespace_run_pattern', 'usersegments')()) }}
{%- endmacro %}

{% macro default__whitespace_run_pattern() -%}
    '[\s\x{00A0}]+'
{%- endmacro %}

{% macro postgres__whitespace_run_pattern() -%}
    '[\s\u00A0]+'
{%- endmacro %}

{#- Words in a text (runs between single spaces, after normalize_text); 0 for null. -#}
{% macro word_count(column) -%}
    {{ return(adapter.dispatch('word_count', 'usersegments')(column)) }}
{%- endmacro %}

{% macro default__word_count(column) -%}
    coalesce(len(string_split({{ column }}, ' ')), 0)
{%- endmacro %}

{% macro postgres__word_count(column) -%}
    -- bigint, the type of DuckDB's len(), so both warehouses publish one shape
    cast(coalesce(cardinality(string_to_array({{ column }}, ' ')), 0) as bigint)
{%- endmacro %}
