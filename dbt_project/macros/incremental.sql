{#- Incremental marts: int_latest_metrics, int_follower_attribution, int_follower_intervals, outcomes and training_set.

    Each build recomputes only the units (a decision, or an account's follower intervals from some time on) that raw
    rows loaded since the model's last build can change, and replaces them whole: a pre-hook deletes every stored
    row of those units (so a row that no longer exists, e.g. a post that stops passing the gate or an interval a new
    follower snapshot splits, cannot survive), the model inserts them again through dbt's delete+insert.

    "Loaded since" is read from raw.*.loaded_at, which records arrival, not measurement: a counter snapshot of an old
    post loaded today is picked up today however old its collected_at. The high-water mark is the newest loaded_at
    the previous build of the model could see, kept as the table's comment (not in the model's
    own rows: the pre-hook deletes rows, and the marts' columns are a contract). var incremental_lookback_hours goes back
    a little further, for loaders whose transaction committed after a build read past its loaded_at.

    Everything is recomputed (as a full refresh would, but in place) when nothing is known of the previous build, when
    a var the models read changed (the gate's thresholds, the time zone: they change rows that no new data touches),
    or when raw.posts or raw.follower_snapshots hold fewer rows than then (history was deleted, as the closed-loop
    evaluation's reset_account does: its rows would otherwise stay behind).
    None of these models reads the clock (var as_of / XBOT_AS_OF): outcomes' age is measured from posting to the
    latest snapshot, not to now. Models that read the clock (generator_performance) stay tables. -#}

{#- Bumped whenever the SQL of an incremental model changes what it stores: stored rows are then recomputed. -#}
{% macro xbot_incremental_logic_version() -%}1{%- endmacro %}

{#- What the stored rows were computed with; any change recomputes every one of them: the vars the models read (not
    as_of: see above) and the SQL of the model and of every model upstream of it (dbt's checksums; a changed model
    gains its new columns through on_schema_change). A changed macro other than these needs --full-refresh. -#}
{% macro xbot_incremental_config_key() -%}
    {%- set seen = [] -%}
    {%- set frontier = [model.unique_id] -%}
    {%- for _ in range(50) -%}
        {%- for node_id in frontier[:] -%}
            {%- do frontier.remove(node_id) -%}
            {%- if node_id not in seen and node_id in graph.nodes -%}
                {%- do seen.append(node_id) -%}
                {%- do frontier.extend(graph.nodes[node_id].depends_on.nodes) -%}
            {%- endif -%}
        {%- endfor -%}
    {%- endfor -%}
    {%- set checksums = [] -%}
    {%- for node_id in seen | sort -%}
        {%- do checksums.append(node_id ~ '=' ~ graph.nodes[node_id].checksum.checksum) -%}
    {%- endfor -%}
    {{- return(tojson({
        'version': xbot_incremental_logic_version() | trim,
        'sql': local_md5(checksums | join(',')),
        'account_timezone': var('account_timezone'),
        'gate_min_age_hours': var('gate_min_age_hours') | float,
        'gate_min_impressions': var('gate_min_impressions') | float,
        'gate_min_likes': var('gate_min_likes') | float,
        'success_er_threshold': var('success_er_threshold') | float,
        'follow_min_followers': var('follow_min_followers') | float,
    }, sort_keys=true)) -}}
{%- endmacro %}

{% macro xbot_raw_counts_sql() -%}
    select
        (select count(*) from {{ source('raw', 'posts') }}) as raw_posts,
        (select count(*) from {{ source('raw', 'follower_snapshots') }}) as raw_follower_snapshots
{%- endmacro %}

{#- What the previous build saw: the table's comment, a JSON document (or none). Kept on the table itself: a state
    table would be one more relation for every reader of the schemas to know of, and creating it once per run (an
    on-run-start hook) would count as a node of every build. -#}
{% macro xbot_read_state() -%}
    {%- set found = run_query(adapter.dispatch('xbot_table_comment_sql', 'xbot')(this)) -%}
    {%- if found.rows | length != 1 or found.rows[0][0] is none or not (found.rows[0][0] | string).startswith('{') -%}
        {{ return(none) }}
    {%- endif -%}
    {{ return(fromjson(found.rows[0][0] | string)) }}
{%- endmacro %}

{% macro default__xbot_table_comment_sql(relation) -%}
    select obj_description(to_regclass('{{ relation.schema }}.{{ relation.identifier }}'), 'pg_class')
{%- endmacro %}

{% macro duckdb__xbot_table_comment_sql(relation) -%}
    select comment from duckdb_tables()
    where database_name = current_database() and schema_name = '{{ relation.schema }}'
        and table_name = '{{ relation.identifier }}'
{%- endmacro %}

{#- The SQL timestamp literal rows loaded after which this build recomputes, or none: recompute everything.
    Read when the model runs (never at parse time), identically by the model's SQL and by its pre-hook. -#}
{% macro xbot_incremental_since(counts=none) -%}
    {%- if not execute or not is_incremental() -%}{{ return(none) }}{%- endif -%}
    {%- set state = xbot_read_state() -%}
    {%- if state is none or state.get('loaded_through') is none -%}{{ return(none) }}{%- endif -%}
    {%- if state.get('config_key') != xbot_incremental_config_key() -%}{{ return(none) }}{%- endif -%}
    {%- set counts = counts if counts is not none else run_query(xbot_raw_counts_sql()).rows[0] -%}
    {%- if counts[0] < state['raw_posts'] or counts[1] < state['raw_follower_snapshots'] -%}
        {{ return(none) }}
    {%- endif -%}
    {%- set hours = var('incremental_lookback_hours') | float -%}
    {{ return("(cast('" ~ state['loaded_through'] ~ "' as timestamp) - " ~ hours ~ " * interval '1 hour')") }}
{%- endmacro %}

{#- The pre-hook of every incremental model: deletes the stored rows (alias `stored`) of the units this build
    recomputes, as xbot_units_of names them. -#}
{% macro xbot_incremental_pre_hook() -%}
    {%- if is_incremental() -%}
        {%- set since = xbot_incremental_since() -%}
        delete from {{ this }} as stored
        {%- if since is not none %}
        where {{ context[xbot_units_of(this.identifier)](since) }}
        {%- endif -%}
    {%- endif -%}
{%- endmacro %}

{#- The post-hook recording what this build saw (rendered when it runs, like every hook). -#}
{% macro xbot_incremental_state_hooks() -%}
    {%- do return(["{{ xbot_save_state() }}"]) -%}
{%- endmacro %}

{% macro xbot_save_state() -%}
    {%- if not execute -%}{{ return('select 1 as not_executing') }}{%- endif -%}
    {%- set seen = run_query("select cast(greatest("
        ~ "(select max(loaded_at) from " ~ source('raw', 'posts') ~ "), "
        ~ "(select max(loaded_at) from " ~ source('raw', 'metric_snapshots') ~ "), "
        ~ "(select max(loaded_at) from " ~ source('raw', 'follower_snapshots') ~ ")) as varchar), "
        ~ "counts.raw_posts, counts.raw_follower_snapshots from (" ~ xbot_raw_counts_sql() ~ ") as counts").rows[0] -%}
    {#- built_since: what this build recomputed from (none: everything), for the data tests that follow it
        (xbot_tests_since). The hook runs before the new comment is written, so it still reads the previous state;
        the raw counts are the ones just read. -#}
    {%- set state = {
        'loaded_through': seen[0],
        'raw_posts': seen[1] | int,
        'raw_follower_snapshots': seen[2] | int,
        'config_key': xbot_incremental_config_key(),
        'built_since': xbot_incremental_since(counts=[seen[1] | int, seen[2] | int]),
        'invocation_id': invocation_id,
    } -%}
    comment on table {{ this }} is '{{ tojson(state) | replace("'", "''") }}'
{%- endmacro %}

{#- First pre-hook: PostgreSQL's JIT compiles plans whose estimated cost is high, and the correlated lookups of the
    incremental filters are estimated high: it spent 1.3 s of a 1.8 s incremental attribution compiling (10^4 posts,
    benchmarks/incremental_scale.py). `set local` ends with the model's transaction. -#}
{% macro xbot_session_settings() -%}
    {{ return(adapter.dispatch('xbot_session_settings', 'xbot')()) }}
{%- endmacro %}

{% macro default__xbot_session_settings() -%}
    set local jit = off
{%- endmacro %}

{#- Nothing to set on DuckDB: an empty hook is no statement (dbt's run_hooks skips it). -#}
{% macro duckdb__xbot_session_settings() -%}
{%- endmacro %}

{#- An index on PostgreSQL (the deletes and lookups by unit); DuckDB scans its columns fast enough without one and
    an ART index would only slow its deletes. Created when the table has no index on these columns, whatever its
    name: also tables built before these models were incremental. Not `create index if not exists <name>`: a full
    refresh swaps a new table in and runs the post-hooks before it drops the old one, whose index still holds the
    name, so the new table was left without its indexes until the next build, whose look-ups by decision then read
    10^6 outcomes whole (27 s each for outcomes and training_set; benchmarks/incremental_scale.py). -#}
{% macro xbot_index(columns) -%}
    {{ return(adapter.dispatch('xbot_index', 'xbot')(columns)) }}
{%- endmacro %}

{% macro default__xbot_index(columns) -%}
    do $$
    begin
        if not exists (
            select 1
            from pg_index as i
            where i.indrelid = to_regclass('{{ this.schema }}.{{ this.identifier }}')
                and (
                    select array_agg(a.attname::text order by k.position)
                    from unnest(i.indkey::int2[]) with ordinality as k(attnum, position)
                    inner join pg_attribute as a on a.attrelid = i.indrelid and a.attnum = k.attnum
                ) = array['{{ columns | join("', '") }}']
        ) then
            create index on {{ this }} ({{ columns | join(', ') }});
        end if;
    end
    $$
{%- endmacro %}

{% macro duckdb__xbot_index(columns) -%}
{%- endmacro %}


{#- ------------------------------------------------------------------------------------------- units to recompute -#}

{#- ref(name), except in a data test: the units also scope the tests (macros/test_scope.sql), and a test may not
    ref a model it did not ref when parsed; there the relation is read off the graph (the same one ref gives). -#}
{% macro xbot_ref(name) -%}
    {%- if model.resource_type != 'test' -%}{{ return(ref(name)) }}{%- endif -%}
    {%- set node = graph.nodes['model.' ~ project_name ~ '.' ~ name] -%}
    {{ return(api.Relation.create(database=node.database, schema=node.schema, identifier=node.alias)) }}
{%- endmacro %}

{#- Decisions with a counter snapshot loaded since `since`. -#}
{% macro xbot_metric_decisions(since) -%}
    select distinct decision_id
    from {{ xbot_ref('stg_metric_snapshots') }}
    where loaded_at > {{ since }}
{%- endmacro %}

{#- Per account, the earliest time new data changes the follower attribution (recompute_from) and the follower
    snapshot at or before it (start_bound; far past when none): every interval ending after recompute_from is
    recomputed, from the snapshots from start_bound on.
    A follower snapshot changes the interval it falls in (it closes or splits it): from the snapshot before it.
    A counter snapshot changes its own span (from the post's previous snapshot, or posting) and the next one's.
    A post (re)loaded changes its first span, from posting. -#}
{% macro xbot_attribution_bounds(since) -%}
    {#- The outer aggregate is over one row per account (a no-op grouping) so that start_bound's look-up runs once
        per account: as a plain column, PostgreSQL pulled it into the join filter of whatever joined the bounds and ran
        it per joined row — the delete of the stored attribution ran it 1.7 M times, 8.9 s of a 14 s build at 10^5
        posts (benchmarks/incremental_scale.py). -#}
    select
        earliest.account_id,
        earliest.recompute_from,
        max(coalesce(
            (select max(f.collected_at) from {{ xbot_ref('stg_follower_snapshots') }} as f
             where f.account_id = earliest.account_id and f.collected_at <= earliest.recompute_from),
            cast('1900-01-01 00:00:00' as timestamp)
        )) as start_bound
    from (
        select changed.account_id, min(changed.changed_from) as recompute_from
        from (
            select
                f.account_id,
                coalesce(
                    (select max(p.collected_at) from {{ xbot_ref('stg_follower_snapshots') }} as p
                     where p.account_id = f.account_id and p.collected_at < f.collected_at),
                    f.collected_at
                ) as changed_from
            from {{ xbot_ref('stg_follower_snapshots') }} as f
            where f.loaded_at > {{ since }}
            union all
            select
                m.account_id,
                coalesce(
                    (select max(p.collected_at) from {{ xbot_ref('stg_metric_snapshots') }} as p
                     where p.decision_id = m.decision_id and p.collected_at < m.collected_at),
                    (select least(min(d.posted_at), m.collected_at) from {{ xbot_ref('stg_posts') }} as d
                     where d.decision_id = m.decision_id),
                    m.collected_at
                ) as changed_from
            from {{ xbot_ref('stg_metric_snapshots') }} as m
            where m.loaded_at > {{ since }}
            union all
            select account_id, posted_at as changed_from
            from {{ xbot_ref('stg_posts') }}
            where loaded_at > {{ since }}
                and posted_at is not null
        ) as changed
        group by changed.account_id
    ) as earliest
    group by earliest.account_id, earliest.recompute_from
{%- endmacro %}

{#- The bounds (xbot_attribution_bounds) as rows (account_id, recompute_from, start_bound), read when the model, hook
    or test renders (none at parse time). The session settings come first, for dbt run by hand (xbot's own runs
    set PGOPTIONS) and a data test has no pre-hook: PostgreSQL's JIT compiles this query (its correlated look-ups
    are estimated high): 1.5 s at 10^6 posts, 1.0 s of it compiling, against 0.4 s without (a build beside it). -#}
{% macro xbot_bound_rows(since) -%}
    {%- if not execute -%}{{ return([]) }}{%- endif -%}
    {%- set settings = xbot_session_settings() | trim -%}
    {%- if settings -%}{%- do run_query(settings) -%}{%- endif -%}
    {{ return(run_query(xbot_attribution_bounds(since)).rows) }}
{%- endmacro %}

{#- Per account of `rows` (xbot_bound_rows), `time_column op` its start_bound, listed one range per account, so that
    PostgreSQL reads the rows by an (account_id, time) index: joined to the bounds (a relation it knows nothing of)
    it read the whole table instead. At 10^6 posts the attribution's snapshots took 36 s that way, 0.7 s listed; the
    stored attribution 1.7 M rows hashed at 10^5 (0.57 s for the delete and each data test; 0.12 s listed)
    (benchmarks/incremental_scale.py --keep, then EXPLAIN ANALYZE). No account to recompute lists no range. -#}
{% macro xbot_bound_ranges(rows, account_column, time_column, op='>=') -%}
    {%- set ranges = [] -%}
    {%- for row in rows -%}
        {%- do ranges.append("(" ~ account_column ~ " = '" ~ (row[0] | string | replace("'", "''")) ~ "' and "
                             ~ time_column ~ " " ~ op ~ " cast('" ~ row[2] ~ "' as timestamp))") -%}
    {%- endfor -%}
    {{ return('(' ~ (ranges | join(' or ') if ranges else '1 = 0') ~ ')') }}
{%- endmacro %}

{#- Stored follower intervals (and their attribution rows) the new data changes: per account, those from its
    start_bound on. -#}
{% macro xbot_affected_intervals(since) -%}
    {{ return(xbot_bound_ranges(xbot_bound_rows(since), 'stored.account_id', 'stored.interval_start')) }}
{%- endmacro %}

{#- `column` is one of the values `subquery` selects. On PostgreSQL `= any(array(subquery))`: the subquery runs once,
    first, and the rows are read by the column's index. As `in (subquery)` the planner guessed the subquery's
    distinct values from the whole table's statistics (45,295 for 1,966 decisions at 10^6 posts) and read the table
    whole: int_latest_metrics 4.1 s, 0.19 s with the array (the same EXPLAIN ANALYZE). -#}
{% macro xbot_in(column, subquery) -%}
    {{ return(adapter.dispatch('xbot_in', 'xbot')(column, subquery)) }}
{%- endmacro %}

{% macro default__xbot_in(column, subquery) -%}
    {{ column }} = any(array({{ subquery }}))
{%- endmacro %}

{% macro duckdb__xbot_in(column, subquery) -%}
    {{ column }} in ({{ subquery }})
{%- endmacro %}

{#- Decisions whose outcome the new data can change: the post itself was (re)loaded, a counter snapshot of it
    arrived, or it was live (a snapshot after start_bound) in a follower interval that is recomputed. -#}
{% macro xbot_outcome_decisions(since) -%}
    select decision_id
    from {{ xbot_ref('stg_posts') }}
    where loaded_at > {{ since }}
    union
    {{ xbot_metric_decisions(since) }}
    union
    select m.decision_id
    from {{ xbot_ref('int_latest_metrics') }} as m
    where {{ xbot_bound_ranges(xbot_bound_rows(since), 'm.account_id', 'm.last_collected_at', '>') }}
{%- endmacro %}

{% macro xbot_affected_metric_decisions(since) -%}
    {{ xbot_in('stored.decision_id', xbot_metric_decisions(since)) }}
{%- endmacro %}

{% macro xbot_affected_outcome_decisions(since) -%}
    {{ xbot_in('stored.decision_id', xbot_outcome_decisions(since)) }}
{%- endmacro %}
