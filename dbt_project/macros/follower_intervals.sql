{#- Consecutive follower snapshots of an account as intervals (interval_start, interval_end] with
    gain = followers_end - followers_start. `relation` has account_id, collected_at, followers. -#}
{% macro xbot_follower_intervals(relation) -%}
    select
        account_id,
        interval_start,
        interval_end,
        followers_start,
        followers_end,
        followers_end - followers_start as gain
    from (
        select
            account_id,
            collected_at as interval_start,
            followers as followers_start,
            lead(collected_at) over (partition by account_id order by collected_at) as interval_end,
            lead(followers) over (partition by account_id order by collected_at) as followers_end
        from {{ relation }}
    ) as consecutive_snapshots
    where interval_end is not null
{%- endmacro %}
