"""The lock that keeps two planners (or two publishers) of one account from acting at once.

The lock lives where the decisions live and is bound to its holder, so a holder that dies frees it at once:

- PostgreSQL: a session-level advisory lock (`pg_try_advisory_lock`) on a connection held open for the block; the
  server frees it the moment that connection ends, a SIGKILLed process included.
- DuckDB: an exclusive `flock` on a file beside the warehouse (`<warehouse>.locks/<name>.lock`); the kernel frees it
  when the process ends, however it ends. DuckDB serves one machine, and so does its lock.

Redis holds no lock: a cache that can be down must not decide who may post. With a Redis lock that falls back to the
warehouse when Redis is unreachable, a holder in Redis and a holder in the warehouse could both publish.

`act.locks` keeps a record of each holder (host, pid, since when) for `xbot health`. The record is not the lock: a
record whose lock is free belongs to a holder that died; the next holder replaces it. A lock has no expiry, so a
holder that hangs (alive, not dead) keeps it: health reports every held lock and its age, degraded past
`LOCK_STUCK_AFTER`.
"""

from __future__ import annotations

import fcntl
import os
import re
import socket
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from xbot_assets.warehouse.connection import Warehouse, hash_lock_id

# A planning run takes seconds to a minute; a publishing run may wait out a 15-minute rate-limit window once.
LOCK_STUCK_AFTER = timedelta(minutes=20)


class LockBusy(RuntimeError):
    """Another holder has the lock: the caller must not act now."""


@dataclass(frozen=True)
class LockState:
    """One act.locks record and whether its lock is really held now."""

    name: str
    host: str
    pid: int | None
    acquired_at: datetime
    held: bool

    def age(self, wall_now: datetime) -> timedelta:
        return wall_now - self.acquired_at

    def holder(self) -> str:
        return f"pid {self.pid} on {self.host}" if self.pid is not None else "an unknown holder"


def wall_now() -> datetime:
    """Locks belong to real processes, so they are timed by the wall clock, never by a simulated one."""
    return datetime.now(UTC).replace(tzinfo=None)


def _owner(token: str) -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{token}"


def _parse_owner(owner: str) -> tuple[str, int | None]:
    host, _, rest = owner.partition(":")
    pid, _, _ = rest.partition(":")
    return (host, int(pid)) if pid.isdigit() else ("?", None)


def _lock_key(name: str) -> int:
    return hash_lock_id(f"xbot-lock:{name}")


def _lock_file(warehouse: Warehouse, name: str) -> Path:
    path = warehouse.target.duckdb_path
    assert path is not None
    safe = re.sub(r"[^A-Za-z0-9._-]", "_", name)
    # Two names that sanitise alike (plan:a/b and plan:a_b) must not share a file.
    return path.parent / f"{path.name}.locks" / f"{safe}-{_lock_key(name) % 10**8:08d}.lock"


@contextmanager
def _held(warehouse: Warehouse, name: str) -> Iterator[bool]:
    """Try the holder-bound lock once; yields whether it was taken, and keeps it for the block."""
    if warehouse.kind == "postgres":
        with warehouse.connect() as conn:
            taken = bool(conn.scalar("select pg_try_advisory_lock(?)", [_lock_key(name)]))
            # End the transaction at once: the lock is the session's, and a connection idle in a transaction for the
            # whole block would hold back vacuum (and die to idle_in_transaction_session_timeout, lock and all).
            conn.raw.commit()
            try:
                yield taken
            finally:
                if taken:
                    conn.scalar("select pg_advisory_unlock(?)", [_lock_key(name)])
        return
    path = _lock_file(warehouse, name)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def _record(warehouse: Warehouse, name: str) -> LockState | None:
    with warehouse.connect() as conn:
        row = conn.fetchone("select owner, acquired_at from act.locks where lock_name = ?", [name])
    if row is None:
        return None
    host, pid = _parse_owner(row[0])
    return LockState(name, host, pid, row[1], held=True)


@contextmanager
def exclusive(name: str, *, warehouse: Warehouse) -> Iterator[str]:
    """Hold lock `name` for the block (yields the holder's token); raise LockBusy at once if someone else holds it."""
    token = uuid.uuid4().hex
    owner = _owner(token)
    with _held(warehouse, name) as taken:
        if not taken:
            record = _record(warehouse, name)
            since = f" since {record.acquired_at:%Y-%m-%d %H:%M:%S} UTC" if record else ""
            holder = record.holder() if record else "another process"
            raise LockBusy(f"lock {name!r} is held by {holder}{since}")
        now = wall_now()
        with warehouse.connect() as conn:
            # A record left by a holder that died is replaced: holding the lock proves its holder is gone.
            conn.execute("delete from act.locks where lock_name = ?", [name])
            conn.execute(
                "insert into act.locks (lock_name, owner, acquired_at, expires_at) values (?, ?, ?, ?)",
                [name, owner, now, now],
            )
        try:
            yield token
        finally:
            with warehouse.connect() as conn:
                conn.execute("delete from act.locks where lock_name = ? and owner = ?", [name, owner])


def _held_now(warehouse: Warehouse, names: list[str]) -> set[str]:
    """Which of these locks someone holds right now (probing never takes a lock for longer than the probe)."""
    if warehouse.kind == "postgres":
        keys = {_lock_key(n): n for n in names}
        with warehouse.connect(read_only=True) as conn:
            rows = conn.fetchall(
                "select (classid::bigint << 32) | objid::bigint from pg_locks "
                "where locktype = 'advisory' and granted and objsubid = 1"
            )
        return {keys[r[0]] for r in rows if r[0] in keys}
    held = set()
    for name in names:
        path = _lock_file(warehouse, name)
        if not path.exists():
            continue
        with _held(warehouse, name) as taken:
            if not taken:
                held.add(name)
    return held


def lock_states(warehouse: Warehouse) -> list[LockState]:
    """Every act.locks record, each saying whether its lock is held now (False: its holder died without releasing)."""
    with warehouse.connect(read_only=True) as conn:
        if not conn.table_exists("act", "locks"):
            return []
        rows = conn.fetchall("select lock_name, owner, acquired_at from act.locks order by lock_name")
    held = _held_now(warehouse, [r[0] for r in rows])
    states = []
    for name, owner, acquired_at in rows:
        host, pid = _parse_owner(owner)
        states.append(LockState(name, host, pid, acquired_at, held=name in held))
    return states
