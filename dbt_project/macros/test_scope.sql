{#- The data tests of a `dbt build` check what the build changed: on the incremental models and the staging views
    that feed them, a test reads only the rows of the units (a decision, an account's follower intervals from some
    time on, a follower snapshot) that rows loaded since the previous build touch. Whole tables grow with history:
    at 10^5 posts the whole-table tests took 22 s of dbt's threads in a 21 s incremental cycle, the largest of them
    8.3 s (benchmarks/incremental_scale.py --slowest).

    A unit is checked whole, so a test on a unit's key (unique, unique_combination_of_columns) still sees every copy
    of a key a new row shares; a row no new data touches was checked by the build that wrote it. Everything is
    checked — as before — by `dbt test`, by `dbt build --full-refresh`, and whenever a build recomputes everything
    (nothing known of an earlier build, a var or a model's SQL changed, history deleted: xbot_incremental_since).
    dbt documents overriding get_where_subquery for a test filter decided when the test runs; a test's own `where`
    config still applies on top. -#}

{#- Which rows of a model a build recomputes, or which rows of a staging view new data touches: the name of a
    macro(since) giving the condition on its rows (alias `stored`). The incremental models' pre-hooks delete by it,
    the tests scope by it. none: not scoped. -#}
{% macro xbot_units_of(model_name) -%}
    {{ return({
        'stg_posts': 'xbot_affected_posts',
        'stg_metric_snapshots': 'xbot_affected_metric_decisions',
        'stg_follower_snapshots': 'xbot_affected_follower_snapshots',
        'int_latest_metrics': 'xbot_affected_metric_decisions',
        'int_follower_attribution': 'xbot_affected_intervals',
        'int_follower_intervals': 'xbot_affected_intervals',
        'outcomes': 'xbot_affected_outcome_decisions',
        'training_set': 'xbot_affected_outcome_decisions',
    }.get(model_name)) }}
{%- endmacro %}

{% macro xbot_affected_posts(since) -%}
    {{ xbot_in('stored.decision_id',
               'select decision_id from ' ~ xbot_ref('stg_posts') ~ ' where loaded_at > ' ~ since) }}
{%- endmacro %}

{% macro xbot_affected_follower_snapshots(since) -%}
    exists (
        select 1 from {{ xbot_ref('stg_follower_snapshots') }} as loaded
        where loaded.loaded_at > {{ since }}
            and loaded.account_id = stored.account_id and loaded.collected_at = stored.collected_at
    )
{%- endmacro %}

{% macro get_where_subquery(relation) -%}
    {%- set where = config.get('where') -%}
    {%- set units = xbot_units_of(relation.identifier) -%}
    {%- set scope = none -%}
    {%- if units is not none and execute -%}
        {%- set since = xbot_tests_since() -%}
        {%- if since is not none -%}{%- set scope = context[units](since) -%}{%- endif -%}
    {%- endif -%}
    {%- if scope is none and not where -%}{{ return(relation) }}{%- endif -%}
    {%- set conditions = ([scope] if scope is not none else []) + (['(' ~ where ~ ')'] if where else []) -%}
    {{ return('(select * from ' ~ relation ~ ' as stored where ' ~ conditions | join(' and ') ~ ') dbt_subquery') }}
{%- endmacro %}

{#- The SQL timestamp after which loaded rows are tested, or none: test everything. Rows loaded after the earliest
    of the incremental models' starting points: for a model this build has rebuilt, what the build recomputed from
    (built_since); for one it has not rebuilt yet (the staging views are tested before the models they feed), the
    newest row its last build saw, less the lookback. -#}
{% macro xbot_tests_since() -%}
    {%- if flags.WHICH != 'build' or flags.FULL_REFRESH -%}{{ return(none) }}{%- endif -%}
    {%- set names = ['int_latest_metrics', 'int_follower_attribution', 'int_follower_intervals', 'outcomes',
                     'training_set'] -%}
    {%- set lookups = [] -%}
    {%- for name in names -%}
        {%- set node = graph.nodes['model.' ~ project_name ~ '.' ~ name] -%}
        {%- set relation = api.Relation.create(database=node.database, schema=node.schema, identifier=node.alias) -%}
        {%- do lookups.append('(' ~ adapter.dispatch('xbot_table_comment_sql', 'xbot')(relation) ~ ')') -%}
    {%- endfor -%}
    {%- set comments = run_query('select ' ~ lookups | join(', ')).rows[0] -%}
    {%- set starts = [] -%}
    {%- set hours = var('incremental_lookback_hours') | float -%}
    {%- for comment in comments -%}
        {%- if comment is none or not (comment | string).startswith('{') -%}{{ return(none) }}{%- endif -%}
        {%- set state = fromjson(comment | string) -%}
        {%- if state.get('invocation_id') == invocation_id -%}
            {%- do starts.append(state.get('built_since')) -%}
        {%- elif state.get('loaded_through') is not none -%}
            {%- do starts.append("(cast('" ~ state['loaded_through'] ~ "' as timestamp) - " ~ hours
                                 ~ " * interval '1 hour')") -%}
        {%- else -%}
            {%- do starts.append(none) -%}
        {%- endif -%}
    {%- endfor -%}
    {%- if none in starts -%}{{ return(none) }}{%- endif -%}
    {{ return('least(' ~ starts | join(', ') ~ ')') }}
{%- endmacro %}
