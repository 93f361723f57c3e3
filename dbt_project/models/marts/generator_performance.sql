-- One row per (account_id, generator_name, time_window) for every generator an account has posted with:
-- time_window '<learning_window_days>d' = posted_at in (as_of - N days, as_of], and 'all_time' = posted_at <= as_of.
-- Performance is measured over gated outcomes (passes_learning_gate); posted_posts counts every posted decision.
-- Generators are those the account posted with up to as_of; a window without posts gives a 'no_data' row.
{%- set window_days = var('learning_window_days') %}
{%- set window_label = (window_days | string) ~ 'd' %}

with bounds as (
    select
        {{ xbot_as_of() }} as window_end
),

windows as (
    select
        '{{ window_label }}' as time_window,
        window_end - {{ window_days }} * interval '1 day' as window_start,
        window_end
    from bounds
    union all
    select
        'all_time' as time_window,
        cast(null as timestamp) as window_start,
        window_end
    from bounds
),

posted as (
    select
        account_id,
        coalesce(generator_name, 'unknown') as generator_name,
        posted_at,
        passes_learning_gate,
        impressions,
        followers_gained,
        engagement_rate,
        f_per_1k
    from {{ ref('outcomes') }}
    -- Replies answer other people's posts: they say nothing about a generator's own posts (the original counted them).
    where posted_at <= {{ xbot_as_of() }}
        and decision_type <> 'reply'
),

generators as (
    select distinct
        account_id,
        generator_name
    from posted
),

in_window as (
    select
        w.time_window,
        p.account_id,
        p.generator_name,
        p.passes_learning_gate,
        p.impressions,
        p.followers_gained,
        p.engagement_rate,
        p.f_per_1k
    from posted as p
    inner join windows as w
        on p.posted_at <= w.window_end
        and (w.window_start is null or p.posted_at > w.window_start)
),

aggregated as (
    select
        account_id,
        generator_name,
        time_window,
        count(*) as posted_posts,
        sum(case when passes_learning_gate then 1 else 0 end) as posts,
        sum(case when passes_learning_gate then coalesce(impressions, 0) else 0 end) as impressions,
        sum(case when passes_learning_gate then followers_gained else 0 end) as followers_gained,
        avg(case when passes_learning_gate then engagement_rate end) as mean_engagement_rate,
        sum(case when passes_learning_gate and f_per_1k > 5 then 1 else 0 end) as viral_posts,
        sum(case when passes_learning_gate and followers_gained = 0 then 1 else 0 end) as failed_posts
    from in_window
    group by account_id, generator_name, time_window
),

filled as (
    select
        g.account_id,
        g.generator_name,
        w.time_window,
        w.window_start,
        w.window_end,
        cast(coalesce(a.posts, 0) as bigint) as posts,
        cast(coalesce(a.impressions, 0) as bigint) as impressions,
        cast(coalesce(a.followers_gained, 0) as double precision) as followers_gained,
        cast(a.mean_engagement_rate as double precision) as mean_engagement_rate,
        cast(coalesce(a.viral_posts, 0) as bigint) as viral_posts,
        cast(coalesce(a.failed_posts, 0) as bigint) as failed_posts,
        cast(coalesce(a.posted_posts, 0) as bigint) as posted_posts
    from generators as g
    cross join windows as w
    left join aggregated as a
        on g.account_id = a.account_id
        and g.generator_name = a.generator_name
        and w.time_window = a.time_window
)

select
    account_id,
    generator_name,
    time_window,
    window_start,
    window_end,
    posts,
    impressions,
    followers_gained,
    {{ xbot_f_per_1k('followers_gained', 'impressions') }} as f_per_1k,
    mean_engagement_rate,
    viral_posts,
    failed_posts,
    {{ xbot_generator_tier(xbot_f_per_1k('followers_gained', 'impressions'), 'posts', 'impressions') }} as tier,
    posted_posts,
    posted_posts - posts as gated_out_posts
from filled
