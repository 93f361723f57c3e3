-- One row per (account_id, generator_name, time_window) for every generator an account has posted with:
-- time_window '<learning_window_days>d' = posted_at in (as_of - N days, as_of], and 'all_time' = posted_at <= as_of.
-- Performance is measured over gated outcomes (passes_learning_gate); posted_posts counts every posted decision.
-- Generators are those the account posted with up to as_of; a window without posts gives a 'no_data' row.
{%- set window_days = var('learning_window_days') %}
{%- set window_label = (window_days | string) ~ 'd' %}
{%- set window_start = '(' ~ xbot_as_of() ~ ' - ' ~ window_days ~ " * interval '1 day')" %}
{#- One pass over the outcomes with one group per generator, each window's figures summed under its condition: joined
    to the windows and grouped by window, the outcomes of 10^6 posts were sorted on disk (3.4-3.8 s;
    benchmarks/incremental_scale.py, then EXPLAIN ANALYZE). -#}
{%- set windows = [
    (window_label, 'posted_at > ' ~ window_start, window_start),
    ('all_time', '1 = 1', 'cast(null as timestamp)'),
] %}

with posted as (
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

-- Every generator the account posted with, with its figures per window (a window without posts: zeros).
aggregated as (
    select
        account_id,
        generator_name
        {%- for label, within, start in windows %}
        {%- set w = 'w' ~ loop.index %}
        {%- set gated = within ~ ' and passes_learning_gate' %},
        sum(case when {{ within }} then 1 else 0 end) as {{ w }}_posted_posts,
        sum(case when {{ gated }} then 1 else 0 end) as {{ w }}_posts,
        sum(case when {{ gated }} then coalesce(impressions, 0) else 0 end) as {{ w }}_impressions,
        sum(case when {{ gated }} then followers_gained else 0 end) as {{ w }}_followers_gained,
        avg(case when {{ gated }} then engagement_rate end) as {{ w }}_mean_engagement_rate,
        sum(case when {{ gated }} and f_per_1k > 5 then 1 else 0 end) as {{ w }}_viral_posts,
        sum(case when {{ gated }} and followers_gained = 0 then 1 else 0 end) as {{ w }}_failed_posts
        {%- endfor %}
    from posted
    group by account_id, generator_name
),

filled as (
    {%- for label, within, start in windows %}
    {%- set w = 'w' ~ loop.index %}
    select
        account_id,
        generator_name,
        '{{ label }}' as time_window,
        {{ start }} as window_start,
        {{ xbot_as_of() }} as window_end,
        cast(coalesce({{ w }}_posts, 0) as bigint) as posts,
        cast(coalesce({{ w }}_impressions, 0) as bigint) as impressions,
        cast(coalesce({{ w }}_followers_gained, 0) as double precision) as followers_gained,
        cast({{ w }}_mean_engagement_rate as double precision) as mean_engagement_rate,
        cast(coalesce({{ w }}_viral_posts, 0) as bigint) as viral_posts,
        cast(coalesce({{ w }}_failed_posts, 0) as bigint) as failed_posts,
        cast(coalesce({{ w }}_posted_posts, 0) as bigint) as posted_posts
    from aggregated
    {%- if not loop.last %}
    union all
    {%- endif %}
    {%- endfor %}
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
