"""The generator weights' stored state (`learn.generator_weights`), its event log (`learn.optimization_events`)
and history (`learn.generator_performance_history`), and one optimization cycle over them.

An optimization cycle is keyed on fingerprints of its inputs: the evidence (the window's performance rows, the
window, the optimizer settings) and the state it starts from (every weight and status, locks included). Every event
records the state it leaves behind. A cycle is skipped, writing nothing, when the newest cycle saw the same evidence
and the weights are still what the newest event left: so the 30% step is taken once per change of evidence, and an
operator's lock or manual weight after a cycle (`learned.controls`) is the starting point of the next cycle with new
evidence instead of being undone by a re-run on the old one. Evidence no cycle has used yet is always used.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any

import pandas as pd

from xbot_assets.learned.store import LearningSettings, fingerprint, frame_rows, json_dumps, lock_account_weights
from xbot_assets.learning.generator_weights import (
    ACTIVE,
    DEFAULT_WEIGHTS,
    NOT_GENERATORS,
    OptimizationResult,
    OptimizerSettings,
    optimize_weights,
    tier,
)
from xbot_assets.warehouse.connection import Connection, Warehouse
from xbot_assets.warehouse.values import to_python

EVENT_WEIGHT_UPDATE = "weight_update"
EVENT_SKIPPED = "optimization_skipped"
EVENT_FAILED = "optimization_failed"
EVENT_MANUAL = "manual_override"
EVENT_LOCKED = "generator_locked"
EVENT_UNLOCKED = "generator_unlocked"


WEIGHT_COLUMNS = (
    "account_id", "generator_name", "weight", "status", "posts", "impressions", "followers_gained", "f_per_1k",
    "tier", "notes", "updated_at",
)
EVENT_COLUMNS = (
    "event_id", "account_id", "sequence", "event_type", "created_at", "created_by", "posts_analysed", "period_days",
    "generators_updated", "changes", "top_performer", "top_performer_f_per_1k", "bottom_performer",
    "bottom_performer_f_per_1k", "duration_ms", "success", "error_message", "skipped_reason",
    "evidence_fingerprint", "state_fingerprint",
)
HISTORY_COLUMNS = (
    "account_id", "event_id", "generator_name", "period_start", "period_end", "posts", "impressions",
    "followers_gained", "f_per_1k", "tier", "status", "weight_before", "weight_after", "created_at",
)
PERFORMANCE_COLUMNS = ("generator_name", "posts", "impressions", "followers_gained", "f_per_1k")


@dataclass
class WeightState:
    account_id: str
    window_days: int
    performance: pd.DataFrame  # the window's rows of analytics.generator_performance
    current: pd.DataFrame  # learn.generator_weights rows: generator_name, weight, status, notes
    period_start: datetime | None
    period_end: datetime | None

    def evidence_fingerprint(self, settings: OptimizerSettings) -> str:
        """What a cycle learns from: the window's performance rows, the window and the optimizer settings."""
        return fingerprint(
            {
                "window_days": self.window_days,
                "settings": asdict(settings),
                "performance": sorted(frame_rows(self.performance, PERFORMANCE_COLUMNS)),
            }
        )

    def state_fingerprint(self, current: pd.DataFrame | None = None) -> str:
        """What a cycle starts from: every generator's weight and status (locks included)."""
        weights = self.current if current is None else current
        return fingerprint(sorted(frame_rows(weights, ("generator_name", "weight", "status"))))


# Posts without a generator name are grouped as 'unknown' by the mart, imported posts are 'imported': neither is a
# generator anyone can pick (NOT_GENERATORS), so neither takes part in the weights.


