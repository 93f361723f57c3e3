-- Bandit arm statistics per account over all gated outcomes with a known engagement rate (the reward):
-- content arms 'content_<content_type>' (success = engagement_rate > success_er_threshold) and
-- timing arms 'timing_<posted_hour>' (hour in var account_timezone; reward = engagement_rate).
{%- set threshold = var('success_er_threshold') %}

with rewarded as (
    select
        account_id,
        content_type,
        posted_hour,
        posted_at,
        engagement_rate
    from {{ ref('outcomes') }}
    where passes_learning_gate
        and engagement_rate is not null
),

plays as (
    select
        account_id,
        'content_' || content_type as arm_name,
        'content' as scope,
        posted_at,
        engagement_rate
    from rewarded
    where content_type is not null
    union all
    select
        account_id,
        'timing_' || cast(posted_hour as varchar) as arm_name,
        'timing' as scope,
        posted_at,
        engagement_rate
    from rewarded
    where posted_hour is not null
)

select
    account_id,
    arm_name,
    scope,
    cast(count(*) as bigint) as plays,
    cast(sum(case when engagement_rate > {{ threshold }} then 1 else 0 end) as bigint) as successes,
    cast(sum(case when engagement_rate > {{ threshold }} then 0 else 1 end) as bigint) as failures,
    cast(avg(engagement_rate) as double precision) as mean_reward,
    max(posted_at) as last_posted_at
from plays
group by account_id, arm_name, scope
