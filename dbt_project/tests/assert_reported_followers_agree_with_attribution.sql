-- The platform's own follows per post against our attribution, per account, inside the closed follower intervals
-- (the only time attribution covers). Over the posts with a reported number (outcomes.followers_reported not null)
-- and the intervals where their reported increase is known (int_follower_attribution.new_follows not null):
--   reported   R = Σ new_follows: the follows the platform credits to these posts, spread over the intervals as
--                  impressions are
--   attributed A = Σ attributed_followers: what attribution credited the same posts in the same intervals
--   organic      = greatest(G - R, 0), G = Σ greatest(gain, 0) over every interval of the account: the part of the
--                  measured gain the platform credits to none of these posts (other posts, search, the profile, ...)
-- and the rows returned are the accounts where |R - A| > organic.
-- Attribution never credits more than G, so A - R <= organic whenever R <= G. What fails: the platform reporting
-- more follows than the account gained (R > G: unfollows, or follows the snapshots do not bracket), or attribution
-- crediting these posts less than R - organic (other live posts took their followers). When every live post reports,
-- no one unfollows and every follow falls in a post's spans, A - R is exactly the organic gain of the intervals the
-- posts were live in.
-- Severity warn: the platform's numbers are a second measurement, not an invariant of ours; a disagreement shows as
-- a warning asset check and never stops a build. The meta ref attaches it to `outcomes` in Dagster.
{{ config(severity='warn', meta={'dagster': {'ref': {'name': 'outcomes'}}}) }}

with reported_posts as (
    select
        account_id,
        decision_id
    from {{ ref('outcomes') }}
    where followers_reported is not null
),

compared as (
    select
        r.account_id,
        sum(a.new_follows) as reported,
        sum(a.attributed_followers) as attributed
    from reported_posts as r
    inner join {{ ref('int_follower_attribution') }} as a
        on r.decision_id = a.decision_id
    where a.new_follows is not null
    group by r.account_id
),

gains as (
    select
        account_id,
        sum(greatest(gain, 0)) as positive_gain
    from {{ ref('int_follower_intervals') }}
    group by account_id
)

select
    c.account_id,
    c.reported,
    c.attributed,
    coalesce(g.positive_gain, 0) as positive_gain,
    greatest(coalesce(g.positive_gain, 0) - c.reported, 0) as organic
from compared as c
left join gains as g
    on c.account_id = g.account_id
where abs(c.reported - c.attributed) > greatest(coalesce(g.positive_gain, 0) - c.reported, 0) + 1e-6