def read_weight_state(conn: Connection, account_id: str, window_days: int, now: datetime) -> WeightState:
    label = f"{window_days}d"
    performance = pd.DataFrame(columns=[*PERFORMANCE_COLUMNS, "window_start", "window_end"])
    # Without the mart (nothing built yet) there is no evidence, and the optimizer keeps the current (or default)
    # weights; a missing relation is checked first because a failed statement would abort a PostgreSQL transaction.
    if conn.table_exists("analytics", "generator_performance"):
        performance = conn.fetch_df(
            f"select {', '.join(PERFORMANCE_COLUMNS)}, window_start, window_end from analytics.generator_performance "
            f"where account_id = ? and time_window = ? and generator_name not in ({', '.join('?' for _ in NOT_GENERATORS)}) "
            "order by generator_name",
            [account_id, label, *NOT_GENERATORS],
        )
        if performance.empty:
            windows = [
                r[0]
                for r in conn.fetchall(
                    "select distinct time_window from analytics.generator_performance where account_id = ?",
                    [account_id],
                )
            ]
            other = [w for w in windows if w not in ("all_time", label)]
            if other:
                raise ValueError(
                    f"analytics.generator_performance has window {other[0]!r} but XBOT_LEARNING_WINDOW_DAYS asks for "
                    f"{label!r}; build the marts with the dbt var learning_window_days={window_days}"
                )
    current = conn.fetch_df(
        "select generator_name, weight, status, notes from learn.generator_weights where account_id = ? "
        "order by generator_name",
        [account_id],
    )
    if not performance.empty:
        start = performance["window_start"].min()
        end = performance["window_end"].max()
        period_start = None if pd.isna(start) else start.to_pydatetime()
        period_end = None if pd.isna(end) else end.to_pydatetime()
    else:
        period_start, period_end = now - timedelta(days=window_days), now
    for column in ("posts", "impressions", "followers_gained", "f_per_1k"):
        performance[column] = performance[column].astype(float)
    current["weight"] = current["weight"].astype(float)
    return WeightState(account_id, window_days, performance, current, period_start, period_end)


CYCLE_EVENTS = (EVENT_WEIGHT_UPDATE, EVENT_SKIPPED, EVENT_FAILED)


def _newest_event(conn: Connection, account_id: str, event_types: Sequence[str] | None = None) -> dict[str, Any] | None:
    where = ""
    params: list[Any] = [account_id]
    if event_types:
        where = f" and event_type in ({', '.join('?' for _ in event_types)})"
        params += list(event_types)
    row = conn.fetchone(
        f"select {', '.join(EVENT_COLUMNS)} from learn.optimization_events where account_id = ?{where} "
        "order by sequence desc limit 1",
        params,
    )
    return dict(zip(EVENT_COLUMNS, row, strict=True)) if row else None


def _already_done(conn: Connection, account_id: str, evidence: str, state: str) -> tuple[str, dict] | None:
    """Whether a cycle on this evidence from this state has already happened: ('unchanged' | 'failed', event).

    The newest cycle saw the same evidence, and the weights are still what the newest event (that cycle, or an
    operator's lock, unlock or manual weight after it) left behind: running again would step a second time on the
    same evidence, or undo the operator. A failed cycle is retried once the state changed (say, after an unlock);
    weights edited outside these functions also trigger a new cycle.
    """
    cycle = _newest_event(conn, account_id, CYCLE_EVENTS)
    if cycle is None or cycle["evidence_fingerprint"] != evidence:
        return None
    if not cycle["success"]:
        return ("failed", cycle) if cycle["state_fingerprint"] == state else None
    newest = _newest_event(conn, account_id)
    return ("unchanged", newest) if newest["state_fingerprint"] == state else None


def ensure_weight_rows(conn: Connection, state: WeightState, now: datetime) -> pd.DataFrame:
    """An account without weight rows starts from the seed defaults (written, so locks and overrides have rows)."""
    if not state.current.empty:
        return state.current
    defaults = pd.DataFrame(
        {
            "generator_name": list(DEFAULT_WEIGHTS),
            "weight": list(DEFAULT_WEIGHTS.values()),
            "status": ACTIVE,
            "notes": "seed default",
        }
    )
    write_weights(conn, state, defaults.set_index("generator_name")["weight"].to_dict(),
                   {g: ACTIVE for g in DEFAULT_WEIGHTS}, {g: "seed default" for g in DEFAULT_WEIGHTS}, now)
    state.current = defaults
    return defaults


def _performance_by_generator(state: WeightState) -> dict[str, dict[str, Any]]:
    return {
        str(r.generator_name): {
            "posts": 0 if pd.isna(r.posts) else int(r.posts),
            "impressions": 0 if pd.isna(r.impressions) else int(r.impressions),
            "followers_gained": 0.0 if pd.isna(r.followers_gained) else float(r.followers_gained),
            "f_per_1k": None if pd.isna(r.f_per_1k) else float(r.f_per_1k),
        }
        for r in state.performance.itertuples()
    }


