-- One row per decision_id: the counters of its latest snapshot, and when it was first/last collected.
with ranked as (
    select
        account_id,
        decision_id,
        collected_at,
        impressions,
        likes,
        retweets,
        replies,
        quotes,
        bookmarks,
        profile_clicks,
        url_clicks,
        follows,
        row_number() over (partition by decision_id order by collected_at desc) as recency_rank,
        min(collected_at) over (partition by decision_id) as first_collected_at,
        count(*) over (partition by decision_id) as snapshot_count
    from {{ ref('stg_metric_snapshots') }}
)

select
    account_id,
    decision_id,
    impressions,
    likes,
    retweets,
    replies,
    quotes,
    bookmarks,
    profile_clicks,
    url_clicks,
    follows,
    first_collected_at,
    collected_at as last_collected_at,
    cast(snapshot_count as bigint) as snapshot_count
from ranked
where recency_rank = 1
