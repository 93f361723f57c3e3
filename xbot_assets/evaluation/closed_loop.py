"""The closed loop on simulated time: plan → generate → gate → publish → collect → learn, day after day.

Each simulated day starts with one Dagster run of the refresh job at the day's first instant (dbt rebuilds the marts,
the learn assets learn, `act/planned_posts` plans the day for every account). The day then happens: the act steps
the production schedules run (publish the due posts at their times, read metrics on the collector's ticks, read the
follower count every 30 minutes) are called at their simulated times, and what they wrote is reported to Dagster
as materializations of the raw assets. The next day's run learns from it.

The collector's ticks are hourly here (production: every 10 minutes): a post's 1-hour snapshot is read within the
hour after it is due. Reads of a day are made after the day's posts are published; that gives the same numbers as
reading in real time, because a counter or a follower count at time t depends only on what was published before t.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import dagster as dg
import pandas as pd

from xbot_assets.acting.accounts import Account, register_account
from xbot_assets.acting.collecting import collect_metrics, snapshot_followers
from xbot_assets.acting.publishing import publish_due
from xbot_assets.clock import utc_naive
from xbot_assets.connectors.simulator import SimulatorConnector, reset_simulated_account
from xbot_assets.ingest.records import LoadReport
from xbot_assets.simulation.scenario import Scenario
from xbot_assets.warehouse.connection import Warehouse

COLLECT_EVERY = timedelta(hours=1)
FOLLOWERS_EVERY = timedelta(minutes=30)
ACCOUNT_TABLES = ("metric_snapshots", "follower_snapshots", "posts", "quarantine")
LEARNED_TABLES = ("bandit_arms", "model_registry", "generator_weights", "generator_performance_history",
                  "optimization_events", "generator_posteriors")


class LoopError(RuntimeError):
    pass


@dataclass
class LoopResult:
    scenario: Scenario
    accounts: list[Account]
    days: int
    connectors: dict[str, SimulatorConnector]
    weights: pd.DataFrame               # at, account_id, generator_name, weight (after each day's learning)
    run_ids: list[str] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)
    step_seconds: dict[str, float] = field(default_factory=dict)  # per Dagster step, run overhead, per act step
    candidates: int = 0  # every candidate the planner wrote for the accounts (queued, posted or skipped)

    def simulated_posts(self, account_id: str) -> pd.DataFrame:
        """What the simulated platform knows of the account's posts: the truth and the final totals."""
        posts = self.connectors[account_id].simulator.posts
        return pd.DataFrame([p.to_dict() for p in posts]) if posts else pd.DataFrame()


def realized_f_per_1k(posts: pd.DataFrame) -> float | None:
    """The F/1K simulated posts (`LoopResult.simulated_posts`) earned: Σ follows / Σ impressions × 1000."""
    if posts.empty or posts["impressions"].sum() <= 0:
        return None
    return float(1000.0 * posts["follows"].sum() / posts["impressions"].sum())


def reset_account(warehouse: Warehouse, account_id: str) -> None:
    """Forget an account's simulated history, learned state and platform record (a new run starts clean)."""
    with warehouse.connect() as conn:
        for table in ACCOUNT_TABLES:
            conn.execute(f"delete from raw.{table} where account_id = ?", [account_id])
        for table in LEARNED_TABLES:
            conn.execute(f"delete from learn.{table} where account_id = ?", [account_id])
        conn.execute("delete from act.accounts where account_id = ?", [account_id])
    reset_simulated_account(warehouse, account_id)


def _ticks(start: datetime, end: datetime, every: timedelta) -> list[datetime]:
    out, t = [], start + every
    while t <= end:
        out.append(t)
        t += every
    return out


def _weights_now(warehouse: Warehouse, accounts: list[Account], at: datetime) -> list[tuple]:
    rows = []
    with warehouse.connect() as conn:
        for account in accounts:
            if account.policy == "static":
                continue
            if account.generator_policy == "posterior":
                found = conn.fetchall(
                    "select generator_name, selection_probability from learn.generator_posteriors "
                    "where account_id = ?", [account.account_id])
            else:
                found = conn.fetchall(
                    "select generator_name, weight from learn.generator_weights where account_id = ?",
                    [account.account_id])
            rows += [(at, account.account_id, g, float(w)) for g, w in found]
    return rows