def write_weights(
    conn: Connection,
    state: WeightState,
    weights: dict[str, float],
    statuses: dict[str, str],
    notes: dict[str, str | None],
    now: datetime,
) -> None:
    perf = _performance_by_generator(state)
    rows = []
    for name, weight in weights.items():
        p = perf.get(name, {"posts": 0, "impressions": 0, "followers_gained": 0.0, "f_per_1k": None})
        rows.append([
            state.account_id, name, float(weight), statuses.get(name, ACTIVE), p["posts"], p["impressions"],
            p["followers_gained"], p["f_per_1k"], tier(p["f_per_1k"], p["posts"]), notes.get(name), now,
        ])
    conn.insert_rows(
        "learn.generator_weights", WEIGHT_COLUMNS, rows, conflict_columns=("account_id", "generator_name"),
        update_columns=tuple(c for c in WEIGHT_COLUMNS if c not in ("account_id", "generator_name")),
    )


def insert_event(conn: Connection, values: dict[str, Any]) -> str:
    """Append an event; the caller holds the account's lock, so max(sequence) + 1 is this event's place."""
    event_id = values.setdefault("event_id", uuid.uuid4().hex)
    last = conn.scalar(
        "select max(sequence) from learn.optimization_events where account_id = ?", [values["account_id"]]
    )
    values["sequence"] = int(last or 0) + 1
    row = [to_python(values.get(c)) for c in EVENT_COLUMNS]
    conn.insert_rows("learn.optimization_events", EVENT_COLUMNS, [row])
    return event_id


@dataclass
class OptimizationReport:
    """What `optimize` did (or, with dry_run, would do) for one account."""

    account_id: str
    dry_run: bool
    status: str  # 'applied', 'skipped_insufficient_data', 'unchanged_inputs', 'failed'
    detail: str
    weights_before: dict[str, float]
    weights_after: dict[str, float]
    statuses: dict[str, str]
    changes: list[dict[str, Any]]
    tiers: dict[str, str]
    posts_analysed: int
    top_performer: tuple[str, float] | None
    bottom_performer: tuple[str, float] | None
    evidence_fingerprint: str
    event_id: str | None = None  # the event written now (None for a dry run or an unchanged-inputs skip)
    written: bool = False
    error: str | None = None
    duration_ms: float = 0.0
    result: OptimizationResult | None = None

    @property
    def applied(self) -> bool:
        return self.status == "applied"


