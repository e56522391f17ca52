{#- The columns together identify a row (dbt_utils' unique_combination_of_columns;
    dbt hub packages are not reachable from this project's machines). -#}
{% test unique_combination(model, columns) %}

select {{ columns | join(', ') }}, count(*) as rows_per_key
from {{ model }}
group by {{ columns | join(', ') }}
having count(*) > 1

{% endtest %}
