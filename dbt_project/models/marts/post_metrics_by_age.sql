-- One row per (decision_id, collected_at): how old the post was at that collection and its counters then.
-- The engagement model reads it for the development factors that bring a young post's engagement rate to the value
-- it settles at (xbot_assets/learning/label_maturity.py); an analyst reads it for how a post's numbers grow.
-- A view (a training reads one account's rows once; a table would be rebuilt on every load of snapshots), and so it
-- reads the raw tables, as the staging views do: on PostgreSQL dbt drops a replaced relation with CASCADE, which
-- would take a view over another model with it (tests/test_dbt_models.py).
{{ config(materialized='view') }}
select
    cast(s.account_id as varchar) as account_id,
    cast(s.decision_id as varchar) as decision_id,
    cast(p.posted_at as timestamp) as posted_at,
    cast(s.collected_at as timestamp) as collected_at,
    {{ xbot_hours_between('cast(p.posted_at as timestamp)', 'cast(s.collected_at as timestamp)') }} as age_hours,
    cast(s.impressions as bigint) as impressions,
    cast(s.likes + s.retweets + s.replies as bigint) as engagements,
    {{ xbot_engagement_rate('s.likes', 's.retweets', 's.replies', 's.impressions') }} as engagement_rate
from {{ source('raw', 'metric_snapshots') }} as s
inner join {{ source('raw', 'posts') }} as p
    on s.decision_id = p.decision_id
where p.posted_at is not null
