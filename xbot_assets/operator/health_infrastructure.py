"""The verdict of the planning/publishing locks and of the Redis model cache (`xbot health`, `xbot status`): a pure
function over plain data, like the accounts' rules in `operator.health` (whose docstring states these rules too)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from xbot_assets.operator.health import (
    _RANK,
    DEGRADED,
    HEALTHY,
    INFO,
    INFRA_VERDICT,
    Finding,
    HealthVerdict,
    _span,
)


def _age(delta: timedelta) -> str:
    seconds = delta.total_seconds()
    if seconds < 120:
        return f"{seconds:.0f} s"
    return f"{seconds / 60:.0f} min" if seconds < 7200 else _span(delta)



def evaluate_infrastructure(locks: Iterable[Any], wall_now: datetime, cache: Any | None,
                            stuck_after: timedelta) -> HealthVerdict:
    """The locks' and the model cache's verdict. `locks` are `acting.lock.LockState`s (judged by the wall clock:
    locks belong to processes), `cache` an `learned.serving.CacheState` or None when nobody asked."""
    findings = []
    for lock in locks:
        age = lock.age(wall_now)
        if not lock.held:
            findings.append(Finding("lock_held", INFO, f"lock {lock.name}: its holder ({lock.holder()}, since "
                                    f"{_age(age)} ago) ended without releasing; the lock ended with it"))
        elif age > stuck_after:
            findings.append(Finding("lock_held", DEGRADED, f"lock {lock.name} held for {_age(age)} by "
                                    f"{lock.holder()}: that account cannot plan or publish until it ends"))
        else:
            findings.append(Finding("lock_held", INFO, f"lock {lock.name} held for {_age(age)} by {lock.holder()}"))
    if cache is not None and cache.configured:
        if cache.error:
            findings.append(Finding("redis", DEGRADED, f"Redis at {cache.where} is unavailable ({cache.error}): "
                                    "planning reads the models from the warehouse registry"))
        elif cache.behind:
            findings.append(Finding("redis", DEGRADED, f"Redis at {cache.where} is behind the registry "
                                    f"({'; '.join(cache.behind)}): the next planning run or learn step "
                                    "republishes"))
    status = max((f.severity for f in findings if f.severity in _RANK), key=_RANK.__getitem__, default=HEALTHY)
    return HealthVerdict(INFRA_VERDICT, status, tuple(findings))