def run_closed_loop(
    warehouse: Warehouse,
    scenario: Scenario,
    accounts: list[Account],
    days: int,
    *,
    instance: dg.DagsterInstance | None = None,
    job_name: str = "daily_loop_job",
    first_job_name: str = "learn_and_plan_job",
    tags: dict[str, str] | None = None,
    progress: Callable[[int, float], None] | None = None,
    final_job_name: str | None = None,
) -> LoopResult:
    """Run `days` simulated days for the given simulator accounts, starting clean at the scenario's start.

    The first day's run is `first_job_name` (everything the day's data reaches, the staging views included), each
    later day's `job_name` (by default `daily_loop_job`: what the next plan reads, without the checks, the views
    the first run made, the analysts' marts and the strategy in words — none changes a decision). With
    `final_job_name`, one more run (e.g.
    `refresh_job`, checks included) learns from the last day and builds the rest, so the stored models, weights,
    marts and check results describe the whole run. The loop owns the warehouse for
    its duration: one session keeps DuckDB's database open for its many small transactions (dbt runs in this
    process and shares it)."""
    from xbot_assets.runtime.instance import report_raw_materialization, run_job, step_failures

    if days < 1:
        raise ValueError("days must be at least 1")
    for account in accounts:
        if account.connector != "simulator":
            raise ValueError(f"the simulated loop needs simulator accounts; {account.account_id} uses "
                             f"{account.connector}")
    start = utc_naive(scenario.start)
    seconds: dict[str, float] = defaultdict(float)
    steps_seconds: dict[str, float] = defaultdict(float)
    weights: list[tuple] = []
    run_ids: list[str] = []

    def learn_and_plan(now: datetime, day: int, job: str = job_name) -> None:
        began = time.perf_counter()
        result = run_job(job, now=now, on_instance=instance, console_log_level="WARNING",
                         accounts=[a.account_id for a in accounts],
                         tags={"xbot/trigger": "closed-loop", "xbot/day": str(day), **(tags or {})})
        elapsed = time.perf_counter() - began
        steps = 0.0
        for event in result.all_events:
            if event.event_type_value == "STEP_SUCCESS":
                step = event.event_specific_data.duration_ms / 1000
                steps_seconds[event.step_key] += step
                steps += step
        seconds["dagster runs (dbt, learn, plan)"] += elapsed
        steps_seconds["run overhead (Dagster events, process-level)"] += elapsed - steps
        run_ids.append(result.run_id)
        if not result.success:
            raise LoopError(f"day {day}: run {result.run_id} failed: "
                            + ("; ".join(step_failures(result)) or "the run failed"))
        weights.extend(_weights_now(warehouse, accounts, now))

    warehouse.migrate()
    with warehouse.session():
        for account in accounts:
            reset_account(warehouse, account.account_id)
            register_account(warehouse, account, start)
        connectors = {a.account_id: SimulatorConnector(warehouse, a.account_id, scenario, a.sim_seed)
                      for a in accounts}
        for account in accounts:
            snapshot_followers(warehouse, connectors[account.account_id], account, [start])
        for day in range(days):
            day_start, day_end = start + timedelta(days=day), start + timedelta(days=day + 1)
            learn_and_plan(day_start, day, first_job_name if day == 0 else job_name)
            began = time.perf_counter()
            written = {t: LoadReport(f"raw.{t}") for t in ("posts", "metric_snapshots", "follower_snapshots")}
            for account in accounts:
                connector = connectors[account.account_id]
                with warehouse.connect() as conn:
                    due = sorted({utc_naive(pd.Timestamp(r[0]).to_pydatetime()) for r in conn.fetchall(
                        "select scheduled_at from raw.posts where account_id = ? and status = 'queued' "
                        "and scheduled_at >= ? and scheduled_at < ?", [account.account_id, day_start, day_end])})
                t0 = time.perf_counter()
                for at in due:
                    written["posts"].merge(publish_due(warehouse, connector, account, at).posts)
                t1 = time.perf_counter()
                written["metric_snapshots"].merge(collect_metrics(
                    warehouse, connector, account, _ticks(day_start, day_end, COLLECT_EVERY)))
                t2 = time.perf_counter()
                written["follower_snapshots"].merge(snapshot_followers(
                    warehouse, connector, account, _ticks(day_start, day_end, FOLLOWERS_EVERY)))
                steps_seconds["act: publish"] += t1 - t0
                steps_seconds["act: collect metrics"] += t2 - t1
                steps_seconds["act: read followers"] += time.perf_counter() - t2
            for table, report in written.items():
                report_raw_materialization(table, {**report.as_metadata(), "simulated day": day},
                                           f"simulated day {day}: written by the act steps", on_instance=instance)
            seconds["act steps (publish, collect, followers)"] += time.perf_counter() - began
            if progress:
                progress(day, sum(seconds.values()))
        if final_job_name:
            learn_and_plan(start + timedelta(days=days), days, final_job_name)
        with warehouse.connect() as conn:
            candidates = conn.scalar(
                f"select count(*) from raw.posts where account_id in ({', '.join('?' for _ in accounts)})",
                [a.account_id for a in accounts])
    return LoopResult(scenario, accounts, days, connectors,
                      pd.DataFrame(weights, columns=["at", "account_id", "generator_name", "weight"]), run_ids,
                      dict(seconds), dict(steps_seconds), int(candidates))
