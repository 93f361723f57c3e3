"""`xbot demo`: simulate an account on the embedded default and run the whole graph on what happened.

The simulated account posts with the static seed policy (generator weights of seed 004, content types in turn, the
same hours every day); its posts, metric snapshots and follower snapshots go through the same validated writers as a
user's import, are reported to Dagster as materializations of the raw tables, and the refresh job then rebuilds
every model from them at the simulated "now".
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np

from xbot_assets.acting.offline_generator import generate_offline
from xbot_assets.acting.text_features import expertise_score, novelty_score, quality_score, viral_score
from xbot_assets.clock import SimulatedClock
from xbot_assets.ingest.load import write_follower_snapshots, write_metric_snapshots, write_posts
from xbot_assets.learning.generator_weights import DEFAULT_WEIGHTS
from xbot_assets.settings import WarehouseTarget
from xbot_assets.simulation.audience import AudienceSimulator
from xbot_assets.simulation.scenario import Scenario, load_scenario
from xbot_assets.warehouse import Warehouse

# Ages at which the collector reads a post's counters, and how often the follower count is read.
SNAPSHOT_AGES_HOURS = (1, 2, 6, 12, 24, 48)
FOLLOWER_SNAPSHOT_EVERY = timedelta(minutes=30)
RECENT_WINDOW = timedelta(days=7)


@dataclass
class SimulatedHistory:
    posts: list[dict]
    metric_snapshots: list[dict]
    follower_snapshots: list[dict]
    end: datetime


def slot_hours(posts_per_day: int) -> list[int]:
    """Evenly spread local posting hours, starting at 09:00."""
    step = 14 / max(1, posts_per_day)
    return [int(9 + round(i * step)) % 24 for i in range(posts_per_day)]


def simulate_static_history(scenario: Scenario, days: int, account_id: str, seed: int | None = None) -> SimulatedHistory:
    sim = AudienceSimulator(scenario, seed)
    rng = np.random.default_rng([sim.seed, 4242])
    generators = [g for g in DEFAULT_WEIGHTS if g in scenario.generators] or sorted(scenario.generators)
    weights = np.array([DEFAULT_WEIGHTS.get(g, 0.0) for g in generators], dtype=float)
    weights = weights / weights.sum() if weights.sum() > 0 else np.full(len(generators), 1 / len(generators))
    content_types = sorted(scenario.content_types)
    start_local = scenario.start.astimezone(scenario.tz)
    posts: list[dict] = []
    texts: list[tuple[datetime, str]] = []
    index = 0
    for day in range(days):
        for hour in slot_hours(scenario.posts_per_day):
            local = (start_local + timedelta(days=day)).replace(hour=hour, minute=0, second=0, microsecond=0)
            posted_at = local.astimezone(scenario.start.tzinfo).replace(tzinfo=None)
            generator = str(rng.choice(generators, p=weights))
            content_type = content_types[index % len(content_types)]
            thread = content_type == "educational_thread"
            draft = generate_offline(generator, content_type, rng, thread=thread)
            recent = [t for at, t in texts if posted_at - at <= RECENT_WINDOW]
            quality = quality_score(draft.text, recent)
            decision_id = f"{account_id}-sim-{index:05d}"
            tweet_id = sim.publish(decision_id, index, posted_at, content_type, generator, quality.value, thread)
            posts.append({
                "decision_id": decision_id, "account_id": account_id, "status": "posted",
                "decision_type": "thread" if thread else "single", "content": draft.text,
                "thread_parts": list(draft.thread_parts) or None, "content_type": content_type,
                "generator_name": generator, "topic": draft.topic, "quality_score": quality.value,
                "novelty_score": novelty_score(draft.text, recent), "expertise_score": expertise_score(draft.text),
                "viral_score": viral_score(draft.text), "generator_propensity": float(weights[generators.index(generator)]),
                "content_propensity": 1.0, "timing_propensity": 1.0, "scheduled_at": posted_at,
                "posted_at": posted_at, "tweet_id": tweet_id, "source": "simulated", "created_at": posted_at,
            })
            texts.append((posted_at, draft.text))
            index += 1
    end = (scenario.start + timedelta(days=days)).replace(tzinfo=None)
    snapshots = []
    for post in posts:
        for age in SNAPSHOT_AGES_HOURS:
            at = post["posted_at"] + timedelta(hours=age)
            if at > end:
                break
            snapshots.append({"decision_id": post["decision_id"], "account_id": account_id, "collected_at": at,
                              "source": "simulated", **sim.metrics_at(post["decision_id"], at)})
    followers = []
    at = scenario.start.replace(tzinfo=None)
    while at <= end:
        followers.append({"account_id": account_id, "collected_at": at, "followers": sim.followers_at(at),
                          "source": "simulated"})
        at += FOLLOWER_SNAPSHOT_EVERY
    return SimulatedHistory(posts, snapshots, followers, end)


def reset_account(wh: Warehouse, account_id: str) -> None:
    """The demo owns its account's simulated rows: a second demo starts from a clean slate, not on top of the first."""
    with wh.connect() as conn:
        for table in ("metric_snapshots", "follower_snapshots", "posts", "quarantine"):
            conn.execute(f"delete from raw.{table} where account_id = ?", [account_id])


