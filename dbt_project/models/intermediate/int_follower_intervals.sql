-- One row per follower interval (interval_start, interval_end] of an account: the measured gain, how it was split
-- (int_follower_attribution) and what stayed unattributed (losses attribute nothing; nor do intervals nobody was live in),
-- and the follows the platform itself credits to posts in it (reported_follows; null when no post reports follows).
-- Incremental as int_follower_attribution: the intervals ending after the earliest change are recomputed.
-- The incremental filters read these (macros/incremental.sql) only when the model is built incrementally:
-- depends_on: {{ ref('stg_metric_snapshots') }}, {{ ref('stg_posts') }}
{{ config(
    materialized='incremental',
    incremental_strategy='delete+insert',
    on_schema_change='sync_all_columns',
    unique_key=['account_id', 'interval_start'],
    pre_hook=["{{ xbot_session_settings() }}", "{{ xbot_incremental_pre_hook() }}"],
    post_hook=["{{ xbot_index(['account_id', 'interval_start']) }}"] + xbot_incremental_state_hooks(),
) }}
{%- set since = xbot_incremental_since() %}
{%- if since is not none %}
{%- set bound_rows = xbot_bound_rows(since) %}
{%- endif %}

with
{%- if since is not none %}
follower_snapshots as (
    select f.account_id, f.collected_at, f.followers
    from {{ ref('stg_follower_snapshots') }} as f
    where {{ xbot_bound_ranges(bound_rows, 'f.account_id', 'f.collected_at') }}
),
{%- else %}
follower_snapshots as (
    select account_id, collected_at, followers
    from {{ ref('stg_follower_snapshots') }}
),
{%- endif %}

intervals as (
    {{ xbot_follower_intervals('follower_snapshots') }}
),

attributed as (
    select
        account_id,
        interval_start,
        max(weight_basis) as weight_basis,
        max(total_weight) as total_weight,
        sum(case when weight > 0 then 1 else 0 end) as attributed_posts,
        sum(attributed_followers) as attributed_followers,
        sum(new_follows) as reported_follows
    from {{ ref('int_follower_attribution') }} as r
    {%- if since is not none %}
    where {{ xbot_bound_ranges(bound_rows, 'r.account_id', 'r.interval_start') }}
    {%- endif %}
    group by account_id, interval_start
)

select
    i.account_id,
    i.interval_start,
    i.interval_end,
    i.followers_start,
    i.followers_end,
    i.gain,
    coalesce(a.total_weight, cast(0 as double precision)) as total_weight,
    coalesce(a.weight_basis, 'impressions') as weight_basis,
    cast(coalesce(a.attributed_posts, 0) as bigint) as attributed_posts,
    coalesce(a.attributed_followers, cast(0 as double precision)) as attributed_followers,
    greatest(i.gain, 0) - coalesce(a.attributed_followers, cast(0 as double precision)) as unattributed_followers,
    cast(a.reported_follows as double precision) as reported_follows
from intervals as i
left join attributed as a
    on i.account_id = a.account_id
    and i.interval_start = a.interval_start
