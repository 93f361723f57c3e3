"""The lock that keeps two planners (or two publishers) of one account from acting at once.

Redis when configured (SET NX PX with a random token, released only by its holder through a compare-and-delete
script), the warehouse otherwise (a row in act.locks, inserted with ON CONFLICT DO NOTHING and owned by a token).
A holder that died leaves a lock that expires after `ttl_seconds` of wall time: simulated time may jump by days,
so expiry never reads the simulated clock.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

from xbot_assets.warehouse.connection import Warehouse

_RELEASE = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end"


class LockBusy(RuntimeError):
    """Another holder has the lock: the caller must not act now."""


def _wall_now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


@contextmanager
def exclusive(
    name: str, *, warehouse: Warehouse, redis_url: str | None = None, ttl_seconds: float = 600.0,
    key_prefix: str = "",
) -> Iterator[str]:
    """Hold lock `name` for the block (yields the holder's token); raise LockBusy at once if someone else holds it."""
    token = uuid.uuid4().hex
    if redis_url:
        import redis

        client = redis.Redis.from_url(redis_url)
        key = f"{key_prefix}lock:{name}"
        try:
            if not client.set(key, token, nx=True, px=int(ttl_seconds * 1000)):
                raise LockBusy(f"lock {name!r} is held by another process (redis key {key})")
            try:
                yield token
            finally:
                client.eval(_RELEASE, 1, key, token)
        finally:
            client.close()
        return

    now = _wall_now()
    with warehouse.connect() as conn:
        conn.execute("delete from act.locks where lock_name = ? and expires_at < ?", [name, now])
        conn.execute(
            "insert into act.locks (lock_name, owner, acquired_at, expires_at) values (?, ?, ?, ?) "
            "on conflict (lock_name) do nothing",
            [name, token, now, now + timedelta(seconds=ttl_seconds)],
        )
        owner = conn.scalar("select owner from act.locks where lock_name = ?", [name])
    if owner != token:
        raise LockBusy(f"lock {name!r} is held by another process (act.locks)")
    try:
        yield token
    finally:
        with warehouse.connect() as conn:
            conn.execute("delete from act.locks where lock_name = ? and owner = ?", [name, token])
