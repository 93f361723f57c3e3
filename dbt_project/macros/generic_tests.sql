{#- Generic data tests written here because packages (dbt_utils) cannot be installed offline. -#}

{#- Rows whose value lies outside [min_value, max_value]; either bound may be left out. Nulls pass (pair with not_null). -#}
{% test between(model, column_name, min_value=none, max_value=none) %}
    {%- if min_value is none and max_value is none -%}
        {{ exceptions.raise_compiler_error("test between on " ~ column_name ~ " needs min_value and/or max_value") }}
    {%- endif %}
    select {{ column_name }}
    from {{ model }}
    where
        {%- if min_value is not none %} {{ column_name }} < {{ min_value }}{% endif %}
        {%- if min_value is not none and max_value is not none %} or{% endif %}
        {%- if max_value is not none %} {{ column_name }} > {{ max_value }}{% endif %}
{% endtest %}

{#- Combinations of `combination_of_columns` that occur more than once. -#}
{% test unique_combination_of_columns(model, combination_of_columns) %}
    {%- set columns = combination_of_columns | join(', ') %}
    select {{ columns }}, count(*) as occurrences
    from {{ model }}
    group by {{ columns }}
    having count(*) > 1
{% endtest %}
