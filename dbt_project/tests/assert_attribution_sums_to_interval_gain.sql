-- Conservation, per interval, from the attribution rows themselves: the followers attributed to posts never exceed
-- the interval's positive gain, and equal it when the gain is positive and some post had weight.
select
    account_id,
    interval_start,
    max(gain) as gain,
    max(total_weight) as total_weight,
    sum(attributed_followers) as attributed_followers
from {{ get_where_subquery(ref('int_follower_attribution')) }}
group by account_id, interval_start
having sum(attributed_followers) > greatest(max(gain), 0) + 1e-9
    or (max(total_weight) > 0 and max(gain) > 0 and abs(sum(attributed_followers) - max(gain)) >= 1e-6)
