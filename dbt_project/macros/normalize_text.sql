{#- Decode HTML entities, fold every run of white space (no-break spaces included) to
    one space, trim, and turn empty text into null. -#}
{% macro normalize_text(column) -%}
    nullif(trim(regexp_replace(decode_html_entities({{ column }}), '[\s\x{00A0}]+', ' ', 'g')), '')
{%- endmacro %}
