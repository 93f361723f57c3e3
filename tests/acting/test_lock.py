"""The planning/publishing lock: Redis when configured, the warehouse otherwise."""

import pytest
from conftest import REDIS_URL

from xbot_assets.acting.lock import LockBusy, exclusive
from xbot_assets.warehouse.connection import Warehouse


@pytest.mark.parametrize("use_redis", [False, True])
def test_a_held_lock_refuses_a_second_holder_until_released(warehouse_url, use_redis):
    wh = Warehouse.from_url(warehouse_url)
    wh.migrate()
    redis_url = REDIS_URL if use_redis else None
    with exclusive("plan:acct", warehouse=wh, redis_url=redis_url, key_prefix="test:"):
        with pytest.raises(LockBusy, match="plan:acct"):
            with exclusive("plan:acct", warehouse=wh, redis_url=redis_url, key_prefix="test:"):
                pass
        with exclusive("plan:other", warehouse=wh, redis_url=redis_url, key_prefix="test:"):
            pass  # another account's lock is independent
    with exclusive("plan:acct", warehouse=wh, redis_url=redis_url, key_prefix="test:"):
        pass  # released on exit, even though the inner attempt failed


def test_an_expired_warehouse_lock_is_taken_over(duckdb_url):
    wh = Warehouse.from_url(duckdb_url)
    wh.migrate()
    with exclusive("publish:acct", warehouse=wh, ttl_seconds=-1):
        # The first holder "died" (its lock is already past expiry): a new holder may proceed.
        with exclusive("publish:acct", warehouse=wh):
            pass
