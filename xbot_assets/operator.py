"""The operator's view of xbot: the dashboard (`xbot status`), the health verdict (`xbot health`) and the text the
operator controls print (`xbot optimize`, `xbot weights`).

`evaluate_health` is a pure function over plain data (`HealthInput`, no warehouse, no Dagster): the rules of seed
004's monitoring (reference/original-xbot.md §8, `getSystemHealth` and `validateSystem`), each giving a reason when
it fires. `read_health_input` and `collect_status` read that data from the warehouse; `job_runs` reads the Dagster
instance. `now` is always passed in (the CLI takes it from `WallClock` or `--as-of`).

Health rules and their severities (a rule that does not fire says nothing):

  critical (the loop is broken, or planning would act on wrong data: act now)
    weights_missing       no learn.generator_weights rows: planning falls back to the seed defaults.
    weights_sum           the weights do not sum to 1 (learned.weight_sum_problems, tolerance 1e-9).
    locked_weight_moved   a locked generator no longer has the weight it was locked at (learned.locked_weight_problems).
    optimization_failed   the newest optimization cycle up to now is an optimization_failed event.
    no_recent_outcomes    an enabled account (act.accounts) has no outcome posted in the last 24 h.
    coverage              under 50% of the generators in use posted in the learning window (degraded under 80%).

  degraded (working, but something is off or stale: look soon)
    coverage              under 80% of the generators in use posted in the learning window. Generators in use are
                          the active and locked ones with weight > 0; with fewer posts in the window than generators,
                          the share is of the posts (N posts can cover at most N generators). No post in the window:
                          not judged (no_recent_outcomes covers enabled accounts).
    below_floor           a non-disabled generator is below the 2% floor (learned.floor_problems); the next cycle
                          restores it.
    optimization_stale    no successful optimization event (weight_update or optimization_skipped) in the last
                          12 h while outcomes were posted or measured after the newest one. A cycle writes an event
                          only when its evidence changed, so with nothing new to learn from this is only a note.
    unused_generator      a generator in use has no post in the window although, at its weight w and the window's
                          N posts, that happens with probability (1 − w)^N < 5%: the planner seems not to follow the
                          weights. A likelier miss (a low weight, few posts) is only a note.
    model_below_baseline  the newest version of a model does not beat its baseline on the time-ordered holdout
                          (models that have not earned trust never block exploration, so this is not critical).
    few_generators        fewer than 10 generators are active or locked (the seed expects 12).

  notes (severity "info", never change the verdict): a model never trained (planning uses the seed defaults), the
  likely misses above, staleness without new evidence.

Verdict: critical if any critical finding, else degraded if any degraded finding, else healthy. Across accounts the
worst verdict wins; no account at all is critical. `xbot health` exits 0 healthy, 1 degraded, 2 critical.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from xbot_assets import learned
from xbot_assets.learning.generator_weights import DISABLED, LOCKED, OptimizerSettings
from xbot_assets.values import to_python
from xbot_assets.warehouse import Connection, Warehouse

HEALTHY = "healthy"
DEGRADED = "degraded"
CRITICAL = "critical"
INFO = "info"
_RANK = {HEALTHY: 0, DEGRADED: 1, CRITICAL: 2}
EXIT_CODES = dict(_RANK)

# The jobs of the definitions, in the order the dashboard lists them (others the definitions add come after).
KNOWN_JOBS = ("refresh_job", "learn_and_plan_job", "publish_job", "collect_metrics_job", "follower_snapshot_job")
CYCLE_SUCCESS_EVENTS = (learned.EVENT_WEIGHT_UPDATE, learned.EVENT_SKIPPED)


# ---------------------------------------------------------------------------------------------------------------------
# Health: plain data in, a verdict with reasons out


@dataclass(frozen=True)
class HealthRules:
    """The thresholds of the rules (the seed's numbers)."""

    coverage_critical: float = 0.50
    coverage_degraded: float = 0.80
    min_generators: int = 10
    optimization_max_age: timedelta = timedelta(hours=12)
    outcomes_max_age: timedelta = timedelta(hours=24)
    unused_max_chance: float = 0.05
    floor: float = OptimizerSettings().floor


@dataclass(frozen=True)
class GeneratorState:
    name: str
    weight: float
    status: str  # active | locked | disabled
    posts_in_window: int  # posted decisions in the learning window (gated or not)

    @property
    def in_use(self) -> bool:
        return self.status != DISABLED and self.weight > 0


@dataclass(frozen=True)
class ModelState:
    model_name: str
    version: int
    beats_baseline: bool | None
    primary_metric: str | None = None
    primary_value: float | None = None
    baseline_value: float | None = None


@dataclass(frozen=True)
class CycleEvent:
    """An optimization cycle's event (weight_update, optimization_skipped or optimization_failed)."""

    event_type: str
    success: bool
    created_at: datetime
    error: str | None = None


@dataclass(frozen=True)
class HealthInput:
    """What the rules read about one account; every field is plain data."""

    account_id: str
    now: datetime
    enabled: bool | None = None  # act.accounts.enabled; None: the account is not registered there
    window_days: int = 7
    generators: tuple[GeneratorState, ...] = ()
    last_optimization_at: datetime | None = None  # newest successful weight_update / optimization_skipped
    newest_cycle: CycleEvent | None = None  # newest cycle event of any kind
    models: tuple[ModelState, ...] = ()
    expected_models: tuple[str, ...] = learned.MODEL_NAMES
    last_outcome_at: datetime | None = None  # newest posted_at in analytics.outcomes
    last_measured_at: datetime | None = None  # newest metric collection in analytics.outcomes
    sum_problems: tuple[str, ...] = ()  # learned.weight_sum_problems for this account
    floor_problems: tuple[str, ...] = ()  # learned.floor_problems for this account
    locked_problems: tuple[str, ...] = ()  # learned.locked_weight_problems for this account

    @property
    def window_posts(self) -> int:
        return sum(g.posts_in_window for g in self.generators)


@dataclass(frozen=True)
class Finding:
    rule: str
    severity: str  # critical | degraded | info
    reason: str


@dataclass(frozen=True)
class HealthVerdict:
    account_id: str
    status: str
    findings: tuple[Finding, ...]

    @property
    def reasons(self) -> list[str]:
        """The reasons behind the verdict (the notes left out)."""
        return [f"[{f.severity}] {f.rule}: {f.reason}" for f in self.findings if f.severity != INFO]

    @property
    def notes(self) -> list[str]:
        return [f"{f.rule}: {f.reason}" for f in self.findings if f.severity == INFO]

    def as_dict(self) -> dict[str, Any]:
        return {"account_id": self.account_id, "status": self.status, "reasons": self.reasons, "notes": self.notes,
                "findings": [asdict(f) for f in self.findings]}


def _ago(now: datetime, then: datetime) -> str:
    hours = (now - then).total_seconds() / 3600
    return f"{hours:.1f} h ago" if hours < 48 else f"{hours / 24:.1f} days ago"


def _fmt(value: float | None) -> str:
    return "—" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.4g}"


