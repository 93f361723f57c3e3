"""What `xbot status` and `xbot health` read from the warehouse: the accounts, their weights, performance, models and
optimization events (`collect_status`, `read_health_input`, `check_health`), and the newest time anything was observed
(`newest_data_at`, for the data clock). The clock is always passed in (`operator.health.choose_clock`); the Dagster
runs are read by `operator.runs`."""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from xbot_assets.acting.generators.llm import LLMSettings, llm_usage
from xbot_assets.connectors.ledger import budget_from_env, month_usage
from xbot_assets.learned.checks import floor_problems, locked_weight_problems, weight_sum_problems
from xbot_assets.learned.models import latest_models
from xbot_assets.learned.store import LearningSettings, static_accounts
from xbot_assets.learned.strategy import load_strategy
from xbot_assets.learned.weights import CYCLE_EVENTS, EVENT_SKIPPED, EVENT_WEIGHT_UPDATE
from xbot_assets.learning.generator_weights import (
    DEFAULT_WEIGHTS,
    IMPORTED_GENERATOR,
    LOCKED,
    UNATTRIBUTED_GENERATOR,
)
from xbot_assets.operator.health import (
    NO_ACCOUNTS_REASON,
    Clock,
    CycleEvent,
    GeneratorState,
    HealthInput,
    HealthRules,
    HealthVerdict,
    ModelState,
    evaluate_health,
    worst_status,
)
from xbot_assets.pages.data import generator_weights, optimization_events
from xbot_assets.warehouse.connection import Connection, Warehouse
from xbot_assets.warehouse.values import to_python

CYCLE_SUCCESS_EVENTS = (EVENT_WEIGHT_UPDATE, EVENT_SKIPPED)
SEED_DEFAULT = "seed default"  # a static account's generator status: it plans from DEFAULT_WEIGHTS


# Reading the warehouse


def _columns(conn: Connection, schema: str, table: str) -> set[str]:
    return {r[0] for r in conn.fetchall(
        "select column_name from information_schema.columns where table_schema = ? and table_name = ?", [schema, table]
    )}


def _py(value: Any) -> Any:
    return to_python(value)


def jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    value = to_python(value)
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def list_accounts(conn: Connection) -> dict[str, bool | None]:
    """Every account: those in act.accounts (→ enabled) and those with generator weights (→ None if unregistered)."""
    accounts: dict[str, bool | None] = {}
    if conn.table_exists("act", "accounts"):
        for account_id, enabled in conn.fetchall("select account_id, enabled from act.accounts order by account_id"):
            accounts[str(account_id)] = bool(enabled)
    if conn.table_exists("learn", "generator_weights"):
        for (account_id,) in conn.fetchall("select distinct account_id from learn.generator_weights"):
            accounts.setdefault(str(account_id), None)
    return dict(sorted(accounts.items()))


def account_connectors(conn: Connection) -> dict[str, str]:
    if not conn.table_exists("act", "accounts"):
        return {}
    return {str(a): str(c) for a, c in conn.fetchall("select account_id, connector from act.accounts")}


def newest_data_at(warehouse: Warehouse) -> datetime | None:
    """The newest time anything was observed: a post published, metrics or a follower count collected. What the
    operator or the learning wrote is left out: they run on the wall clock even over a past (a demo, an import)."""
    with warehouse.connect(read_only=True) as conn:
        times = []
        for schema, table, column in (("raw", "posts", "posted_at"), ("raw", "metric_snapshots", "collected_at"),
                                      ("raw", "follower_snapshots", "collected_at")):
            if conn.table_exists(schema, table):
                times.append(_py(conn.scalar(f"select max({column}) from {schema}.{table}")))
    return max((t for t in times if t is not None), default=None)


def resolve_accounts(conn: Connection, requested: str | None, *, single: bool = False) -> list[str]:
    """The accounts a command acts on. Raises ValueError for an unknown account, or (single) when it is ambiguous."""
    known = list_accounts(conn)
    if requested is not None:
        if requested not in known:
            names = ", ".join(known) or "none"
            raise ValueError(f"unknown account {requested!r} (known: {names})")
        return [requested]
    if single:
        if len(known) != 1:
            names = ", ".join(known) or "none"
            raise ValueError(f"--account is required unless exactly one account exists (accounts: {names})")
    return list(known)


