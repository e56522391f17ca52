{#- Unix seconds <-> timestamp without time zone, in UTC whatever the session's zone. -#}
{% macro timestamp_from_unix(column) -%}
    {{ return(adapter.dispatch('timestamp_from_unix', 'usersegments')(column)) }}
{%- endmacro %}

{% macro default__timestamp_from_unix(column) -%}
    cast(to_timestamp({{ column }}) as timestamp)
{%- endmacro %}

{% macro postgres__timestamp_from_unix(column) -%}
    (to_timestamp({{ column }}) at time zone 'UTC')
{%- endmacro %}

{% macro unix_seconds(column) -%}
    {{ return(adapter.dispatch('unix_seconds', 'usersegments')(column)) }}
{%- endmacro %}

{% macro default__unix_seconds(column) -%}
    cast(epoch({{ column }}) as bigint)
{%- endmacro %}

{% macro postgres__unix_seconds(column) -%}
    cast(extract(epoch from {{ column }}) as bigint)
{%- endmacro %}
