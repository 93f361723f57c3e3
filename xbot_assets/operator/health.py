"""The health verdict of `xbot health` and `xbot status`: rules over plain data, a verdict with reasons out.

`evaluate_health` is a pure function over plain data (`HealthInput`, no warehouse, no Dagster): the rules of seed
004's monitoring (reference/original-xbot.md §8, `getSystemHealth` and `validateSystem`), each giving a reason when
it fires; `evaluate_jobs` judges the newest runs of the Dagster jobs the same way. `operator.status` reads the data
from the warehouse, `operator.runs` from the Dagster instance. The time the rules judge at is always passed in
(`choose_clock`: `--as-of`, else the wall clock, else the warehouse's own newest data time).

Health rules and their severities (a rule that does not fire says nothing):

  The time judged at: --as-of when given; else the wall clock, unless nothing was observed in the warehouse (a
  post published, metrics or a follower count collected) in the 24 h before it — a demo's simulated days or an
  imported history — then the warehouse's newest data time. The output says which clock it used.

  critical (the loop is broken, or planning would act on wrong data: act now)
    job_failed            the newest two finished runs of a learning job (refresh_job, learn_and_plan_job,
                          optimize_job, retrain_job) or of publish_job both failed (degraded after one failure).
    weights_missing       no learn.generator_weights rows: planning falls back to the default weights.
    weights_sum           the weights do not sum to 1 (tolerance 1e-9).
    locked_weight_moved   a locked or pinned generator no longer has the weight it was locked or set at.
    optimization_failed   the newest optimization cycle up to now is an optimization_failed event.
    no_recent_outcomes    an enabled account (act.accounts) has no outcome posted in the last 24 h.
    coverage              under 50% of the generators in use posted in the learning window (degraded under 80%).

  degraded (working, but something is off or stale: look soon)
    job_failed            the newest finished run of a job failed: the reason names the run and its step's error.
    alerts                act.alerts holds an alert naming the account from the day before the time judged at
                          (one of its learn or plan steps failed while the others went on, its publisher or
                          collector stopped on the platform or the budget, its language model is unavailable).
    data_clock            judged at the warehouse's newest data time, and the account is a real one (enabled, not
                          on the simulator): its loop writes every 10 to 30 minutes, so it seems not to run.
                          For a simulated or unregistered account this is only a note.
    coverage              under 80% of the generators in use posted in the learning window. Generators in use are
                          the active, locked and pinned ones with weight > 0; with fewer posts in the window than
                          generators, the share is of the posts (N posts can cover at most N generators). No post in
                          the window: not judged (no_recent_outcomes covers enabled accounts). An account that
                          draws its generators by posterior sampling concentrates on the best by design: its
                          coverage is only a note, and unused_generator judges it by P(sampling picks).
    below_floor           a non-disabled generator is below the 2% floor; the next cycle restores it.
    optimization_stale    no successful optimization event (weight_update or optimization_skipped) in the last
                          12 h while outcomes were posted or measured after the newest one. A cycle writes an event
                          only when its evidence changed, so with nothing new to learn from this is only a note.
    unused_generator      a generator in use has no post in the window although, at its weight w and the window's
                          N posts, that happens with probability (1 − w)^N < 5%: the planner seems not to follow the
                          weights. A likelier miss (a low weight, few posts) is only a note.
    model_below_baseline  the newest version of a model does not beat its baseline on the time-ordered holdout
                          (models that have not earned trust never block exploration, so this is not critical).
    few_generators        fewer than 10 generators are in use (active, locked or pinned; there are 12).
  A static account (act.accounts.policy 'static', the evaluation's and the demo's baseline) plans from the seed
  defaults and is not learned: the weight, coverage, optimization and model rules are replaced by one note
  (static_policy).

  The locks and the model cache (one verdict named "locks and cache"):
    lock_held    (degraded) a planning or publishing lock has been held longer than 20 minutes: its holder (host,
                 pid, since when) hangs or waits; no other run of that account can plan or publish meanwhile.
                 A lock held for less is a note, and so is a record whose holder died without releasing (the
                 lock itself ended with its holder; the next run replaces the record).
    redis        (degraded) XBOT_REDIS_URL is set but Redis does not answer within its timeouts (planning reads
                 the warehouse registry meanwhile), or Redis holds older model versions than the registry (the
                 next planning run or learn step republishes them).

  notes (severity "info", never change the verdict): a model never trained (planning uses the default weights and
  predictions), the likely misses above, staleness without new evidence, the data clock of a simulated account.

Verdict: critical if any critical finding, else degraded if any degraded finding, else healthy. Across accounts and
the jobs the worst verdict wins; no account at all is critical. `xbot health` exits 0 healthy, 1 degraded, 2
critical.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any

from xbot_assets.learned.models import MODEL_NAMES
from xbot_assets.learning.generator_weights import DISABLED, OptimizerSettings

HEALTHY = "healthy"
DEGRADED = "degraded"
CRITICAL = "critical"
INFO = "info"
_RANK = {HEALTHY: 0, DEGRADED: 1, CRITICAL: 2}
EXIT_CODES = dict(_RANK)

# Which clock the rules judge at (see the module docstring).
CLOCK_AS_OF, CLOCK_WALL, CLOCK_DATA = "as_of", "wall", "data"
# The jobs whose repeated failure stops the loop from learning or from posting: critical on the second failure.
CRITICAL_JOBS = ("refresh_job", "learn_and_plan_job", "optimize_job", "retrain_job", "publish_job")
FAILURE = "FAILURE"  # Dagster's run status of a failed run
FINISHED = ("SUCCESS", "FAILURE", "CANCELED")  # a queued or running run has no verdict yet
JOBS_VERDICT = "dagster jobs"  # the verdict's name in place of an account
INFRA_VERDICT = "locks and cache"  # the verdict of the locks and the model cache


@dataclass(frozen=True)
class HealthRules:
    """The thresholds of the rules (the seed's numbers; the data clock's is ours)."""

    coverage_critical: float = 0.50
    coverage_degraded: float = 0.80
    min_generators: int = 10
    optimization_max_age: timedelta = timedelta(hours=12)
    outcomes_max_age: timedelta = timedelta(hours=24)
    unused_max_chance: float = 0.05
    floor: float = OptimizerSettings().floor
    # A running loop observes something every 10 to 30 minutes (metrics, follower counts): a warehouse silent this
    # long before the wall clock holds a past (simulated or imported), and is judged at its own newest data time.
    data_clock_after: timedelta = timedelta(hours=24)


@dataclass(frozen=True)
class Clock:
    """The time the rules judge at, and where it came from."""

    now: datetime
    source: str  # as_of | wall | data
    wall: datetime
    newest_data_at: datetime | None = None

    @property
    def cutoff(self) -> datetime:
        """The newest stored row the rules read. Judged at the data's time, the operator's actions since (taken on
        the wall clock: a lock, an optimization) still count; --as-of replays the past, so nothing after it does."""
        return max(self.now, self.wall) if self.source == CLOCK_DATA else self.now

    @property
    def lag(self) -> timedelta | None:
        """How far the data clock lies from the wall clock (None for the other clocks)."""
        return self.wall - self.now if self.source == CLOCK_DATA else None

    def describe(self) -> str:
        at = f"{self.now:%Y-%m-%d %H:%M} UTC"
        if self.source == CLOCK_AS_OF:
            return f"as of {at} (--as-of)"
        if self.source == CLOCK_WALL:
            return f"as of {at} (the wall clock)"
        side = "before" if self.now <= self.wall else "after"
        return (f"as of {at}, the warehouse's newest data ({_span(abs(self.wall - self.now))} {side} the wall clock, "
                f"{self.wall:%Y-%m-%d %H:%M} UTC: a simulated or imported past; --as-of judges at another time)")

    def as_dict(self) -> dict[str, Any]:
        return {"now": self.now, "source": self.source, "wall_clock": self.wall, "newest_data_at": self.newest_data_at,
                "description": self.describe()}


def choose_clock(wall: datetime, newest_data_at: datetime | None, as_of: datetime | None = None,
                 rules: HealthRules | None = None) -> Clock:
    """--as-of, else the wall clock, else (the warehouse silent for a day around it) the newest data time."""
    rules = rules or HealthRules()
    if as_of is not None:
        return Clock(as_of, CLOCK_AS_OF, wall, newest_data_at)
    if newest_data_at is not None and abs(wall - newest_data_at) > rules.data_clock_after:
        return Clock(newest_data_at, CLOCK_DATA, wall, newest_data_at)
    return Clock(wall, CLOCK_WALL, wall, newest_data_at)


@dataclass(frozen=True)
class JobRun:
    """One finished or running Dagster run of a job."""

    job: str
    run_id: str
    status: str  # Dagster's run status: SUCCESS, FAILURE, CANCELED, STARTED, QUEUED, ...
    error: str | None = None  # a failed run's step error (the user code's own message)


@dataclass(frozen=True)
class GeneratorState:
    name: str
    weight: float
    status: str  # active | locked | pinned | disabled
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
    expected_models: tuple[str, ...] = MODEL_NAMES
    last_outcome_at: datetime | None = None  # newest posted_at in analytics.outcomes
    last_measured_at: datetime | None = None  # newest metric collection in analytics.outcomes
    sum_problems: tuple[str, ...] = ()  # weight_sum_problems for this account
    floor_problems: tuple[str, ...] = ()  # floor_problems for this account
    locked_problems: tuple[str, ...] = ()  # locked_weight_problems for this account
    connector: str | None = None  # act.accounts.connector; None: not registered
    data_clock_lag: timedelta | None = None  # judged at the warehouse's newest data time: how far from the wall clock
    recent_alerts: tuple[str, ...] = ()  # act.alerts rows naming this account in the day before `now`, newest first
    static: bool = False  # act.accounts.policy is 'static': plans from the seed defaults and is not learned
    # P(posterior sampling picks) per generator when the account draws its generators that way (its generator_policy
    # is 'posterior' and it has posteriors, as the planner decides); None: it draws them by the weights.
    sampling: dict[str, float] | None = None

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


def _span(delta: timedelta) -> str:
    hours = delta.total_seconds() / 3600
    return f"{hours:.1f} h" if hours < 48 else f"{hours / 24:.1f} days"


def _ago(now: datetime, then: datetime) -> str:
    return f"{_span(now - then)} ago"


def _fmt(value: float | None) -> str:
    return "—" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.4g}"


def _learning_findings(data: HealthInput, rules: HealthRules, fire: Callable[[str, str, str], None],
                       window: str) -> None:
    """The rules on what was learned: weights, coverage, optimization, models."""
    now = data.now
    # Weights: present, summing to 1, above the floor, locks honoured.
    if not data.generators:
        fire("weights_missing", CRITICAL, "no generator weights stored: planning falls back to the default weights "
             "(has the learn group run for this account?)")
    for problem in data.sum_problems:
        fire("weights_sum", CRITICAL, f"weights do not sum to 1: {problem}")
    for problem in data.locked_problems:
        fire("locked_weight_moved", CRITICAL, f"a lock was not honoured: {problem}")
    for problem in data.floor_problems:
        fire("below_floor", DEGRADED, f"below the {rules.floor:.0%} floor: {problem}")

    in_use = [g for g in data.generators if g.in_use]
    if data.generators and len(in_use) < rules.min_generators:
        fire("few_generators", DEGRADED, f"only {len(in_use)} generators are in use with a weight "
             f"(fewer than {rules.min_generators} of the 12)")

    # Coverage: how many generators in use posted in the window. Posterior sampling concentrates on the best
    # generator by design, so coverage is no goal there; a generator it should have drawn still is.
    posts = data.window_posts
    if in_use and posts > 0:
        covered = sum(1 for g in in_use if g.posts_in_window > 0)
        if data.sampling is not None:
            fire("coverage", INFO, f"coverage not judged: generators are drawn by posterior sampling, which "
                 f"concentrates on the best ({covered} of {len(in_use)} posted in the {window})")
        else:
            possible = min(len(in_use), posts)
            share = covered / possible
            text = (f"generator coverage {covered}/{possible} ({share:.0%}) in the {window} "
                    f"({len(in_use)} generators in use, {posts} posts)")
            if share < rules.coverage_critical:
                fire("coverage", CRITICAL, f"{text}: below {rules.coverage_critical:.0%}")
            elif share < rules.coverage_degraded:
                fire("coverage", DEGRADED, f"{text}: below {rules.coverage_degraded:.0%}")

        # Unused generators: no post although the distribution the planner draws from says it should have had some.
        for g in in_use:
            if data.sampling is None:
                p, kind, drawn_by, described = g.weight, "weight", "weights", f"{g.status}, weight {g.weight:.1%}"
            else:
                p = data.sampling.get(g.name, 0.0)
                kind, drawn_by, described = "probability", "posteriors", f"P(sampling picks) {p:.1%}"
            if g.posts_in_window > 0 or p <= 0:
                continue
            chance = (1.0 - min(p, 1.0)) ** posts
            text = (f"{g.name} ({described}) has no post in the {window}; at that {kind} {posts} posts miss it "
                    f"with probability {'< 0.1%' if chance < 0.001 else f'{chance:.1%}'}")
            if chance < rules.unused_max_chance:
                fire("unused_generator", DEGRADED, f"{text}: the planner seems not to follow the {drawn_by}")
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
            fire("model_missing", INFO, f"no {name} trained yet (too few samples?): planning uses the default "
                 "predictions")


def evaluate_health(data: HealthInput, rules: HealthRules = HealthRules()) -> HealthVerdict:
    """Every rule of the module docstring over one account's data; the verdict is the worst severity that fired."""
    findings: list[Finding] = []

    def fire(rule: str, severity: str, reason: str) -> None:
        findings.append(Finding(rule, severity, reason))

    now = data.now
    window = f"{data.window_days}-day learning window"

    # The clock: judged at the warehouse's own time, which is only right for data that lies in the past on purpose.
    if data.data_clock_lag is not None:
        lag = _span(abs(data.data_clock_lag))
        if data.enabled and data.connector not in (None, "simulator"):
            fire("data_clock", DEGRADED, f"nothing observed for {lag} before the wall clock (newest data "
                 f"{now:%Y-%m-%d %H:%M}), though this account is live on {data.connector}: is its loop running? "
                 "Judged at the newest data time; --as-of judges at another")
        else:
            fire("data_clock", INFO, f"judged at the warehouse's newest data time {now:%Y-%m-%d %H:%M}, {lag} from the "
                 "wall clock (simulated or imported data)")

    # Alerts the steps recorded for this account (a failed learn or plan step, a stopped publisher or model).
    if data.recent_alerts:
        fire("alerts", DEGRADED, f"{len(data.recent_alerts)} alert(s) in the last 24 h, newest: "
             f"{_one_line(data.recent_alerts[0], 240)}")

    if data.static:
        # The seed defaults are its policy: there are no learned weights, optimization or models to judge.
        fire("static_policy", INFO, "static policy: plans from the seed defaults and is not learned, so the weight, "
             "coverage, optimization and model rules do not apply")
    else:
        _learning_findings(data, rules, fire, window)

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