def _account_problems(problems: Sequence[str], account_id: str, generators: Iterable[str]) -> tuple[str, ...]:
    """The learned.checks.*_problems strings of one account ('<account>: …' or '<account>/<generator> …')."""
    prefixes = (f"{account_id}: ", *(f"{account_id}/{g} " for g in generators))
    return tuple(p for p in problems if p.startswith(prefixes))


def _window_days(window_days: int | None) -> int:
    return window_days or LearningSettings.from_env().learning_window_days


def _performance(conn: Connection, account_id: str, window_days: int) -> dict[tuple[str, str], dict[str, Any]]:
    """analytics.generator_performance by (generator, 'window' | 'all_time')."""
    if not conn.table_exists("analytics", "generator_performance"):
        return {}
    posted = "posted_posts" if "posted_posts" in _columns(conn, "analytics", "generator_performance") else "posts"
    rows = conn.fetchall(
        f"select generator_name, time_window, posts, {posted}, impressions, followers_gained, f_per_1k, tier "
        "from analytics.generator_performance where account_id = ? and time_window in (?, 'all_time')",
        [account_id, f"{window_days}d"],
    )
    out = {}
    for name, time_window, posts, posted_posts, impressions, followers, f_per_1k, tier in rows:
        key = "all_time" if time_window == "all_time" else "window"
        out[(str(name), key)] = {
            "posts": int(posts or 0), "posted_posts": int(posted_posts or 0), "impressions": _py(impressions),
            "followers_gained": _py(followers), "f_per_1k": _py(f_per_1k), "tier": tier,
        }
    return out


@dataclass(frozen=True)
class WarehouseReads:
    """What every account's health reads warehouse-wide, read once per command: asked per account, `xbot status`
    over N accounts ran each of these queries N times (the weight checks and the model registry read every account)."""

    static: frozenset[str] = frozenset()
    models: dict[str, tuple[dict[str, Any], ...]] = field(default_factory=dict)  # newest version per model, by account
    sum_problems: tuple[str, ...] = ()
    floor_problems: tuple[str, ...] = ()
    locked_problems: tuple[str, ...] = ()


def warehouse_reads(conn: Connection) -> WarehouseReads:
    models: dict[str, list[dict[str, Any]]] = defaultdict(list)
    if conn.table_exists("learn", "model_registry"):
        for m in latest_models(conn):
            models[m["account_id"]].append(m)
    has_weights = conn.table_exists("learn", "generator_weights")
    return WarehouseReads(
        static=frozenset(static_accounts(conn)) if conn.table_exists("act", "accounts") else frozenset(),
        models={account: tuple(rows) for account, rows in models.items()},
        sum_problems=tuple(weight_sum_problems(conn)) if has_weights else (),
        floor_problems=tuple(floor_problems(conn, HealthRules().floor)) if has_weights else (),
        locked_problems=tuple(locked_weight_problems(conn))
        if has_weights and conn.table_exists("learn", "optimization_events") else (),
    )


