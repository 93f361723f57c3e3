-- Outcomes that pass the learning gate, with the model features and targets.
-- follow_label: the post won at least var follow_min_followers (1) whole followers (followers_gained: the platform's
-- own number when it reports one, else the attributed one). Attribution spreads every gain over all live posts, so
-- "more than 0" would be true of nearly every post and teach nothing.
-- Incremental as outcomes, over the same decisions: a recomputed one that no longer passes the gate is deleted.
-- The incremental filters read these (macros/incremental.sql) only when the model is built incrementally:
-- depends_on: {{ ref('stg_posts') }}, {{ ref('stg_metric_snapshots') }}, {{ ref('stg_follower_snapshots') }}, {{ ref('int_latest_metrics') }}
{{ config(
    materialized='incremental',
    incremental_strategy='delete+insert',
    on_schema_change='sync_all_columns',
    unique_key='decision_id',
    pre_hook=["{{ xbot_session_settings() }}", "{{ xbot_incremental_pre_hook() }}"],
    post_hook=["{{ xbot_index(['decision_id']) }}"] + xbot_incremental_state_hooks(),
) }}
{%- set since = xbot_incremental_since() %}
select
    account_id,
    decision_id,
    posted_at,
    generator_name,
    decision_type,
    content_type,
    hook,
    topic_arm,
    topic_source,
    posted_hour,
    is_thread,
    quality_score,
    novelty_score,
    expertise_score,
    viral_score,
    impressions,
    age_hours,
    engagement_rate,
    followers_gained,
    followers_reported,
    followers_attributed,
    followers_gained >= {{ var('follow_min_followers') }} as follow_label
from {{ ref('outcomes') }}
where passes_learning_gate
{%- if since is not none %}
    and {{ xbot_in('decision_id', xbot_outcome_decisions(since)) }}
{%- endif %}
