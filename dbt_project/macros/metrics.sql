{#- The one set of definitions (PRODUCT §4). Every model computes these through these macros. -#}

{#- numerator / denominator as double precision; null when the denominator is null or 0 (never integer division). -#}
{% macro xbot_safe_divide(numerator, denominator) -%}
    (case when ({{ denominator }}) is null or ({{ denominator }}) = 0 then null
          else cast({{ numerator }} as double precision) / ({{ denominator }}) end)
{%- endmacro %}

{#- engagement_rate = (likes + reposts + replies) / impressions; null when impressions are unknown or 0. -#}
{% macro xbot_engagement_rate(likes, retweets, replies, impressions) -%}
    {{ xbot_safe_divide('(' ~ likes ~ ') + (' ~ retweets ~ ') + (' ~ replies ~ ')', impressions) }}
{%- endmacro %}

{#- f_per_1k = followers / impressions × 1000 (pass sums for an aggregate); null when impressions are unknown or 0.
    Multiplying first keeps round numbers exact (30 followers over 6000 impressions is exactly 5.0). -#}
{% macro xbot_f_per_1k(followers, impressions) -%}
    {{ xbot_safe_divide('1000.0 * (' ~ followers ~ ')', impressions) }}
{%- endmacro %}

{#- Generator tier from F/1K (PRODUCT §5; seed 004). -#}
{% macro xbot_generator_tier(f_per_1k, posts, impressions) -%}
    case
        when coalesce({{ impressions }}, 0) = 0 then 'no_data'
        when {{ f_per_1k }} > 5 then 'viral'
        when {{ f_per_1k }} > 3 then 'excellent'
        when {{ f_per_1k }} > 1.5 then 'good'
        when {{ f_per_1k }} > 0.5 then 'average'
        when {{ f_per_1k }} > 0 then 'poor'
        when {{ posts }} >= 10 then 'failing'
        else 'poor'
    end
{%- endmacro %}


{#- A number as text with one decimal ('1.5'), for human-readable reasons; rounding half away from zero. -#}
{% macro xbot_format_1dp(value) -%}
    {{ return(adapter.dispatch('xbot_format_1dp', 'xbot')(value)) }}
{%- endmacro %}

{% macro default__xbot_format_1dp(value) -%}
    to_char(round(cast({{ value }} as numeric), 1), 'FM999999999990.0')
{%- endmacro %}

{% macro duckdb__xbot_format_1dp(value) -%}
    printf('%.1f', round(cast({{ value }} as double), 1))
{%- endmacro %}