def read_health_input(conn: Connection, account_id: str, clock: Clock, *, enabled: bool | None = None,
                      window_days: int | None = None, connector: str | None = None,
                      reads: WarehouseReads | None = None,
                      performance: dict[tuple[str, str], dict[str, Any]] | None = None) -> HealthInput:
    """One account's `HealthInput` from the warehouse (events and outcomes after the clock's cutoff are ignored).
    `reads` and `performance` are what the caller has read already (`warehouse_reads`, `_performance`)."""
    now, cutoff = clock.now, clock.cutoff
    window_days = _window_days(window_days)
    reads = reads or warehouse_reads(conn)
    weights = generator_weights(conn, account_id)
    perf = _performance(conn, account_id, window_days) if performance is None else performance
    generators = tuple(
        GeneratorState(w["generator"], float(w["weight"]), str(w["status"]),
                       perf.get((w["generator"], "window"), {}).get("posted_posts", 0))
        for w in weights
    )
    names = [g.name for g in generators]
    sum_problems = below_floor = locked_problems = ()
    if weights:
        sum_problems = _account_problems(reads.sum_problems, account_id, names)
        below_floor = _account_problems(reads.floor_problems, account_id, names)
        locked_problems = _account_problems(reads.locked_problems, account_id, names)

    last_ok = newest_cycle = None
    if conn.table_exists("learn", "optimization_events"):
        last_ok = _py(conn.scalar(
            "select max(created_at) from learn.optimization_events where account_id = ? and success "
            "and event_type in (?, ?) and created_at <= ?",
            [account_id, *CYCLE_SUCCESS_EVENTS, cutoff],
        ))
        row = conn.fetchone(
            "select event_type, success, created_at, error_message from learn.optimization_events "
            "where account_id = ? and event_type in (?, ?, ?) and created_at <= ? order by sequence desc limit 1",
            [account_id, *CYCLE_EVENTS, cutoff],
        )
        if row is not None:
            newest_cycle = CycleEvent(str(row[0]), bool(row[1]), _py(row[2]), row[3])

    models = tuple(ModelState(m["model_name"], int(m["version"]), m["beats_baseline"], m["primary_metric"],
                              m["primary_value"], m["baseline_value"]) for m in reads.models.get(account_id, ()))

    last_outcome = last_measured = None
    if conn.table_exists("analytics", "outcomes"):
        last_outcome = _py(conn.scalar(
            "select max(posted_at) from analytics.outcomes where account_id = ? and posted_at <= ?",
            [account_id, cutoff],
        ))
        last_measured = _py(conn.scalar(
            "select max(last_collected_at) from analytics.outcomes where account_id = ? and last_collected_at <= ?",
            [account_id, cutoff],
        ))
    alerts: tuple[str, ...] = ()
    if conn.table_exists("act", "alerts"):
        # Alert ids name what was alerted on, the account among it (`kind:...:account` or `kind:account:...`).
        alerts = tuple(f"{kind}: {error}" for kind, error in conn.fetchall(
            "select split_part(alert_id, ':', 1), error from act.alerts where created_at > ? and created_at <= ? "
            "and (alert_id like ? or alert_id like ?) order by created_at desc",
            [now - timedelta(hours=24), now, f"%:{account_id}", f"%:{account_id}:%"]))
    return HealthInput(
        recent_alerts=alerts,
        account_id=account_id, now=now, enabled=enabled, window_days=window_days, generators=generators,
        last_optimization_at=last_ok, newest_cycle=newest_cycle, models=models, last_outcome_at=last_outcome,
        last_measured_at=last_measured, sum_problems=sum_problems, floor_problems=below_floor,
        locked_problems=locked_problems, connector=connector, data_clock_lag=clock.lag,
        static=account_id in reads.static,
        sampling=_posterior_sampling(conn, account_id),
    )


def _posterior_sampling(conn: Connection, account_id: str) -> dict[str, float] | None:
    """P(posterior sampling picks) per generator when the planner draws this account's generators that way: its
    generator_policy is 'posterior' and it has posteriors (without them the planner uses the weights)."""
    if not conn.table_exists("act", "accounts") or not conn.table_exists("learn", "generator_posteriors"):
        return None
    if conn.scalar("select generator_policy from act.accounts where account_id = ? and policy = 'learned'",
                   [account_id]) != "posterior":
        return None
    rows = conn.fetchall("select generator_name, selection_probability from learn.generator_posteriors "
                         "where account_id = ?", [account_id])
    return {str(name): float(p or 0.0) for name, p in rows} or None


