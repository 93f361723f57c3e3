-- Conservation, per interval: attributed ≤ greatest(gain, 0); = gain over closed intervals with a positive gain and
-- weight; unattributed never negative.
select
    account_id,
    interval_start,
    gain,
    total_weight,
    attributed_followers,
    unattributed_followers
from {{ get_where_subquery(ref('int_follower_intervals')) }}
where attributed_followers > greatest(gain, 0) + 1e-9
    or (total_weight > 0 and gain > 0 and abs(attributed_followers - gain) >= 1e-6)
    or unattributed_followers < -1e-9
