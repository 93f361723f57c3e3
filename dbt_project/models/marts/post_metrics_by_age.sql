-- One row per (decision_id, collected_at): how old the post was at that collection and its counters then.
-- The engagement model reads it for the development factors that bring a young post's engagement rate to the value
-- it settles at (xbot_assets/learning/label_maturity.py); an analyst reads it for how a post's numbers grow.
-- A view: a training reads one account's rows once, and a table would be rebuilt on every load of snapshots.
{{ config(materialized='view') }}
select
    s.account_id,
    s.decision_id,
    p.posted_at,
    s.collected_at,
    {{ xbot_hours_between('p.posted_at', 's.collected_at') }} as age_hours,
    s.impressions,
    s.likes + s.retweets + s.replies as engagements,
    {{ xbot_engagement_rate('s.likes', 's.retweets', 's.replies', 's.impressions') }} as engagement_rate
from {{ ref('stg_metric_snapshots') }} as s
inner join {{ ref('stg_posts') }} as p
    on s.decision_id = p.decision_id
where p.posted_at is not null
