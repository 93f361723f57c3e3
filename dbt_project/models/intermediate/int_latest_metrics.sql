-- One row per decision_id: the counters of its latest snapshot, and when it was first/last collected.
-- Incremental (macros/incremental.sql): a build recomputes the decisions with a snapshot loaded since the last one.
{{ config(
    materialized='incremental',
    incremental_strategy='delete+insert',
    on_schema_change='sync_all_columns',
    unique_key='decision_id',
    pre_hook=["{{ xbot_session_settings() }}", "{{ xbot_incremental_pre_hook() }}"],
    post_hook=["{{ xbot_index(['decision_id']) }}", "{{ xbot_index(['account_id', 'last_collected_at']) }}"]
        + xbot_incremental_state_hooks(),
) }}
{%- set since = xbot_incremental_since() %}

with ranked as (
    select
        account_id,
        decision_id,
        collected_at,
        impressions,
        likes,
        retweets,
        replies,
        quotes,
        bookmarks,
        profile_clicks,
        url_clicks,
        follows,
        row_number() over (partition by decision_id order by collected_at desc) as recency_rank,
        min(collected_at) over (partition by decision_id) as first_collected_at,
        count(*) over (partition by decision_id) as snapshot_count
    from {{ ref('stg_metric_snapshots') }}
    {%- if since is not none %}
    where {{ xbot_in('decision_id', xbot_metric_decisions(since)) }}
    {%- endif %}
)

select
    account_id,
    decision_id,
    impressions,
    likes,
    retweets,
    replies,
    quotes,
    bookmarks,
    profile_clicks,
    url_clicks,
    follows,
    first_collected_at,
    collected_at as last_collected_at,
    cast(snapshot_count as bigint) as snapshot_count
from ranked
where recency_rank = 1
