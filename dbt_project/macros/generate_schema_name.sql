{#- Models land in exactly the schema their `+schema` names (staging, intermediate, analytics), on every target,
    instead of dbt's default `<target.schema>_<custom>`. Without `+schema` they use the target's schema. -#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {%- if custom_schema_name is none -%}
        {{ target.schema }}
    {%- else -%}
        {{ custom_schema_name | trim }}
    {%- endif -%}
{%- endmacro %}