def evaluate_health(data: HealthInput, rules: HealthRules = HealthRules()) -> HealthVerdict:
    """Every rule of the module docstring over one account's data; the verdict is the worst severity that fired."""
    findings: list[Finding] = []

    def fire(rule: str, severity: str, reason: str) -> None:
        findings.append(Finding(rule, severity, reason))

    now = data.now
    window = f"{data.window_days}-day learning window"

    # Weights: present, summing to 1, above the floor, locks honoured.
    if not data.generators:
        fire("weights_missing", CRITICAL, "no generator weights stored: planning falls back to the seed defaults "
             "(has the learn group run for this account?)")
    for problem in data.sum_problems:
        fire("weights_sum", CRITICAL, f"weights do not sum to 1: {problem}")
    for problem in data.locked_problems:
        fire("locked_weight_moved", CRITICAL, f"a lock was not honoured: {problem}")
    for problem in data.floor_problems:
        fire("below_floor", DEGRADED, f"below the {rules.floor:.0%} floor: {problem}")

    in_use = [g for g in data.generators if g.in_use]
    if data.generators and len(in_use) < rules.min_generators:
        fire("few_generators", DEGRADED, f"only {len(in_use)} generators are active or locked with a weight "
             f"(fewer than {rules.min_generators}; the seed expects 12)")

    # Coverage: how many generators in use posted in the window.
    posts = data.window_posts
    if in_use and posts > 0:
        covered = sum(1 for g in in_use if g.posts_in_window > 0)
        possible = min(len(in_use), posts)
        share = covered / possible
        text = (f"generator coverage {covered}/{possible} ({share:.0%}) in the {window} "
                f"({len(in_use)} generators in use, {posts} posts)")
        if share < rules.coverage_critical:
            fire("coverage", CRITICAL, f"{text}: below {rules.coverage_critical:.0%}")
        elif share < rules.coverage_degraded:
            fire("coverage", DEGRADED, f"{text}: below {rules.coverage_degraded:.0%}")

        # Unused generators: no post although the weights say it should have had some.
        for g in in_use:
            if g.posts_in_window > 0:
                continue
            chance = (1.0 - min(g.weight, 1.0)) ** posts
            text = (f"{g.name} ({g.status}, weight {g.weight:.1%}) has no post in the {window}; at that weight "
                    f"{posts} posts miss it with probability {'< 0.1%' if chance < 0.001 else f'{chance:.1%}'}")
            if chance < rules.unused_max_chance:
                fire("unused_generator", DEGRADED, f"{text}: the planner seems not to follow the weights")
            else:
                fire("unused_generator", INFO, f"{text} (not a fault)")

    # Optimization: a failed newest cycle, or no recent successful cycle while there is new evidence.
    cycle = data.newest_cycle
    if cycle is not None and not cycle.success:
        fire("optimization_failed", CRITICAL, f"the newest optimization cycle ({cycle.event_type} at "
             f"{cycle.created_at:%Y-%m-%d %H:%M}) failed: {cycle.error or 'no error recorded'}; the weights are not "
             "being learned")
    hours = rules.optimization_max_age.total_seconds() / 3600
    activity = max((t for t in (data.last_outcome_at, data.last_measured_at) if t is not None), default=None)
    last = data.last_optimization_at
    if last is None:
        if activity is not None:
            fire("optimization_stale", DEGRADED, "no successful optimization (weight_update or optimization_skipped) "
                 f"ever, though outcomes exist (newest activity {_ago(now, activity)})")
        else:
            fire("optimization_stale", INFO, "never optimized, and no outcome to learn from yet")
    elif now - last > rules.optimization_max_age:
        text = f"no successful optimization in the last {hours:g} h (newest {last:%Y-%m-%d %H:%M}, {_ago(now, last)})"
        if activity is not None and activity > last:
            fire("optimization_stale", DEGRADED,
                 f"{text} while outcomes were posted or measured since ({_ago(now, activity)})")
        else:
            fire("optimization_stale", INFO, f"{text}, but nothing new was posted or measured since")

    # Models: the newest version of each should beat its baseline.
    present = set()
    for m in data.models:
        present.add(m.model_name)
        if m.beats_baseline is False:
            fire("model_below_baseline", DEGRADED,
                 f"{m.model_name} v{m.version} does not beat its baseline on the holdout ({m.primary_metric} "
                 f"{_fmt(m.primary_value)} vs baseline {_fmt(m.baseline_value)}, lower is better)")
        elif m.beats_baseline is None:
            fire("model_below_baseline", INFO, f"{m.model_name} v{m.version} has no baseline comparison")
    for name in data.expected_models:
        if name not in present:
            fire("model_missing", INFO, f"no {name} trained yet (too few samples?): planning uses the seed defaults")

    # Outcomes: an enabled account should be posting.
    if data.enabled:
        if data.last_outcome_at is None:
            fire("no_recent_outcomes", CRITICAL, "enabled account without any outcome: nothing has been posted "
                 "(or the marts were not rebuilt)")
        elif now - data.last_outcome_at > rules.outcomes_max_age:
            fire("no_recent_outcomes", CRITICAL,
                 f"enabled account without an outcome in the last {rules.outcomes_max_age.total_seconds() / 3600:g} h "
                 f"(newest posted {data.last_outcome_at:%Y-%m-%d %H:%M}, {_ago(now, data.last_outcome_at)})")

    status = HEALTHY
    for f in findings:
        if f.severity in _RANK and _RANK[f.severity] > _RANK[status]:
            status = f.severity
    return HealthVerdict(data.account_id, status, tuple(findings))


