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

{#- Grouped by the arm's column, named after: naming each of the 2 M plays first (a string per row) and grouping by
    the name cost 2.3 s at 10^6 posts, 3.5 with the build around it (benchmarks/incremental_scale.py). -#}
{%- set aggregates %}
        cast(count(*) as bigint) as plays,
        cast(sum(case when engagement_rate > {{ threshold }} then 1 else 0 end) as bigint) as successes,
        cast(sum(case when engagement_rate > {{ threshold }} then 0 else 1 end) as bigint) as failures,
        cast(avg(engagement_rate) as double precision) as mean_reward,
        max(posted_at) as last_posted_at
{%- endset %}

content_arms as (
    select
        account_id,
        content_type,
        {{ aggregates }}
    from rewarded
    where content_type is not null
    group by account_id, content_type
),

timing_arms as (
    select
        account_id,
        posted_hour,
        {{ aggregates }}
    from rewarded
    where posted_hour is not null
    group by account_id, posted_hour
)

select
    account_id,
    'content_' || content_type as arm_name,
    'content' as scope,
    plays,
    successes,
    failures,
    mean_reward,
    last_posted_at
from content_arms
union all
select
    account_id,
    'timing_' || cast(posted_hour as varchar) as arm_name,
    'timing' as scope,
    plays,
    successes,
    failures,
    mean_reward,
    last_posted_at
from timing_arms
