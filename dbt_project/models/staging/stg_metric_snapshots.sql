-- One row per (decision_id, collected_at): the post's cumulative counters at that moment.
select
    cast(account_id as varchar) as account_id,
    cast(decision_id as varchar) as decision_id,
    cast(tweet_id as varchar) as tweet_id,
    cast(collected_at as timestamp) as collected_at,
    cast(impressions as bigint) as impressions,
    cast(likes as bigint) as likes,
    cast(retweets as bigint) as retweets,
    cast(replies as bigint) as replies,
    cast(quotes as bigint) as quotes,
    cast(bookmarks as bigint) as bookmarks,
    cast(profile_clicks as bigint) as profile_clicks,
    cast(url_clicks as bigint) as url_clicks,
    cast(follows as bigint) as follows,
    cast(source as varchar) as source,
    cast(loaded_at as timestamp) as loaded_at
from {{ source('raw', 'metric_snapshots') }}