def overall_status(verdicts: Iterable[HealthVerdict]) -> str:
    """The worst verdict; no account at all is critical."""
    verdicts = list(verdicts)
    if not verdicts:
        return CRITICAL
    return max((v.status for v in verdicts), key=_RANK.__getitem__)


def health_rules_text() -> str:
    """The rules and their severities, as this module's docstring states them (for `xbot health --help`)."""
    marker = "Health rules and their severities (a rule that does not fire says nothing):\n\n"
    return __doc__.split(marker, 1)[1] if marker in __doc__ else __doc__


NO_ACCOUNTS_REASON = "no account in act.accounts or learn.generator_weights: nothing is being learned"


# ---------------------------------------------------------------------------------------------------------------------
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
    """The learned.*_problems strings of one account ('<account>: …' or '<account>/<generator> …')."""
    prefixes = (f"{account_id}: ", *(f"{account_id}/{g} " for g in generators))
    return tuple(p for p in problems if p.startswith(prefixes))


def _window_days(window_days: int | None) -> int:
    return window_days or learned.LearningSettings.from_env().learning_window_days


def _weights(conn: Connection, account_id: str) -> list[dict[str, Any]]:
    if not conn.table_exists("learn", "generator_weights"):
        return []
    rows = conn.fetchall(
        "select generator_name, weight, status, tier, notes, updated_at from learn.generator_weights "
        "where account_id = ? order by weight desc, generator_name",
        [account_id],
    )
    return [dict(zip(("generator", "weight", "status", "tier", "notes", "updated_at"), map(_py, r), strict=True))
            for r in rows]


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