def run_demo(days: int = 30, scenario: str | None = None, account_id: str = "demo", seed: int | None = None) -> int:
    from xbot_assets.cli import _report_run
    from xbot_assets.runtime import report_raw_materialization, run_job

    started = time.perf_counter()
    sc = load_scenario(scenario or "default")
    wh = Warehouse(WarehouseTarget.from_env())
    print(f"xbot demo: scenario {sc.name!r}, {days} simulated days, account {account_id!r}, warehouse {wh.target.describe()}")
    wh.migrate()
    reset_account(wh, account_id)
    history = simulate_static_history(sc, days, account_id, seed)
    clock = SimulatedClock(history.end)
    with wh.connect() as conn:
        reports = [
            write_posts(conn, history.posts, now=clock.now(), source_name="simulator"),
            write_metric_snapshots(conn, history.metric_snapshots, now=clock.now(), source_name="simulator"),
            write_follower_snapshots(conn, history.follower_snapshots, now=clock.now(), source_name="simulator"),
        ]
    for report in reports:
        print(report.summary())
        report_raw_materialization(report.table.split(".")[1], report.as_metadata(), "xbot demo simulator")
    result = run_job("refresh_job", now=clock.now(), tags={"xbot/trigger": "demo", "xbot/account": account_id})
    status = _report_run(result, time.perf_counter() - started)
    if status == 0:
        print_summary(wh, account_id, sc, clock.now())
    print(f"demo finished in {time.perf_counter() - started:.1f}s")
    return status


def print_summary(wh: Warehouse, account_id: str, scenario: Scenario, now: datetime) -> None:
    day = max(0, (now - scenario.start.replace(tzinfo=None)).days - 1)
    truth = scenario.truth_at(day)
    with wh.connect() as conn:
        totals = conn.fetchone(
            "select count(*), sum(impressions), sum(followers_gained), "
            "sum(case when passes_learning_gate then 1 else 0 end) from analytics.outcomes where account_id = ?",
            [account_id],
        )
        gens = conn.fetch_df(
            "select generator_name, posts, impressions, followers_gained, f_per_1k, tier "
            "from analytics.generator_performance where account_id = ? and time_window = 'all_time' "
            "order by f_per_1k desc nulls last",
            [account_id],
        )
    posts, impressions, followers, gated = totals
    f1k = 1000 * (followers or 0) / impressions if impressions else float("nan")
    print(f"\n{posts} posts, {gated} past the learning gate, {impressions or 0:,} impressions, "
          f"{followers or 0:.1f} followers attributed: F/1K {f1k:.2f}")
    print(f"{'generator':<14} {'posts':>5} {'F/1K measured':>13} {'F/1K true':>9}  tier")
    for row in gens.itertuples():
        true = truth.generators.get(row.generator_name, float("nan"))
        measured = "—" if row.f_per_1k is None or row.f_per_1k != row.f_per_1k else f"{row.f_per_1k:.2f}"
        print(f"{row.generator_name:<14} {row.posts:>5} {measured:>13} {true:>9.2f}  {row.tier}")
