-- Follower attribution: one row per (decision_id, follower interval) where the post had positive weight or reported
-- follows.
--
-- Consecutive follower snapshots of an account form intervals (interval_start, interval_end] with gain = f1 - f0.
-- A post's counters are read at a few ages only (1 h, 2 h, 6 h, …) while followers are read every half hour, so each
-- increase of a counter is spread evenly over the time since the post's previous snapshot (the first one: since
-- posting) and each follower interval gets the share that overlaps it. Without this, every interval that holds no
-- metric snapshot would look as if no post had been seen in it, and its followers would go unattributed.
-- (Every snapshot has its post in raw.posts: the loader quarantines snapshots of unknown posts.)
-- Increases outside every closed interval are not attributed. An increase is unknown when the counter or the previous
-- snapshot's counter is null; an unknown impressions increase weighs 0, an unknown profile-clicks increase makes the
-- post's clicks in that interval unknown.
-- Weight basis of an interval: profile clicks when every post in it has known clicks and they total > 0, else
-- impressions. attributed_followers = greatest(gain, 0) * weight / total_weight, so an interval's attributions sum to
-- its gain when it is positive and someone had weight, and to 0 otherwise: no follower is counted twice.
-- new_follows: the follows the platform reports for the post itself (raw.metric_snapshots.follows, cumulative), its
-- increases spread over the same spans and shares as impressions; null when an increase in the interval is unknown.
-- It weighs nothing here: the reported/attributed comparison (tests/assert_reported_followers_agree_with_attribution)
-- reads it inside the same closed intervals the attribution uses.
--
-- Incremental (macros/incremental.sql): per account, every interval ending after the earliest time new data changes
-- (xbot_attribution_bounds) is recomputed from the follower snapshots from start_bound on and the snapshots of the
-- posts live after it; the rest is kept. unique_key is that unit, (account_id, interval_start), not the row.
-- The incremental filters read these (macros/incremental.sql) only when the model is built incrementally:
-- depends_on: {{ ref('stg_follower_snapshots') }}, {{ ref('stg_metric_snapshots') }}, {{ ref('stg_posts') }}
{{ config(
    materialized='incremental',
    incremental_strategy='delete+insert',
    on_schema_change='sync_all_columns',
    unique_key=['account_id', 'interval_start'],
    pre_hook=["{{ xbot_session_settings() }}", "{{ xbot_incremental_pre_hook() }}"],
    post_hook=["{{ xbot_index(['account_id', 'interval_start']) }}", "{{ xbot_index(['decision_id']) }}"]
        + xbot_incremental_state_hooks(),
) }}
{%- set since = xbot_incremental_since() %}
{%- if since is not none %}
{%- set bound_rows = xbot_bound_rows(since) %}
{%- set live_decisions = 'select live.decision_id from ' ~ ref('stg_metric_snapshots') ~ ' as live where '
    ~ xbot_bound_ranges(bound_rows, 'live.account_id', 'live.collected_at', '>') %}
{%- endif %}

with
{%- if since is not none %}
follower_snapshots as (
    select f.account_id, f.collected_at, f.followers
    from {{ ref('stg_follower_snapshots') }} as f
    where {{ xbot_bound_ranges(bound_rows, 'f.account_id', 'f.collected_at') }}
),

metric_snapshots as (
    select m.account_id, m.decision_id, m.collected_at, m.impressions, m.profile_clicks, m.follows
    from {{ ref('stg_metric_snapshots') }} as m
    where {{ xbot_in('m.decision_id', live_decisions) }}
),
{%- else %}
follower_snapshots as (
    select account_id, collected_at, followers
    from {{ ref('stg_follower_snapshots') }}
),

metric_snapshots as (
    select account_id, decision_id, collected_at, impressions, profile_clicks, follows
    from {{ ref('stg_metric_snapshots') }}
),
{%- endif %}

intervals as (
    {{ xbot_follower_intervals('follower_snapshots') }}
),

snapshots_with_previous as (
    select
        m.account_id,
        m.decision_id,
        m.collected_at,
        p.posted_at,
        m.impressions,
        m.profile_clicks,
        m.follows,
        lag(m.collected_at) over (partition by m.decision_id order by m.collected_at) as previous_collected_at,
        lag(m.impressions) over (partition by m.decision_id order by m.collected_at) as previous_impressions,
        lag(m.profile_clicks) over (partition by m.decision_id order by m.collected_at) as previous_profile_clicks,
        lag(m.follows) over (partition by m.decision_id order by m.collected_at) as previous_follows
    from metric_snapshots as m
    inner join {{ ref('stg_posts') }} as p
        on m.decision_id = p.decision_id
),