def _events(conn: Connection, account_id: str, now: datetime, limit: int = 5) -> list[dict[str, Any]]:
    if not conn.table_exists("learn", "optimization_events"):
        return []
    columns = ("event_id", "event_type", "created_at", "created_by", "success", "generators_updated",
               "posts_analysed", "top_performer", "skipped_reason", "error_message")
    rows = conn.fetchall(
        f"select {', '.join(columns)} from learn.optimization_events where account_id = ? and created_at <= ? "
        "order by sequence desc limit ?",
        [account_id, now, limit],
    )
    return [dict(zip(columns, map(_py, r), strict=True)) for r in rows]


def read_health_input(conn: Connection, account_id: str, now: datetime, *, enabled: bool | None = None,
                      window_days: int | None = None) -> HealthInput:
    """One account's `HealthInput` from the warehouse (events and outcomes after `now` are ignored)."""
    window_days = _window_days(window_days)
    weights = _weights(conn, account_id)
    perf = _performance(conn, account_id, window_days)
    generators = tuple(
        GeneratorState(w["generator"], float(w["weight"]), str(w["status"]),
                       perf.get((w["generator"], "window"), {}).get("posted_posts", 0))
        for w in weights
    )
    names = [g.name for g in generators]
    sum_problems = floor_problems = locked_problems = ()
    if weights:
        sum_problems = _account_problems(learned.weight_sum_problems(conn), account_id, names)
        floor_problems = _account_problems(learned.floor_problems(conn, HealthRules().floor), account_id, names)
        if conn.table_exists("learn", "optimization_events"):
            locked_problems = _account_problems(learned.locked_weight_problems(conn), account_id, names)

    last_ok = newest_cycle = None
    if conn.table_exists("learn", "optimization_events"):
        last_ok = _py(conn.scalar(
            "select max(created_at) from learn.optimization_events where account_id = ? and success "
            "and event_type in (?, ?) and created_at <= ?",
            [account_id, *CYCLE_SUCCESS_EVENTS, now],
        ))
        row = conn.fetchone(
            "select event_type, success, created_at, error_message from learn.optimization_events "
            "where account_id = ? and event_type in (?, ?, ?) and created_at <= ? order by sequence desc limit 1",
            [account_id, *learned.CYCLE_EVENTS, now],
        )
        if row is not None:
            newest_cycle = CycleEvent(str(row[0]), bool(row[1]), _py(row[2]), row[3])

    models: tuple[ModelState, ...] = ()
    if conn.table_exists("learn", "model_registry"):
        models = tuple(
            ModelState(m["model_name"], int(m["version"]), m["beats_baseline"], m["primary_metric"],
                       m["primary_value"], m["baseline_value"])
            for m in learned.latest_models(conn) if m["account_id"] == account_id
        )

    last_outcome = last_measured = None
    if conn.table_exists("analytics", "outcomes"):
        last_outcome = _py(conn.scalar(
            "select max(posted_at) from analytics.outcomes where account_id = ? and posted_at <= ?", [account_id, now]
        ))
        last_measured = _py(conn.scalar(
            "select max(last_collected_at) from analytics.outcomes where account_id = ? and last_collected_at <= ?",
            [account_id, now],
        ))
    return HealthInput(
        account_id=account_id, now=now, enabled=enabled, window_days=window_days, generators=generators,
        last_optimization_at=last_ok, newest_cycle=newest_cycle, models=models, last_outcome_at=last_outcome,
        last_measured_at=last_measured, sum_problems=sum_problems, floor_problems=floor_problems,
        locked_problems=locked_problems,
    )


