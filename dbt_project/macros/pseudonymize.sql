{#- Keyed hash (HMAC-SHA256) of a user identifier. The function and its key are provided
    by the usersegments.dbt_functions plugin, so the key never appears in SQL. -#}
{% macro pseudonymize(column) -%}
    pseudonymize({{ column }})
{%- endmacro %}
