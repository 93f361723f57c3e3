-- Per account and posting hour (var account_timezone), over gated outcomes, all time.
select
    account_id,
    posted_hour,
    cast(count(*) as bigint) as posts,
    cast(sum(coalesce(impressions, 0)) as bigint) as impressions,
    cast(avg(engagement_rate) as double precision) as mean_engagement_rate,
    cast(sum(followers_gained) as double precision) as followers_gained,
    {{ xbot_f_per_1k('sum(followers_gained)', 'sum(coalesce(impressions, 0))') }} as f_per_1k
from {{ ref('outcomes') }}
where passes_learning_gate
    and posted_hour is not null
group by account_id, posted_hour