def optimize(
    warehouse: Warehouse,
    account_id: str,
    now: datetime,
    dry_run: bool = False,
    settings: OptimizerSettings = OptimizerSettings(),
    *,
    window_days: int | None = None,
    force: bool = False,
) -> OptimizationReport:
    """One optimization cycle of the account's generator weights over the learning window's performance.

    Skipped, writing nothing, when the newest cycle saw the same evidence and the weights are what the newest event
    (that cycle, or a lock, unlock or manual weight since) left behind (`force=True` runs anyway). With `dry_run`
    nothing is written and the report shows what would change (or that a real run would do nothing).
    Otherwise the weights are upserted, an `optimization_events` row records the cycle (type weight_update,
    optimization_skipped when there are too few posts, optimization_failed with the error) and an applied cycle
    writes one `generator_performance_history` row per generator.
    """
    window_days = window_days or LearningSettings.from_env().learning_window_days
    started = time.perf_counter()
    with warehouse.connect() as conn:
        lock_account_weights(conn, account_id)
        state = read_weight_state(conn, account_id, window_days, now)
        evidence_fp = state.evidence_fingerprint(settings)
        state_fp_before = state.state_fingerprint()
        # An account without rows is using the seed defaults (optimize_weights reads an empty table the same way).
        before = {str(r.generator_name): float(r.weight) for r in state.current.itertuples()} or dict(DEFAULT_WEIGHTS)
        statuses = {str(r.generator_name): str(r.status) for r in state.current.itertuples()} or {
            name: ACTIVE for name in DEFAULT_WEIGHTS
        }
        done = None if force else _already_done(conn, account_id, evidence_fp, state_fp_before)

        def report(status: str, detail: str, **kw: Any) -> OptimizationReport:
            return OptimizationReport(
                account_id=account_id, dry_run=dry_run, status=status, detail=detail, weights_before=before,
                weights_after=kw.pop("weights_after", dict(before)), statuses=kw.pop("statuses", dict(statuses)),
                changes=kw.pop("changes", []), tiers=kw.pop("tiers", {}), posts_analysed=kw.pop("posts_analysed", 0),
                top_performer=kw.pop("top", None), bottom_performer=kw.pop("bottom", None),
                evidence_fingerprint=evidence_fp, duration_ms=(time.perf_counter() - started) * 1000, **kw,
            )

        if done is not None:
            kind, event = done
            error = event["error_message"] if kind == "failed" else None
            return report(
                "failed" if error else "unchanged_inputs",
                f"evidence and weights unchanged since {event['event_type']} {event['event_id']} at "
                f"{event['created_at']}: nothing to do",
                error=error,
            )

        try:
            result = optimize_weights(state.performance, state.current, settings)
        except ValueError as exc:
            if not dry_run:
                event_id = insert_event(conn, {
                    "account_id": account_id, "event_type": EVENT_FAILED, "created_at": now,
                    "created_by": "optimizer", "period_days": window_days, "generators_updated": 0, "changes": "[]",
                    "duration_ms": (time.perf_counter() - started) * 1000, "success": False,
                    "error_message": str(exc), "evidence_fingerprint": evidence_fp,
                    "state_fingerprint": state_fp_before,
                })
            else:
                event_id = None
            return report("failed", f"optimizer refused: {exc}", error=str(exc), event_id=event_id,
                          written=not dry_run)

        after = {name: float(w) for name, w in result.weights.items()}
        new_statuses = {name: statuses.get(name, ACTIVE) for name in after}
        common = dict(
            weights_after=after, statuses=new_statuses, changes=result.changes, tiers=result.tiers,
            posts_analysed=result.posts_analysed, top=result.top_performer, bottom=result.bottom_performer,
            result=result,
        )
        if result.applied:
            status = "applied"
            detail = f"{len(result.changes)} weights changed over {result.posts_analysed} posts"
        else:
            status = "skipped_insufficient_data"
            detail = f"{result.skipped_reason}; weights kept"
        if dry_run:
            return report(status, f"dry run: {detail}", **common)

        reasons = {c["generator"]: c["reason"] for c in result.changes}
        old_notes = {str(r.generator_name): r.notes for r in state.current.itertuples()}
        notes = {name: reasons.get(name, old_notes.get(name)) for name in after}
        if state.current.empty:
            notes = {name: reasons.get(name, "seed default") for name in after}
        write_weights(conn, state, after, new_statuses, notes, now)
        after_frame = pd.DataFrame(
            {"generator_name": list(after), "weight": list(after.values()), "status": list(new_statuses.values())}
        )
        state_fp = state.state_fingerprint(after_frame)
        top, bottom = result.top_performer, result.bottom_performer
        event_id = insert_event(conn, {
            "account_id": account_id,
            "event_type": EVENT_WEIGHT_UPDATE if result.applied else EVENT_SKIPPED,
            "created_at": now, "created_by": "optimizer", "posts_analysed": result.posts_analysed,
            "period_days": window_days, "generators_updated": len(result.changes),
            "changes": json_dumps(result.changes),
            "top_performer": top[0] if top else None, "top_performer_f_per_1k": top[1] if top else None,
            "bottom_performer": bottom[0] if bottom else None,
            "bottom_performer_f_per_1k": bottom[1] if bottom else None,
            "duration_ms": (time.perf_counter() - started) * 1000, "success": True,
            "skipped_reason": result.skipped_reason, "evidence_fingerprint": evidence_fp,
            "state_fingerprint": state_fp,
        })
        if result.applied:
            perf = _performance_by_generator(state)
            history = []
            for name, weight in after.items():
                p = perf.get(name, {"posts": 0, "impressions": 0, "followers_gained": 0.0, "f_per_1k": None})
                history.append([
                    account_id, event_id, name, state.period_start, state.period_end, p["posts"], p["impressions"],
                    p["followers_gained"], p["f_per_1k"], result.tiers.get(name, tier(p["f_per_1k"], p["posts"])),
                    new_statuses[name], before.get(name),
                    weight, now,
                ])
            conn.insert_rows("learn.generator_performance_history", HISTORY_COLUMNS, history)
        return report(status, detail, event_id=event_id, written=True, **common)
