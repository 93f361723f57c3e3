"""The operator's controls of the generator weights: lock, unlock and set one generator's weight by hand. Each writes
the new weights and one event; later optimization cycles start from what a control left behind.

A lock keeps a generator at the weight it has; `set` gives it a weight and pins it there (status `pinned`). The
optimizer moves neither until `unlock` hands the generator back to it. A control that would change nothing (locking a
locked generator) writes nothing and logs no event."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pandas as pd

from xbot_assets.learned.store import LearningSettings, json_dumps, lock_account_weights
from xbot_assets.learned.weights import (
    EVENT_LOCKED,
    EVENT_MANUAL,
    EVENT_UNLOCKED,
    ensure_weight_rows,
    insert_event,
    read_weight_state,
    write_weights,
)
from xbot_assets.learning.generator_weights import (
    ACTIVE,
    DISABLED,
    FIXED,
    LOCKED,
    PINNED,
    SUM_TOLERANCE,
    OptimizerSettings,
    set_manual_weight,
)
from xbot_assets.warehouse.connection import Warehouse


@dataclass
class ControlReport:
    """What an operator control did: the event logged and the weights before and after."""

    account_id: str
    event_type: str
    event_id: str | None  # None when nothing changed (no event was logged)
    generator: str
    weights_before: dict[str, float]
    weights_after: dict[str, float]
    statuses: dict[str, str]
    changes: list[dict[str, Any]]
    detail: str


def _control(
    warehouse: Warehouse,
    account_id: str,
    generator: str,
    now: datetime,
    event_type: str,
    change,
    settings: OptimizerSettings,
    window_days: int | None,
    actor: str,
) -> ControlReport:
    window_days = window_days or LearningSettings.from_env().learning_window_days
    with warehouse.connect() as conn:
        lock_account_weights(conn, account_id)
        state = read_weight_state(conn, account_id, window_days, now)
        current = ensure_weight_rows(conn, state, now)
        before = {str(r.generator_name): float(r.weight) for r in current.itertuples()}
        statuses = {str(r.generator_name): str(r.status) for r in current.itertuples()}
        notes = {str(r.generator_name): r.notes for r in current.itertuples()}
        if generator not in before:
            raise ValueError(
                f"unknown generator {generator!r} for account {account_id!r}; known: {', '.join(sorted(before))}"
            )
        outcome = change(current, dict(before), dict(statuses))
        if isinstance(outcome, str):  # nothing to change: no write, no event
            return ControlReport(account_id, event_type, None, generator, before, before, statuses, [], outcome)
        after, new_statuses, reason = outcome
        changes = []
        for name, weight in after.items():
            old = before.get(name, 0.0)
            if abs(weight - old) > 1e-12 or name == generator:
                changes.append({
                    "generator": name, "old_weight": old, "new_weight": weight,
                    "change_percent": None if old == 0 else (weight - old) / old * 100.0,
                    "reason": reason if name == generator else
                    f"rescaled proportionally after {generator} was set (floor {settings.floor})",
                    **({"old_status": statuses.get(name), "new_status": new_statuses.get(name)}
                       if name == generator else {}),
                })
        notes[generator] = reason
        write_weights(conn, state, after, new_statuses, notes, now)
        after_frame = pd.DataFrame(
            {"generator_name": list(after), "weight": list(after.values()), "status": [new_statuses[n] for n in after]}
        )
        moved = sum(1 for c in changes if abs(c["new_weight"] - c["old_weight"]) > 1e-12)
        event_id = insert_event(conn, {
            "account_id": account_id, "event_type": event_type, "created_at": now, "created_by": actor,
            "period_days": window_days, "generators_updated": moved, "changes": json_dumps(changes),
            "success": True, "evidence_fingerprint": state.evidence_fingerprint(settings),
            "state_fingerprint": state.state_fingerprint(after_frame),
        })
    return ControlReport(account_id, event_type, event_id, generator, before, after, new_statuses, changes, reason)


def lock_generator(
    warehouse: Warehouse,
    account_id: str,
    generator: str,
    now: datetime,
    *,
    reason: str | None = None,
    settings: OptimizerSettings = OptimizerSettings(),
    window_days: int | None = None,
    actor: str = "operator",
) -> ControlReport:
    """Freeze a generator's weight: optimizations keep it exactly until it is unlocked (event generator_locked).
    Locking a locked generator changes nothing and logs nothing; locking a pinned one keeps its weight, now locked."""

    def change(current, weights, statuses):
        if statuses[generator] == DISABLED:
            raise ValueError(f"generator {generator} is disabled; a disabled generator cannot be locked")
        if statuses[generator] == LOCKED:
            return f"already locked at weight {weights[generator]:.4f}; nothing changed"
        statuses[generator] = LOCKED
        return weights, statuses, reason or f"locked by {actor} at weight {weights[generator]:.4f}"

    return _control(warehouse, account_id, generator, now, EVENT_LOCKED, change, settings, window_days, actor)


def unlock_generator(
    warehouse: Warehouse,
    account_id: str,
    generator: str,
    now: datetime,
    *,
    reason: str | None = None,
    settings: OptimizerSettings = OptimizerSettings(),
    window_days: int | None = None,
    actor: str = "operator",
) -> ControlReport:
    """Hand a locked or pinned generator back to the optimizer (event generator_unlocked); its weight moves from the
    next cycle with new evidence."""

    def change(current, weights, statuses):
        if statuses[generator] not in FIXED:
            raise ValueError(f"generator {generator} is {statuses[generator]}, not locked or pinned")
        statuses[generator] = ACTIVE
        return weights, statuses, reason or f"unlocked by {actor}"

    return _control(warehouse, account_id, generator, now, EVENT_UNLOCKED, change, settings, window_days, actor)


def set_generator_weight(
    warehouse: Warehouse,
    account_id: str,
    generator: str,
    weight: float,
    now: datetime,
    *,
    reason: str | None = None,
    settings: OptimizerSettings = OptimizerSettings(),
    window_days: int | None = None,
    actor: str = "operator",
) -> ControlReport:
    """Set one generator's weight exactly and pin it there: later optimizations keep it until `unlock_generator`
    (event manual_override). The other active generators absorb the difference proportionally, none below the floor,
    locked and pinned ones untouched; a locked generator stays locked at its new weight.
    Raises ValueError when the weight is infeasible (outside [floor, 1 − locked − pinned − floor × others])."""

    def change(current, weights, statuses):
        new = set_manual_weight(current, generator, float(weight), floor=settings.floor)
        total = sum(new.values())
        if abs(total - 1.0) > SUM_TOLERANCE:  # set_manual_weight guarantees it; refuse to store anything else
            raise ValueError(f"manual weights would sum to {total!r}, not 1")
        if statuses[generator] != LOCKED:
            statuses[generator] = PINNED
        return new, statuses, reason or (f"manual override by {actor}: {weights[generator]:.4f} → "
                                         f"{float(weight):.4f}, {statuses[generator]} until unlocked")

    return _control(warehouse, account_id, generator, now, EVENT_MANUAL, change, settings, window_days, actor)
