{#- Time helpers. Raw timestamps are `timestamp` without time zone holding UTC; everything here keeps that convention. -#}

{#- The current time as a UTC `timestamp`, whatever the session's time zone. -#}
{% macro xbot_utc_now() -%}
    {{ return(adapter.dispatch('xbot_utc_now', 'xbot')()) }}
{%- endmacro %}

{% macro default__xbot_utc_now() -%}
    cast(current_timestamp at time zone 'UTC' as timestamp)
{%- endmacro %}


{#- The "now" of the learning windows: var `as_of` (an ISO-8601 string, or a YAML date/datetime; an offset or a
    trailing Z is converted to UTC), or the current time when the var is null or empty. Rendered as a SQL literal. -#}
{% macro xbot_as_of() -%}
    {#- The env var is how xbot passes its clock: a changed --vars forces dbt to re-parse the whole project (seconds
        per run), a changed env var only the files that read it. -#}
    {%- set raw = var('as_of', none) -%}
    {%- if raw is none or (raw is string and raw | trim == '') -%}{%- set raw = env_var('XBOT_AS_OF', '') -%}{%- endif -%}
    {%- if raw is none or (raw is string and raw | trim == '') -%}
        {{ xbot_utc_now() }}
    {%- else -%}
        {%- if raw is string -%}
            {%- set text = raw | trim -%}
            {%- if not modules.re.match('^[0-9]{4}-[0-9]{2}-[0-9]{2}([T ][0-9]{2}:[0-9]{2}(:[0-9]{2}([.][0-9]{1,6})?)?)?(Z|[+-][0-9]{2}:?[0-9]{2})?$', text) -%}
                {{ exceptions.raise_compiler_error("var as_of=" ~ (raw | string) ~ " is not an ISO-8601 timestamp such as 2026-01-10T12:00:00Z") }}
            {%- endif -%}
            {%- if text.endswith('Z') -%}{%- set text = text[:-1] ~ '+00:00' -%}{%- endif -%}
            {%- set parsed = modules.datetime.datetime.fromisoformat(text) -%}
        {%- elif raw.hour is defined -%}
            {%- set parsed = raw -%}
        {%- else -%}
            {%- set parsed = modules.datetime.datetime(raw.year, raw.month, raw.day) -%}
        {%- endif -%}
        {%- if parsed.tzinfo is not none -%}
            {%- set parsed = parsed.astimezone(modules.pytz.utc).replace(tzinfo=none) -%}
        {%- endif -%}
        cast('{{ parsed.strftime("%Y-%m-%d %H:%M:%S.%f") }}' as timestamp)
    {%- endif -%}
{%- endmacro %}


{#- Hour of day (integer 0-23) of a UTC timestamp, read in var `account_timezone`.
    `at time zone` turns a UTC timestamp into timestamptz and that into local wall time on PostgreSQL and on
    DuckDB (ICU); dispatched so an adapter with other syntax can override it. -#}
{% macro xbot_local_hour(utc_timestamp) -%}
    {{ return(adapter.dispatch('xbot_local_hour', 'xbot')(utc_timestamp, var('account_timezone'))) }}
{%- endmacro %}

{% macro default__xbot_local_hour(utc_timestamp, tz) -%}
    cast(extract(hour from (({{ utc_timestamp }}) at time zone 'UTC') at time zone '{{ tz }}') as integer)
{%- endmacro %}


{#- Hours from `start_ts` to `end_ts` as double precision (fractional; null when either is null). -#}
{% macro xbot_hours_between(start_ts, end_ts) -%}
    (cast(extract(epoch from (({{ end_ts }}) - ({{ start_ts }}))) as double precision) / 3600.0)
{%- endmacro %}


{#- The UTC day (days since 1970-01-01, bigint) a timestamp falls in. -#}
{% macro xbot_epoch_day(ts) -%}
    cast(floor(extract(epoch from ({{ ts }})) / 86400) as bigint)
{%- endmacro %}


{#- One row per day number in [first_day, last_day] (a set-returning expression for a select list): joining two
    ranges of time on the days they cover is an equi-join, where their overlap condition alone made PostgreSQL
    compare every span with every follower interval of its account. -#}
{% macro xbot_day_series(first_day, last_day) -%}
    {{ return(adapter.dispatch('xbot_day_series', 'xbot')(first_day, last_day)) }}
{%- endmacro %}

{% macro default__xbot_day_series(first_day, last_day) -%}
    generate_series({{ first_day }}, {{ last_day }})
{%- endmacro %}

{% macro duckdb__xbot_day_series(first_day, last_day) -%}
    unnest(generate_series({{ first_day }}, {{ last_day }}))
{%- endmacro %}
