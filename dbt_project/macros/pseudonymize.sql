{#- Keyed hash (HMAC-SHA256) of a user identifier; the key never appears in SQL.
    DuckDB: the usersegments.dbt_functions plugin provides the function and its key.
    PostgreSQL: the warehouse loader (usersegments/warehouse_load.py) already replaced
    the ids with the same keyed hash in Python, so raw ids never reach the server. -#}
{% macro pseudonymize(column) -%}
    {{ return(adapter.dispatch('pseudonymize', 'usersegments')(column)) }}
{%- endmacro %}

{% macro default__pseudonymize(column) -%}
    pseudonymize({{ column }})
{%- endmacro %}

{% macro postgres__pseudonymize(column) -%}
    {{ column }}
{%- endmacro %}