def check_health(warehouse: Warehouse, now: datetime, account: str | None = None,
                 window_days: int | None = None) -> list[HealthVerdict]:
    """The verdict of each account (all of them, or `account`)."""
    with warehouse.connect(read_only=True) as conn:
        known = list_accounts(conn)
        return [
            evaluate_health(read_health_input(conn, a, now, enabled=known[a], window_days=window_days))
            for a in resolve_accounts(conn, account)
        ]


def _account_status(conn: Connection, account_id: str, enabled: bool | None, now: datetime,
                    window_days: int) -> dict[str, Any]:
    weights = _weights(conn, account_id)
    perf = _performance(conn, account_id, window_days)
    generators = []
    names = [w["generator"] for w in weights]
    names += sorted({g for g, _ in perf} - set(names) - {learned.UNATTRIBUTED_GENERATOR})  # posted, no weight row
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
            else:
                arm["hour"] = int(arm["arm_value"])
                if not arm["plays"]:
                    arm["ucb_index"] = None  # unplayed: tried first (an infinite index)
                timing_arms.append(arm)
    timing_arms.sort(key=lambda a: a["hour"])

    models = []
    if conn.table_exists("learn", "model_registry"):
        for m in learned.latest_models(conn):
            if m["account_id"] != account_id:
                continue
            models.append({k: m[k] for k in ("model_name", "version", "model_type", "primary_metric", "primary_value",
                                             "baseline_value", "beats_baseline", "n_samples", "n_train", "n_holdout",
                                             "window_start", "window_end", "created_at")})

    posteriors = []
    if conn.table_exists("learn", "generator_posteriors"):
        columns = ("generator_name", "posts", "impressions", "followers_gained", "posterior_mean",
                   "selection_probability", "updated_at")
        posteriors = [dict(zip(columns, map(_py, r), strict=True)) for r in conn.fetchall(
            f"select {', '.join(columns)} from learn.generator_posteriors where account_id = ? "
            "order by posterior_mean desc, generator_name", [account_id])]

    verdict = evaluate_health(read_health_input(conn, account_id, now, enabled=enabled, window_days=window_days))
    return {
        "account_id": account_id,
        "registered": enabled is not None,
        "enabled": enabled,
        "learning_window": f"{window_days}d",
        "generators": generators,
        "content_arms": content_arms,
        "timing_arms": timing_arms,
        "models": models,
        "generator_posteriors": posteriors,
        "optimization_events": _events(conn, account_id, now),
        "health": verdict.as_dict(),
    }