snapshot_increases as (
    select
        account_id,
        decision_id,
        coalesce(previous_collected_at, least(posted_at, collected_at)) as span_start,
        collected_at as span_end,
        case
            when impressions is not null and (previous_collected_at is null or previous_impressions is not null)
                then greatest(impressions - coalesce(previous_impressions, 0), 0)
        end as impressions_increase,
        case
            when profile_clicks is not null and (previous_collected_at is null or previous_profile_clicks is not null)
                then greatest(profile_clicks - coalesce(previous_profile_clicks, 0), 0)
        end as profile_clicks_increase,
        case
            when follows is not null and (previous_collected_at is null or previous_follows is not null)
                then greatest(follows - coalesce(previous_follows, 0), 0)
        end as follows_increase
    from snapshots_with_previous
),

-- Spans and intervals meet on the UTC days they cover; each (span, interval) pair is kept on one day only, the one
-- its overlap starts in.
span_days as (
    select
        account_id,
        decision_id,
        span_start,
        span_end,
        impressions_increase,
        profile_clicks_increase,
        follows_increase,
        {{ xbot_day_series(xbot_epoch_day('span_start'), xbot_epoch_day('greatest(span_start, span_end)')) }} as day
    from snapshot_increases
),

interval_days as (
    select
        account_id,
        interval_start,
        interval_end,
        gain,
        {{ xbot_day_series(xbot_epoch_day('interval_start'), xbot_epoch_day('interval_end')) }} as day
    from intervals
),

span_overlaps as (
    select
        i.account_id,
        s.decision_id,
        i.interval_start,
        i.interval_end,
        i.gain,
        s.impressions_increase,
        s.profile_clicks_increase,
        s.follows_increase,
        case
            -- a snapshot taken at the moment of posting has no span: it falls in the interval that holds it
            when s.span_end <= s.span_start then cast(1 as double precision)
            else {{ xbot_hours_between('greatest(s.span_start, i.interval_start)', 'least(s.span_end, i.interval_end)') }}
                / {{ xbot_hours_between('s.span_start', 's.span_end') }}
        end as share
    from span_days as s
    inner join interval_days as i
        on s.account_id = i.account_id
        and s.day = i.day
        and s.day = {{ xbot_epoch_day('greatest(s.span_start, i.interval_start)') }}
        and (
            (s.span_end > s.span_start and s.span_start < i.interval_end and s.span_end > i.interval_start)
            or (s.span_end <= s.span_start and s.span_end > i.interval_start and s.span_end <= i.interval_end)
        )
),

post_interval_activity as (
    select
        account_id,
        decision_id,
        interval_start,
        interval_end,
        gain,
        sum(coalesce(impressions_increase, 0) * share) as new_impressions,
        case
            when count(profile_clicks_increase) = count(*) then sum(profile_clicks_increase * share)
        end as new_profile_clicks,
        case
            when count(follows_increase) = count(*) then sum(follows_increase * share)
        end as new_follows
    from span_overlaps
    where share > 0
    group by account_id, decision_id, interval_start, interval_end, gain
),

interval_basis as (
    select
        account_id,
        interval_start,
        case
            when count(new_profile_clicks) = count(*) and sum(new_profile_clicks) > 0 then 'profile_clicks'
            else 'impressions'
        end as weight_basis
    from post_interval_activity
    group by account_id, interval_start
),

weighted as (
    select
        a.account_id,
        a.decision_id,
        a.interval_start,
        a.interval_end,
        a.gain,
        b.weight_basis,
        a.new_impressions,
        a.new_profile_clicks,
        a.new_follows,
        cast(
            case when b.weight_basis = 'profile_clicks' then a.new_profile_clicks else a.new_impressions end
            as double precision
        ) as weight
    from post_interval_activity as a
    inner join interval_basis as b
        on a.account_id = b.account_id
        and a.interval_start = b.interval_start
),

with_totals as (
    select
        account_id,
        decision_id,
        interval_start,
        interval_end,
        gain,
        weight_basis,
        new_impressions,
        new_profile_clicks,
        new_follows,
        weight,
        sum(weight) over (partition by account_id, interval_start) as total_weight
    from weighted
)

select
    account_id,
    decision_id,
    interval_start,
    interval_end,
    gain,
    weight_basis,
    new_impressions,
    new_profile_clicks,
    new_follows,
    weight,
    total_weight,
    case
        when gain > 0 and total_weight > 0 then cast(gain as double precision) * weight / total_weight
        else cast(0 as double precision)
    end as attributed_followers
from with_totals
where weight > 0 or new_follows > 0
