-- One row per (account_id, collected_at): the account's follower count at that moment.
select
    cast(account_id as varchar) as account_id,
    cast(collected_at as timestamp) as collected_at,
    cast(followers as bigint) as followers,
    cast(source as varchar) as source,
    cast(loaded_at as timestamp) as loaded_at
from {{ source('raw', 'follower_snapshots') }}