def _one_line(text: str, limit: int = 300) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def evaluate_jobs(runs: Iterable[JobRun], critical_jobs: Iterable[str] = CRITICAL_JOBS) -> HealthVerdict:
    """The jobs' verdict from their runs (newest first): a failed newest finished run is degraded, the newest two
    failed is critical for the learning and publishing jobs. Runs still queued or running are not judged yet."""
    critical_jobs = set(critical_jobs)
    by_job: dict[str, list[JobRun]] = {}
    for run in runs:
        if run.status in FINISHED:
            by_job.setdefault(run.job, []).append(run)
    findings = []
    for job, finished in by_job.items():
        newest = finished[0]
        if newest.status != FAILURE:
            continue
        error = _one_line(newest.error or "no step error recorded (see the run in the Dagster UI)")
        if len(finished) > 1 and finished[1].status == FAILURE:
            severity = CRITICAL if job in critical_jobs else DEGRADED
            text = f"{job} failed twice in a row: runs {newest.run_id} and {finished[1].run_id}; newest error: {error}"
        else:
            severity, text = DEGRADED, f"the newest run of {job} failed: run {newest.run_id}: {error}"
        findings.append(Finding("job_failed", severity, text))
    status = max((f.severity for f in findings), key=_RANK.__getitem__, default=HEALTHY)
    return HealthVerdict(JOBS_VERDICT, status, tuple(findings))


def worst_status(statuses: Iterable[str]) -> str:
    """The worst of the accounts' statuses; no account at all is critical."""
    statuses = list(statuses)
    return max(statuses, key=_RANK.__getitem__) if statuses else CRITICAL


def overall_status(verdicts: Iterable[HealthVerdict]) -> str:
    return worst_status(v.status for v in verdicts)


def health_rules_text() -> str:
    """The rules and their severities, as this module's docstring states them (for `xbot health --help`)."""
    marker = "Health rules and their severities (a rule that does not fire says nothing):\n\n"
    return __doc__.split(marker, 1)[1] if marker in __doc__ else __doc__


NO_ACCOUNTS_REASON = "no account in act.accounts or learn.generator_weights: nothing is being learned"

