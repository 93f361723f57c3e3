"""The planning/publishing lock: bound to its holder (a PostgreSQL session, a DuckDB-side flock), one per name."""

from datetime import timedelta

import pytest

from xbot_assets.acting.lock import LockBusy, exclusive, lock_states, wall_now
from xbot_assets.warehouse.connection import Warehouse


def test_a_held_lock_refuses_a_second_holder_until_released(warehouse_url):
    wh = Warehouse.from_url(warehouse_url)
    wh.migrate()
    with exclusive("plan:acct", warehouse=wh):
        with pytest.raises(LockBusy, match=r"'plan:acct' is held by pid \d+ on "):
            with exclusive("plan:acct", warehouse=wh):
                pass
        with exclusive("plan:other", warehouse=wh):
            pass  # another account's lock is independent
        states = {s.name: s for s in lock_states(wh)}
        assert set(states) == {"plan:acct"} and states["plan:acct"].held
        assert timedelta(0) <= states["plan:acct"].age(wall_now()) < timedelta(minutes=5)
    assert lock_states(wh) == []  # released on exit, record and lock
    with exclusive("plan:acct", warehouse=wh):
        pass


def test_a_record_left_without_its_lock_is_reported_free_and_replaced(warehouse_url):
    """An act.locks row whose holder is gone (the lock ended with it) blocks nobody."""
    wh = Warehouse.from_url(warehouse_url)
    wh.migrate()
    long_ago = wall_now() - timedelta(hours=3)
    with wh.connect() as conn:
        conn.execute("insert into act.locks (lock_name, owner, acquired_at, expires_at) values (?, ?, ?, ?)",
                     ["publish:acct", "worker-7:4242:deadbeef", long_ago, long_ago])
    [state] = lock_states(wh)
    assert (state.name, state.host, state.pid, state.held) == ("publish:acct", "worker-7", 4242, False)
    with exclusive("publish:acct", warehouse=wh):
        [state] = lock_states(wh)
        assert state.held and state.host != "worker-7"
    assert lock_states(wh) == []