def collect_status(warehouse: Warehouse, now: datetime, account: str | None = None,
                   window_days: int | None = None) -> dict[str, Any]:
    """The dashboard's data for each account (without the Dagster runs: see `job_runs`), JSON-ready."""
    window_days = _window_days(window_days)
    with warehouse.connect(read_only=True) as conn:
        known = list_accounts(conn)
        accounts = [_account_status(conn, a, known[a], now, window_days) for a in resolve_accounts(conn, account)]
    statuses = [a["health"]["status"] for a in accounts]
    status = max(statuses, key=_RANK.__getitem__) if statuses else CRITICAL
    reasons = [f"{a['account_id']}: {r}" for a in accounts for r in a["health"]["reasons"]]
    if not accounts:
        reasons = [NO_ACCOUNTS_REASON]
    return jsonable({
        "as_of": now,
        "warehouse": warehouse.target.describe(),
        "health": {"status": status, "reasons": reasons},
        "accounts": accounts,
    })


# ---------------------------------------------------------------------------------------------------------------------
# Dagster runs (the only part that reads the instance)


def ordered_job_names(names: Iterable[str]) -> list[str]:
    names = {n for n in names if not n.startswith("__")}
    return [n for n in KNOWN_JOBS if n in names] + sorted(names - set(KNOWN_JOBS))


def job_runs(instance, job_names: Sequence[str]) -> list[dict[str, Any]]:
    """The newest run of each job: status, start and end (naive UTC ISO), run id."""
    import dagster as dg

    def stamp(seconds: float | None) -> str | None:
        if seconds is None:
            return None
        return datetime.fromtimestamp(seconds, UTC).replace(tzinfo=None).isoformat(timespec="seconds")

    rows = []
    for name in job_names:
        records = instance.get_run_records(filters=dg.RunsFilter(job_name=name), limit=1)
        if not records:
            rows.append({"job": name, "status": "never run", "run_id": None, "start_time": None, "end_time": None,
                         "duration_s": None})
            continue
        record = records[0]
        start, end = record.start_time, record.end_time
        rows.append({
            "job": name,
            "status": record.dagster_run.status.value,
            "run_id": record.dagster_run.run_id,
            "start_time": stamp(start),
            "end_time": stamp(end),
            "duration_s": round(end - start, 1) if start is not None and end is not None else None,
        })
    return rows


# ---------------------------------------------------------------------------------------------------------------------
# Text


def _pct(value: Any) -> str | None:
    return None if value is None else f"{float(value):.1%}"


def _num(value: Any, digits: int = 3) -> str | None:
    return None if value is None else f"{float(value):.{digits}f}"


def _when(value: Any) -> str | None:
    if value is None:
        return None
    return str(value).replace("T", " ")[:16]


def render_health(verdicts: Sequence[HealthVerdict], status: str, *, notes: bool = True) -> str:
    lines = [f"health: {status.upper()}"]
    if not verdicts:
        lines.append(f"  {NO_ACCOUNTS_REASON}")
    for v in verdicts:
        lines.append(f"  {v.account_id}: {v.status}")
        lines += [f"    - {r}" for r in v.reasons]
        if notes:
            lines += [f"    · note {n}" for n in v.notes]
    return "\n".join(lines)


