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

{#- One pass, a grouping set per scope (an arm is a content type or a posting hour): naming each of the 2 M plays and
    grouping by the name took 2.15 s at 10^6 posts, 1.2 s this way (benchmarks/incremental_scale.py, then EXPLAIN
    ANALYZE). A play with no content type (or hour) forms a group of its own, left out. -#}
arms as (
    select
        account_id,
        content_type,
        posted_hour,
        grouping(content_type) as by_hour,
        cast(count(*) as bigint) as plays,
        cast(sum(case when engagement_rate > {{ threshold }} then 1 else 0 end) as bigint) as successes,
        cast(sum(case when engagement_rate > {{ threshold }} then 0 else 1 end) as bigint) as failures,
        cast(avg(engagement_rate) as double precision) as mean_reward,
        max(posted_at) as last_posted_at
    from rewarded
    group by grouping sets ((account_id, content_type), (account_id, posted_hour))
)

select
    account_id,
    case
        when by_hour = 1 then 'timing_' || cast(posted_hour as varchar)
        else 'content_' || content_type
    end as arm_name,
    case when by_hour = 1 then 'timing' else 'content' end as scope,
    plays,
    successes,
    failures,
    mean_reward,
    last_posted_at
from arms
where (by_hour = 1 and posted_hour is not null) or (by_hour = 0 and content_type is not null)
