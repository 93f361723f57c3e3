-- One row per posted decision: its features, latest counters, engagement rate, followers and whether it passes the
-- learning gate (and why not).
-- followers_attributed: our estimate (int_follower_attribution: the account's measured gains shared among the live
-- posts). followers_reported: the follows the platform reports for the post itself (its latest snapshot's `follows`,
-- null where it gives none). followers_gained, what everything downstream learns from, is the reported number when
-- there is one, else the attributed one.
-- Incremental (macros/incremental.sql): a build recomputes the decisions new data can change
-- (xbot_outcome_decisions); a change of a gate var recomputes every row. Nothing here reads the clock.
-- The incremental filters read these (macros/incremental.sql) only when the model is built incrementally:
-- depends_on: {{ ref('stg_metric_snapshots') }}, {{ ref('stg_follower_snapshots') }}, {{ ref('int_latest_metrics') }}
{{ config(
    materialized='incremental',
    incremental_strategy='delete+insert',
    on_schema_change='sync_all_columns',
    unique_key='decision_id',
    pre_hook=["{{ xbot_session_settings() }}", "{{ xbot_incremental_pre_hook() }}"],
    post_hook=["{{ xbot_index(['decision_id']) }}"] + xbot_incremental_state_hooks(),
) }}
{%- set since = xbot_incremental_since() %}
{%- set min_age = var('gate_min_age_hours') %}
{%- set min_impressions = var('gate_min_impressions') %}
{%- set min_likes = var('gate_min_likes') %}
{#- '%g' prints 2.0 as 2 and 1.5 as 1.5 in the reasons -#}
{%- set min_age_label = '%g' | format(min_age | float) %}
{%- set min_impressions_label = '%g' | format(min_impressions | float) %}
{%- set min_likes_label = '%g' | format(min_likes | float) %}

with
{%- if since is not none %}
recomputed as (
    {{ xbot_outcome_decisions(since) }}
),
{%- endif %}

posted as (
    select
        account_id,
        decision_id,
        tweet_id,
        posted_at,
        posted_hour,
        decision_type,
        is_thread,
        content_type,
        generator_name,
        topic,
        quality_score,
        novelty_score,
        expertise_score,
        viral_score,
        predicted_er,
        predicted_follow_prob,
        content_propensity,
        timing_propensity,
        generator_propensity,
        hook,
        hook_propensity,
        topic_arm,
        topic_source,
        topic_propensity,
        source
    from {{ ref('stg_posts') }}
    where status = 'posted'
    {%- if since is not none %}
        and {{ xbot_in('decision_id', 'select decision_id from recomputed') }}
    {%- endif %}
),

followers as (
    select
        decision_id,
        sum(attributed_followers) as followers_attributed
    from {{ ref('int_follower_attribution') }}
    {%- if since is not none %}
    where {{ xbot_in('decision_id', 'select decision_id from recomputed') }}
    {%- endif %}
    group by decision_id
),

measured as (
    select
        p.account_id,
        p.decision_id,
        p.tweet_id,
        p.posted_at,
        p.posted_hour,
        p.decision_type,
        p.is_thread,
        p.content_type,
        p.generator_name,
        p.topic,
        p.quality_score,
        p.novelty_score,
        p.expertise_score,
        p.viral_score,
        p.predicted_er,
        p.predicted_follow_prob,
        p.content_propensity,
        p.timing_propensity,
        p.generator_propensity,
        p.hook,
        p.hook_propensity,
        p.topic_arm,
        p.topic_source,
        p.topic_propensity,
        p.source,
        m.impressions,
        m.likes,
        m.retweets,
        m.replies,
        m.quotes,
        m.bookmarks,
        m.profile_clicks,
        m.url_clicks,
        m.last_collected_at,
        cast(coalesce(m.snapshot_count, 0) as bigint) as snapshot_count,
        {{ xbot_engagement_rate('m.likes', 'm.retweets', 'm.replies', 'm.impressions') }} as engagement_rate,
        coalesce(
            cast(m.follows as double precision), f.followers_attributed, cast(0 as double precision)
        ) as followers_gained,
        cast(m.follows as double precision) as followers_reported,
        coalesce(f.followers_attributed, cast(0 as double precision)) as followers_attributed,
        {{ xbot_hours_between('p.posted_at', 'm.last_collected_at') }} as age_hours
    from posted as p
    left join {{ ref('int_latest_metrics') }} as m
        on p.decision_id = m.decision_id
    left join followers as f
        on p.decision_id = f.decision_id
),

gated as (
    select
        account_id,
        decision_id,
        tweet_id,
        posted_at,
        posted_hour,
        decision_type,
        is_thread,
        content_type,
        generator_name,
        topic,
        quality_score,
        novelty_score,
        expertise_score,
        viral_score,
        predicted_er,
        predicted_follow_prob,
        content_propensity,
        timing_propensity,
        generator_propensity,
        hook,
        hook_propensity,
        topic_arm,
        topic_source,
        topic_propensity,
        source,
        impressions,
        likes,
        retweets,
        replies,
        quotes,
        bookmarks,
        profile_clicks,
        url_clicks,
        last_collected_at,
        snapshot_count,
        engagement_rate,
        followers_gained,
        followers_reported,
        followers_attributed,
        {{ xbot_f_per_1k('followers_gained', 'impressions') }} as f_per_1k,
        age_hours,
        case
            when last_collected_at is null then 'no metrics yet'
            when posted_at is null then 'no posted_at'
            when age_hours < {{ min_age }}
                then 'too young: ' || {{ xbot_format_1dp('age_hours') }} || 'h < {{ min_age_label }}h'
            when not (coalesce(impressions >= {{ min_impressions }}, false) or coalesce(likes >= {{ min_likes }}, false))
                then 'too little signal: '
                    || case
                        when impressions is null then 'impressions unknown'
                        else cast(impressions as varchar) || ' impressions < {{ min_impressions_label }}'
                    end
                    || ' and '
                    || coalesce(cast(likes as varchar), 'unknown') || ' likes < {{ min_likes_label }}'
        end as gate_reason
    from measured
)

select
    account_id,
    decision_id,
    tweet_id,
    posted_at,
    posted_hour,
    decision_type,
    is_thread,
    content_type,
    generator_name,
    topic,
    quality_score,
    novelty_score,
    expertise_score,
    viral_score,
    predicted_er,
    predicted_follow_prob,
    content_propensity,
    timing_propensity,
    generator_propensity,
    hook,
    hook_propensity,
    topic_arm,
    topic_source,
    topic_propensity,
    source,
    impressions,
    likes,
    retweets,
    replies,
    quotes,
    bookmarks,
    profile_clicks,
    url_clicks,
    last_collected_at,
    snapshot_count,
    engagement_rate,
    followers_gained,
    followers_reported,
    followers_attributed,
    f_per_1k,
    age_hours,
    gate_reason is null as passes_learning_gate,
    gate_reason,
    engagement_rate > {{ var('success_er_threshold') }} as is_success
from gated