def check_health(warehouse: Warehouse, clock: Clock, account: str | None = None,
                 window_days: int | None = None) -> list[HealthVerdict]:
    """The verdict of each account (all of them, or `account`)."""
    with warehouse.connect(read_only=True) as conn:
        known, connectors, reads = list_accounts(conn), account_connectors(conn), warehouse_reads(conn)
        return [
            evaluate_health(read_health_input(conn, a, clock, enabled=known[a], window_days=window_days,
                                              connector=connectors.get(a), reads=reads))
            for a in resolve_accounts(conn, account)
        ]


def _learned_from(conn: Connection, account_id: str) -> dict[str, int]:
    """The posted outcomes, those past the learning gate (what the arms and models learn from), how many of those
    were imported from the account's history, and how many carry the platform's own follower count."""
    if not conn.table_exists("analytics", "outcomes"):
        return {"posted": 0, "posts": 0, "imported": 0, "reported_followers": 0}
    row = conn.fetchone(
        "select count(*), sum(case when passes_learning_gate then 1 else 0 end), "
        "sum(case when passes_learning_gate and generator_name = ? then 1 else 0 end), "
        "sum(case when passes_learning_gate and followers_reported is not null then 1 else 0 end) "
        "from analytics.outcomes where account_id = ?", [IMPORTED_GENERATOR, account_id])
    return dict(zip(("posted", "posts", "imported", "reported_followers"), (int(v or 0) for v in row), strict=True))


def _account_status(conn: Connection, account_id: str, enabled: bool | None, clock: Clock, connector: str | None,
                    window_days: int, api: dict[str, Any] | None, llm: dict[str, Any] | None,
                    reads: WarehouseReads) -> dict[str, Any]:
    now = clock.now
    static = account_id in reads.static
    # A static account plans from the seed weights and has no weight rows: show what it plans with.
    weights = [{"generator": g, "status": SEED_DEFAULT, "weight": w} for g, w in DEFAULT_WEIGHTS.items()] if static \
        else generator_weights(conn, account_id)
    perf = _performance(conn, account_id, window_days)
    generators = []
    names = [w["generator"] for w in weights]
    names += sorted({g for g, _ in perf} - set(names) - {UNATTRIBUTED_GENERATOR})  # posted, no weight row
    by_name = {w["generator"]: w for w in weights}
    for name in names:
        w = by_name.get(name, {})
        win = perf.get((name, "window"), {})
        all_time = perf.get((name, "all_time"), {})
        generators.append({
            "generator": name,
            "status": w.get("status", "no weight row"),
            "locked": w.get("status") == LOCKED,
            "weight": w.get("weight"),
            "tier": w.get("tier") or win.get("tier"),
            "posted_window": win.get("posted_posts", 0),
            "posts_window": win.get("posts", 0),
            "f_per_1k_window": win.get("f_per_1k"),
            "posted_all_time": all_time.get("posted_posts", 0),
            "posts_all_time": all_time.get("posts", 0),
            "f_per_1k_all_time": all_time.get("f_per_1k"),
            "notes": w.get("notes"),
            "updated_at": w.get("updated_at"),
        })

    content_arms, timing_arms = [], []
    if conn.table_exists("learn", "bandit_arms"):
        arm_columns = ("arm_name", "scope", "arm_value", "plays", "successes", "failures", "mean_reward",
                       "posterior_mean", "ucb_index", "selection_probability", "last_posted_at")
        for row in conn.fetchall(
            f"select {', '.join(arm_columns)} from learn.bandit_arms where account_id = ? order by scope, arm_name",
            [account_id],
        ):
            arm = dict(zip(arm_columns, map(_py, row), strict=True))
            if arm["scope"] == "content":
                arm.pop("ucb_index")
                content_arms.append(arm)
            elif arm["scope"] == "timing":  # hook and topic arms are shown through the strategy
                arm["hour"] = int(arm["arm_value"])
                if not arm["plays"]:
                    arm["ucb_index"] = None  # unplayed: tried first (an infinite index)
                timing_arms.append(arm)
    timing_arms.sort(key=lambda a: a["hour"])

    models = [{k: m[k] for k in ("model_name", "version", "model_type", "primary_metric", "primary_value",
                                 "baseline_value", "beats_baseline", "n_samples", "n_train", "n_holdout",
                                 "window_start", "window_end", "created_at")}
              for m in reads.models.get(account_id, ())]

    posteriors = []
    if conn.table_exists("learn", "generator_posteriors"):
        columns = ("generator_name", "posts", "impressions", "followers_gained", "posterior_mean",
                   "selection_probability", "updated_at")
        posteriors = [dict(zip(columns, map(_py, r), strict=True)) for r in conn.fetchall(
            f"select {', '.join(columns)} from learn.generator_posteriors where account_id = ? "
            "order by posterior_mean desc, generator_name", [account_id])]

    verdict = evaluate_health(read_health_input(conn, account_id, clock, enabled=enabled, window_days=window_days,
                                                connector=connector, reads=reads, performance=perf))
    return {
        "account_id": account_id,
        "registered": enabled is not None,
        "enabled": enabled,
        "learning_window": f"{window_days}d",
        "static": static,
        "learned_from": _learned_from(conn, account_id),
        "generators": generators,
        "content_arms": content_arms,
        "timing_arms": timing_arms,
        "models": models,
        "generator_posteriors": posteriors,
        "forgetting": _forgetting(conn, account_id),
        "change_found": _change_found(conn, account_id),
        "strategy": load_strategy(conn, account_id),
        "optimization_events": optimization_events(conn, account_id, clock.cutoff),
        "api": api or {"month": now.strftime("%Y-%m"), "calls": 0, "failed_calls": 0, "spend_usd": 0.0,
                       "budget_usd": budget_from_env()},
        "llm": llm or {"daily_budget_usd": LLMSettings.from_env().daily_budget_usd, "today": None, "month": None},
        "health": verdict.as_dict(),
    }


