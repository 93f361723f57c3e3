"""A planner or publisher killed while it holds its account's lock: the lock ends with it, at once, and health says
what it saw before and after. A real process is started and SIGKILLed (no clean-up code runs in it)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import timedelta

from xbot_assets.acting.lock import LOCK_STUCK_AFTER, LockBusy, LockState, exclusive, lock_states, wall_now
from xbot_assets.operator.health import DEGRADED, HEALTHY, INFO
from xbot_assets.operator.health_infrastructure import evaluate_infrastructure
from xbot_assets.warehouse.connection import Warehouse

HOLDER = """
import sys, time
from xbot_assets.acting.lock import exclusive
from xbot_assets.warehouse.connection import Warehouse
with exclusive(sys.argv[2], warehouse=Warehouse.from_url(sys.argv[1])):
    print("held", flush=True)
    time.sleep(600)
"""


def _take_when_free(wh: Warehouse, name: str, attempts: int = 100) -> int:
    """Take the lock as soon as it is free; returns how many 50 ms attempts failed first (PostgreSQL ends the killed
    client's backend when it reads the closed socket, a moment after the kill)."""
    for failed in range(attempts):
        try:
            with exclusive(name, warehouse=wh):
                return failed
        except LockBusy:
            time.sleep(0.05)
    raise AssertionError(f"{name} still held {attempts} attempts after its holder was killed")


def test_a_killed_lock_holder_frees_the_lock_at_once(warehouse_url, fault):
    fault.expect("crash", "planner SIGKILLed while holding its lock",
                 "the lock ends with the process; the next run of that account takes it at once; other accounts "
                 "never wait; health shows the held lock and its age, then the dead holder")
    wh = Warehouse.from_url(warehouse_url)
    wh.migrate()
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, warehouse_url, "plan:acct"], stdout=subprocess.PIPE,
                              text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        try:
            with exclusive("plan:acct", warehouse=wh):
                raise AssertionError("a second planner took a held lock")
        except LockBusy as busy:
            assert f"pid {holder.pid}" in str(busy)
        with exclusive("plan:other", warehouse=wh):
            pass  # another account is not blocked
        [state] = lock_states(wh)
        assert state.held and state.pid == holder.pid
        before = evaluate_infrastructure([state], wall_now(), None, LOCK_STUCK_AFTER)
        assert before.status == HEALTHY and "held for" in before.notes[0]
    finally:
        os.kill(holder.pid, signal.SIGKILL)
        holder.wait()
    [dead] = lock_states(wh)
    after = evaluate_infrastructure([dead], wall_now(), None, LOCK_STUCK_AFTER)
    failed_attempts = _take_when_free(wh, "plan:acct")
    assert lock_states(wh) == []
    fault.measure(
        f"holder pid {holder.pid} killed; lock taken by the next run after {failed_attempts} failed 50 ms attempts; "
        f"health before: {before.status} with the lock held; after: {'; '.join(after.notes) or after.status}",
    )


def test_health_calls_a_lock_held_past_its_time_degraded():
    now = wall_now()
    stuck = LockState("publish:acct", "worker-2", 311, now - LOCK_STUCK_AFTER - timedelta(minutes=5), held=True)
    fresh = LockState("plan:acct", "worker-2", 312, now - timedelta(seconds=4), held=True)
    dead = LockState("plan:old", "worker-1", 7, now - timedelta(hours=2), held=False)
    verdict = evaluate_infrastructure([stuck, fresh, dead], now, None, LOCK_STUCK_AFTER)
    assert verdict.status == DEGRADED
    assert verdict.reasons == [
        "[degraded] lock_held: lock publish:acct held for 25 min by pid 311 on worker-2: that account cannot plan or "
        "publish until it ends"
    ]
    assert [f.severity for f in verdict.findings] == [DEGRADED, INFO, INFO]
    assert "held for 4 s by pid 312" in verdict.notes[0] and "ended without releasing" in verdict.notes[1]