def render_status(status: dict[str, Any], runs: Sequence[dict[str, Any]] | None = None) -> str:
    """The dashboard as text (markdown tables)."""
    table = learned.markdown_table
    out = [f"xbot status as of {_when(status['as_of'])} UTC — warehouse {status['warehouse']}",
           f"health: {status['health']['status'].upper()}"]
    out += [f"  - {r}" for r in status["health"]["reasons"]]
    for a in status["accounts"]:
        registration = ("enabled" if a["enabled"] else "disabled") if a["registered"] else \
            "not registered in act.accounts"
        out += ["", f"== account {a['account_id']} ({registration}) — health {a['health']['status'].upper()} =="]
        out += [f"  - {r}" for r in a["health"]["reasons"]]
        out += [f"  · note {n}" for n in a["health"]["notes"]]
        window = a["learning_window"]
        out += ["", f"generators (learning window {window}; F/1K over posts past the learning gate):"]
        out.append(table(
            ["generator", "status", "weight", f"posts {window}", f"F/1K {window}", "posts all time", "F/1K all time",
             "tier"],
            [(g["generator"], g["status"] + (" 🔒" if g["locked"] else ""), _pct(g["weight"]), g["posted_window"],
              _num(g["f_per_1k_window"], 2), g["posted_all_time"], _num(g["f_per_1k_all_time"], 2), g["tier"])
             for g in a["generators"]],
        ) if a["generators"] else "  none")
        out += ["", "content arms (Beta posteriors; picked by Thompson sampling):"]
        out.append(table(
            ["arm", "plays", "successes", "posterior mean", "P(Thompson picks)"],
            [(c["arm_name"], c["plays"], _num(c["successes"], 1), _num(c["posterior_mean"]),
              _pct(c["selection_probability"])) for c in a["content_arms"]],
        ) if a["content_arms"] else "  none")
        played = [t for t in a["timing_arms"] if t["plays"]]
        unplayed = len(a["timing_arms"]) - len(played)
        out += ["", f"timing arms (UCB1; played hours; {unplayed} unplayed hours are tried first):"]
        out.append(table(
            ["hour", "plays", "successes", "mean reward", "posterior mean", "UCB index", "P(UCB picks)"],
            [(t["hour"], t["plays"], _num(t["successes"], 1), _num(t["mean_reward"], 4), _num(t["posterior_mean"]),
              _num(t["ucb_index"], 4), _pct(t["selection_probability"])) for t in played],
        ) if played else "  none played")
        out += ["", "models (newest version; holdout metric, lower is better):"]
        out.append(table(
            ["model", "version", "metric", "value", "baseline", "beats baseline", "samples", "created"],
            [(m["model_name"], m["version"], m["primary_metric"], _num(m["primary_value"], 4),
              _num(m["baseline_value"], 4), {True: "yes", False: "NO", None: "—"}[m["beats_baseline"]],
              m["n_samples"], _when(m["created_at"])) for m in a["models"]],
        ) if a["models"] else "  none trained (planning uses the seed defaults)")
        if a["generator_posteriors"]:
            out += ["", "generator posteriors (Gamma–Poisson F/1K; the posterior-sampling policy):"]
            out.append(table(
                ["generator", "posts", "posterior F/1K", "P(sampling picks)"],
                [(p["generator_name"], p["posts"], _num(p["posterior_mean"], 2), _pct(p["selection_probability"]))
                 for p in a["generator_posteriors"]],
            ))
        out += ["", "optimization events (newest first):"]
        out.append(table(
            ["at", "event", "by", "ok", "generators updated", "detail"],
            [(_when(e["created_at"]), e["event_type"], e["created_by"], "yes" if e["success"] else "NO",
              e["generators_updated"], e["error_message"] or e["skipped_reason"] or
              (f"top {e['top_performer']}" if e["top_performer"] else None))
             for e in a["optimization_events"]],
        ) if a["optimization_events"] else "  none")
    if runs is not None:
        out += ["", "jobs (newest run):"]
        out.append(table(
            ["job", "status", "started (UTC)", "ended (UTC)", "seconds", "run id"],
            [(r["job"], r["status"], _when(r["start_time"]), _when(r["end_time"]), r["duration_s"],
              (r["run_id"] or "")[:8] or None) for r in runs],
        ))
    return "\n".join(out)


