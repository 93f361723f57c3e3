-- Per account, the followers attributed to posts in `outcomes` never exceed the account's measured positive gains,
-- recomputed here straight from raw.follower_snapshots (independent of the intermediate models). (followers_gained
-- may exceed them: where the platform reports a post's follows, that lifetime number replaces the estimate.)
-- The meta ref attaches this test to `outcomes` in Dagster even though it also reads a source.
{{ config(meta={'dagster': {'ref': {'name': 'outcomes'}}}) }}

with positive_gains as (
    select
        account_id,
        sum(greatest(gain, 0)) as positive_gain
    from ({{ xbot_follower_intervals(source('raw', 'follower_snapshots')) }}) as intervals
    group by account_id
),

credited as (
    select
        account_id,
        sum(followers_attributed) as followers_attributed
    from {{ ref('outcomes') }}
    group by account_id
)

select
    c.account_id,
    c.followers_attributed,
    coalesce(g.positive_gain, 0) as positive_gain
from credited as c
left join positive_gains as g
    on c.account_id = g.account_id
where c.followers_attributed > coalesce(g.positive_gain, 0) + 1e-6
