-- Other accounts' high-performing posts (prompt inspiration only; never joined into training data).
select
    cast(example_id as varchar) as example_id,
    cast(account_id as varchar) as account_id,
    cast(author_handle as varchar) as author_handle,
    content,
    cast(impressions as bigint) as impressions,
    cast(likes as bigint) as likes,
    cast(retweets as bigint) as retweets,
    cast(replies as bigint) as replies,
    {{ xbot_engagement_rate('likes', 'retweets', 'replies', 'impressions') }} as engagement_rate,
    cast(topic as varchar) as topic,
    cast(collected_at as timestamp) as collected_at,
    cast(source as varchar) as source,
    cast(loaded_at as timestamp) as loaded_at
from {{ source('raw', 'viral_examples') }}