def _forgetting(conn: Connection, account_id: str) -> dict[str, float | None]:
    """The half-life (days; None = nothing forgotten) each learner used in its last run, per arm scope and for the
    generator posterior (chosen by the data under `auto`, learning/forgetting.py)."""
    chosen: dict[str, float | None] = {}
    for table, key, column in (("bandit_arms", "scope", "half_life_days"),
                               ("generator_posteriors", "'generator posterior'", "half_life_days")):
        if conn.table_exists("learn", table):
            for name, half_life in conn.fetchall(
                    f"select {key}, max({column}) from learn.{table} where account_id = ? group by 1 order by 1",
                    [account_id]):
                chosen[str(name)] = _py(half_life)
    return chosen


def _change_found(conn: Connection, account_id: str) -> Any:
    """When the generator posteriors' evidence begins after a step in a generator's follow rate
    (learning/change_points.py), or None: no change found in their last run."""
    if not conn.table_exists("learn", "generator_posteriors"):
        return None
    return _py(conn.scalar("select max(forgotten_before) from learn.generator_posteriors where account_id = ?",
                           [account_id]))


def collect_status(warehouse: Warehouse, clock: Clock, account: str | None = None,
                   window_days: int | None = None) -> dict[str, Any]:
    """The dashboard's data for each account (without the Dagster runs: see `operator.runs`), JSON-ready."""
    now = clock.now
    window_days = _window_days(window_days)
    with warehouse.connect(read_only=True) as conn:
        known, connectors, reads = list_accounts(conn), account_connectors(conn), warehouse_reads(conn)
        usage = month_usage(conn, now)  # one query for every account's API spend
        llm = llm_usage(conn, now)
        accounts = [_account_status(conn, a, known[a], clock, connectors.get(a), window_days, usage.get(a),
                                    llm.get(a), reads)
                    for a in resolve_accounts(conn, account)]
    statuses = [a["health"]["status"] for a in accounts]
    status = worst_status(statuses)
    reasons = [f"{a['account_id']}: {r}" for a in accounts for r in a["health"]["reasons"]]
    if not accounts:
        reasons = [NO_ACCOUNTS_REASON]
    return jsonable({
        "as_of": now,
        "clock": clock.as_dict(),
        "warehouse": warehouse.target.describe(),
        "health": {"status": status, "reasons": reasons},
        "accounts": accounts,
    })