def _change_line(change: dict[str, Any]) -> str:
    old, new = change.get("old_weight"), change.get("new_weight")
    pct = change.get("change_percent")
    delta = f" ({pct:+.1f}%)" if pct is not None else ""
    status = ""
    if change.get("old_status") and change.get("old_status") != change.get("new_status"):
        status = f" [{change['old_status']} → {change['new_status']}]"
    return f"  {change['generator']}: {_pct(old)} → {_pct(new)}{delta}{status} — {change.get('reason')}"


def render_optimization(report: learned.OptimizationReport) -> str:
    mode = "dry run (nothing written)" if report.dry_run else ("written" if report.written else "nothing written")
    lines = [f"account {report.account_id}: {report.status} — {report.detail} [{mode}]"]
    if report.error:
        lines.append(f"  error: {report.error}")
    if report.posts_analysed:
        lines.append(f"  posts analysed: {report.posts_analysed}")
    if report.top_performer:
        lines.append(f"  top performer: {report.top_performer[0]} (F/1K {report.top_performer[1]:.2f})")
    if report.bottom_performer:
        lines.append(f"  bottom performer: {report.bottom_performer[0]} (F/1K {report.bottom_performer[1]:.2f})")
    verb = "would change" if report.dry_run else "changes"
    if report.changes:
        lines.append(f"  {verb} ({len(report.changes)}):")
        lines += [_change_line(c) for c in report.changes]
    else:
        lines.append(f"  no weight {'would change' if report.dry_run else 'changed'}")
    locked = sorted(g for g, s in report.statuses.items() if s == LOCKED)
    if locked:
        lines.append(f"  locked (kept as they are): {', '.join(locked)}")
    if report.event_id:
        lines.append(f"  logged as optimization event {report.event_id}")
    lines.append(weights_table(report.weights_before, report.weights_after, report.statuses))
    return "\n".join(lines)


def weights_table(before: dict[str, float], after: dict[str, float], statuses: dict[str, str]) -> str:
    names = sorted(set(before) | set(after), key=lambda n: (-after.get(n, before.get(n, 0.0)), n))
    return learned.markdown_table(
        ["generator", "status", "before", "after", "change"],
        [(n, statuses.get(n), _pct(before.get(n)), _pct(after.get(n)),
          None if abs(after.get(n, 0.0) - before.get(n, 0.0)) < 1e-12
          else f"{(after.get(n, 0.0) - before.get(n, 0.0)) * 100:+.2f} pts") for n in names],
    )


def render_control(report: learned.ControlReport) -> str:
    lines = [f"account {report.account_id}: {report.event_type} {report.generator} — {report.detail}",
             f"  logged as optimization event {report.event_id}"]
    lines.append(weights_table(report.weights_before, report.weights_after, report.statuses))
    return "\n".join(lines)


def dumps(value: Any) -> str:
    return json.dumps(jsonable(value), indent=2, ensure_ascii=False)


__all__ = [
    "CRITICAL", "DEGRADED", "HEALTHY", "INFO", "CycleEvent", "Finding", "GeneratorState", "HealthInput",
    "HealthRules", "HealthVerdict", "ModelState", "check_health", "collect_status", "evaluate_health", "job_runs",
    "list_accounts", "overall_status", "read_health_input", "render_control", "render_health",
    "render_optimization", "render_status", "resolve_accounts", "weights_table",
]
