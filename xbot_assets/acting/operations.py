"""The act steps on a warehouse: plan, publish the due posts, collect metrics, snapshot followers.

The Dagster assets and jobs of the act group call these, and so does the simulated closed loop (at the simulated
times the production schedules would have run them). Every row goes through the validated raw writers, so what a
connector returns is checked like a user's import; each step returns LoadReports for the raw tables it wrote, which
the caller reports to Dagster as materializations of the raw assets.

Settings (environment): XBOT_MAX_POSTS_PER_HOUR (2), XBOT_MAX_POSTS_PER_DAY (24), XBOT_MIN_QUALITY (0.6),
XBOT_MIN_PREDICTED_ER (0.035), XBOT_MIN_FOLLOW_PROB (0.5), XBOT_ATTEMPTS_PER_SLOT (3), XBOT_TIMEZONE (UTC),
XBOT_UCB_C (1.0), XBOT_PLAN_SEED (0). Per account (act.accounts): connector, policy, generator policy, posts a day.
"""

from __future__ import annotations

import json
import os
import zlib
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

from xbot_assets import learned
from xbot_assets.acting.lock import exclusive
from xbot_assets.acting.planner import (
    DEFAULT_CONTENT_TYPES,
    GENERATOR_POLICIES,
    POLICIES,
    Candidate,
    ModelView,
    PlanningState,
    PlanSettings,
    plan_day,
)
from xbot_assets.clock import utc_naive
from xbot_assets.connectors.base import Connector, ConnectorError, Publication
from xbot_assets.ingest.load import LoadReport, write_follower_snapshots, write_metric_snapshots, write_posts
from xbot_assets.learning.generator_posterior import generator_posteriors
from xbot_assets.learning.generator_weights import DEFAULT_WEIGHTS
from xbot_assets.learning.predictors import ENGAGEMENT_MODEL, FOLLOW_MODEL, SOURCE_SEED_DEFAULT
from xbot_assets.learning.timing_arms import reward_scale
from xbot_assets.settings import env_float, env_int
from xbot_assets.values import to_python
from xbot_assets.warehouse import Connection, Warehouse

# Ages (hours after posting) at which a post's counters are read; the collect schedule checks every 10 minutes.
SNAPSHOT_AGES_HOURS = (1, 2, 6, 12, 24, 48, 168)
RECENT_DAYS = 7
STALE_AFTER = timedelta(hours=1)
METRICS_BATCH = 100  # the X API reads at most 100 ids per request
CONNECTORS = ("simulator",)


# ---------------------------------------------------------------------------------------------------------------------
# Accounts


@dataclass(frozen=True)
class Account:
    account_id: str
    connector: str = "simulator"
    scenario: str | None = "default"
    sim_seed: int | None = None
    policy: str = "learned"
    generator_policy: str = "weights"
    posts_per_day: int = 4
    enabled: bool = True

    def __post_init__(self) -> None:
        if self.connector not in CONNECTORS:
            raise ValueError(f"connector must be one of {CONNECTORS}, got {self.connector!r}")
        if self.policy not in POLICIES:
            raise ValueError(f"policy must be one of {POLICIES}, got {self.policy!r}")
        if self.generator_policy not in GENERATOR_POLICIES:
            raise ValueError(f"generator_policy must be one of {GENERATOR_POLICIES}, got {self.generator_policy!r}")


_ACCOUNT_COLUMNS = ("account_id", "connector", "scenario", "sim_seed", "policy", "generator_policy", "posts_per_day",
                    "enabled")


def register_account(warehouse: Warehouse, account: Account, now: datetime) -> None:
    """Add or update an account xbot acts for (idempotent)."""
    with warehouse.connect() as conn:
        conn.insert_rows(
            "act.accounts", (*_ACCOUNT_COLUMNS, "updated_at"),
            [[getattr(account, c) for c in _ACCOUNT_COLUMNS] + [utc_naive(now)]],
            conflict_columns=("account_id",), update_columns=(*_ACCOUNT_COLUMNS[1:], "updated_at"),
        )


def accounts(conn: Connection, enabled_only: bool = True) -> list[Account]:
    rows = conn.fetchall(
        f"select {', '.join(_ACCOUNT_COLUMNS)} from act.accounts"
        + (" where enabled" if enabled_only else "") + " order by account_id"
    )
    return [Account(*[r[0], r[1], r[2], None if r[3] is None else int(r[3]), r[4], r[5], int(r[6]), bool(r[7])])
            for r in rows]


def plan_settings(account: Account) -> PlanSettings:
    return PlanSettings(
        posts_per_day=account.posts_per_day,
        max_posts_per_hour=env_int("XBOT_MAX_POSTS_PER_HOUR", 2),
        max_posts_per_day=env_int("XBOT_MAX_POSTS_PER_DAY", 24),
        min_quality=env_float("XBOT_MIN_QUALITY", 0.6),
        min_predicted_er=env_float("XBOT_MIN_PREDICTED_ER", 0.035),
        min_follow_probability=env_float("XBOT_MIN_FOLLOW_PROB", 0.5),
        attempts_per_slot=env_int("XBOT_ATTEMPTS_PER_SLOT", 3),
        policy=account.policy,
        generator_policy=account.generator_policy,
        ucb_c=env_float("XBOT_UCB_C", 1.0),
        timezone=_timezone(),
    )


def _timezone() -> str:
    return os.environ.get("XBOT_TIMEZONE", "UTC")


# ---------------------------------------------------------------------------------------------------------------------
# Planning


@dataclass
class PlanReport:
    account_id: str
    candidates: list[Candidate]
    posts: LoadReport
    models: str
    reasons: Counter = field(default_factory=Counter)

    @property
    def queued(self) -> int:
        return sum(c.status == "queued" for c in self.candidates)

    @property
    def skipped(self) -> int:
        return sum(c.status == "skipped" for c in self.candidates)


def _model_view(document: dict, source: str) -> ModelView:
    metrics = document.get("metrics") or {}
    if source == SOURCE_SEED_DEFAULT or document.get("source") == SOURCE_SEED_DEFAULT:
        return ModelView(document, False, "seed default, not learned yet")
    if not document.get("trained"):
        return ModelView(document, False, f"not trained ({document.get('reason')})")
    if metrics.get("beats_baseline") is not True:
        return ModelView(document, False, "does not beat its baseline on the holdout yet")
    return ModelView(document, True, "trusted")


def load_planning_state(
    warehouse: Warehouse, account: Account, settings: PlanSettings, now: datetime, redis_url: str | None = None,
) -> tuple[PlanningState, str]:
    """What planning reads for one account; the static policy reads no learned state at all."""
    static = settings.policy == "static"
    # load_models opens its own (read-only) connection: it runs before ours is open.
    models = None if static else learned.load_models(warehouse, account.account_id, redis_url)
    if models is None:
        from xbot_assets.learning.predictors import seed_default_models

        ridge, logistic = seed_default_models(list(settings.content_types))
        engagement, follow = _model_view(ridge, SOURCE_SEED_DEFAULT), _model_view(logistic, SOURCE_SEED_DEFAULT)
        models_detail = "static policy: seed default models, never gating"
    else:
        engagement = _model_view(models.engagement, models.sources[ENGAGEMENT_MODEL])
        follow = _model_view(models.follow, models.sources[FOLLOW_MODEL])
        models_detail = models.detail
    aid = account.account_id
    with warehouse.connect() as conn:
        has_arms = not static and conn.table_exists("learn", "bandit_arms")
        content = conn.fetch_df(
            "select arm_value as content_type, alpha, beta from learn.bandit_arms "
            "where account_id = ? and scope = 'content' order by arm_value", [aid]) if has_arms else pd.DataFrame(
            columns=["content_type", "alpha", "beta"])
        timing = conn.fetch_df(
            "select arm_value, plays, mean_reward from learn.bandit_arms where account_id = ? and scope = 'timing'",
            [aid]) if has_arms else pd.DataFrame(columns=["arm_value", "plays", "mean_reward"])
        timing_stats = pd.DataFrame({
            "hour": pd.to_numeric(timing["arm_value"]).astype(int),
            "plays": pd.to_numeric(timing["plays"]).astype(float),
            "mean_reward": pd.to_numeric(timing["mean_reward"]).astype(float),
        }) if len(timing) else pd.DataFrame({"hour": range(24), "plays": 0.0, "mean_reward": np.nan})
        scale = 1.0
        if not static and conn.table_exists("analytics", "outcomes"):
            rewards = conn.fetch_df(
                "select engagement_rate from analytics.outcomes where account_id = ? and passes_learning_gate "
                "and engagement_rate is not null", [aid])["engagement_rate"]
            scale = reward_scale(pd.to_numeric(rewards))

        weights = dict(DEFAULT_WEIGHTS)
        if not static and conn.table_exists("learn", "generator_weights"):
            stored = conn.fetchall(
                "select generator_name, weight from learn.generator_weights where account_id = ? "
                "and status <> 'disabled' order by generator_name", [aid])
            if stored:
                weights = {str(g): float(w) for g, w in stored}
        posteriors = pd.DataFrame()
        if not static and settings.generator_policy == "posterior":
            if conn.table_exists("learn", "generator_posteriors"):
                posteriors = conn.fetch_df(
                    "select generator_name, shape, rate from learn.generator_posteriors where account_id = ? "
                    "order by generator_name", [aid])
                posteriors = posteriors[posteriors["generator_name"].isin(list(weights))]
            if posteriors.empty:
                empty = pd.DataFrame(columns=["generator_name", "impressions", "followers_gained", "posted_at"])
                posteriors = generator_posteriors(empty, list(weights))[["generator_name", "shape", "rate"]]

        recent = conn.fetchall(
            "select content from raw.posts where account_id = ? and status in ('posted', 'queued') "
            "and content is not null and coalesce(posted_at, scheduled_at) > ? order by coalesce(posted_at, scheduled_at), "
            "decision_id",
            [aid, now - timedelta(days=RECENT_DAYS)])
        tz = ZoneInfo(settings.timezone)
        occupied = conn.fetchall(
            "select coalesce(scheduled_at, posted_at), status from raw.posts where account_id = ? "
            "and status in ('posted', 'queued') and coalesce(scheduled_at, posted_at) >= ?",
            [aid, now - timedelta(days=2)])
    taken: Counter = Counter()
    pending: Counter = Counter()
    for at, status in occupied:
        at = utc_naive(pd.Timestamp(at).to_pydatetime())
        slot = at.replace(minute=0 if at.minute < 30 else 30, second=0, microsecond=0)
        taken[slot] += 1
        if status == "queued":
            pending[slot.replace(tzinfo=ZoneInfo("UTC")).astimezone(tz).hour] += 1
    state = PlanningState(
        content_arms=content, timing_stats=timing_stats, reward_scale=scale, generator_weights=weights,
        generator_posteriors=posteriors, engagement=engagement, follow=follow,
        recent_texts=[r[0] for r in recent], taken=taken, pending_hours=pending,
    )
    return state, models_detail


def planning_rng(account_id: str, now: datetime) -> np.random.Generator:
    """Deterministic for (XBOT_PLAN_SEED, account, planning time): re-running a planning step decides the same."""
    return np.random.default_rng([env_int("XBOT_PLAN_SEED", 0), zlib.crc32(account_id.encode()),
                                  int(utc_naive(now).timestamp())])


def plan_posts(warehouse: Warehouse, account: Account, now: datetime, *, redis_url: str | None = None,
               settings: PlanSettings | None = None) -> PlanReport:
    """Plan the rest of the account's day under the planning lock and store every candidate in raw.posts."""
    now = utc_naive(now)
    settings = settings or plan_settings(account)
    with exclusive(f"plan:{account.account_id}", warehouse=warehouse, redis_url=redis_url):
        state, models_detail = load_planning_state(warehouse, account, settings, now, redis_url)
        stamp = now.strftime("%Y%m%dT%H%M%S")
        candidates = plan_day(
            state, settings, now, planning_rng(account.account_id, now),
            decision_id=lambda _at, i: f"{account.account_id}-{stamp}-{i:02d}",
        )
        source = "simulated" if account.connector == "simulator" else "real"
        with warehouse.connect() as conn:
            report = write_posts(conn, [c.to_row(account.account_id, source, now) for c in candidates], now=now,
                                 source_name="planner")
    reasons = Counter(c.skip_reason.split(":")[0] for c in candidates if c.skip_reason)
    return PlanReport(account.account_id, candidates, report, models_detail, reasons)


# ---------------------------------------------------------------------------------------------------------------------
# Publishing


@dataclass
class PublishReport:
    account_id: str
    posts: LoadReport
    published: list[str] = field(default_factory=list)
    deferred: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def publish_due(warehouse: Warehouse, connector: Connector, account: Account, now: datetime, *,
                redis_url: str | None = None, settings: PlanSettings | None = None) -> PublishReport:
    """Publish every queued post whose time has come, within the safety limits, under the publishing lock.

    Limits: at most XBOT_MAX_POSTS_PER_HOUR in any 60 minutes and XBOT_MAX_POSTS_PER_DAY in any 24 hours (a post
    over a limit waits for the next run); a post more than an hour late is skipped as stale rather than bunched.
    Each post's new status is written right after the platform answers, so a crash never forgets a published post.
    """
    now = utc_naive(now)
    settings = settings or plan_settings(account)
    aid = account.account_id
    report = PublishReport(aid, LoadReport("raw.posts"))
    with exclusive(f"publish:{aid}", warehouse=warehouse, redis_url=redis_url):
        with warehouse.connect() as conn:
            due = conn.fetch_df(
                "select decision_id, content, thread_parts, content_type, generator_name, quality_score, scheduled_at "
                "from raw.posts where account_id = ? and status = 'queued' and scheduled_at <= ? "
                "order by scheduled_at, decision_id", [aid, now])
            posted_times = [utc_naive(pd.Timestamp(r[0]).to_pydatetime()) for r in conn.fetchall(
                "select posted_at from raw.posts where account_id = ? and status = 'posted' and posted_at > ?",
                [aid, now - timedelta(days=1)])]
        for row in due.itertuples(index=False):
            scheduled = utc_naive(pd.Timestamp(row.scheduled_at).to_pydatetime())
            update = {"decision_id": row.decision_id, "account_id": aid}
            if now - scheduled > STALE_AFTER:
                update |= {"status": "skipped", "skip_reason": f"stale: scheduled {scheduled}, not published within "
                                                               f"{STALE_AFTER} (publisher down or over a limit)"}
            elif sum(t > now - timedelta(hours=1) for t in posted_times) >= settings.max_posts_per_hour:
                report.deferred.append(row.decision_id)
                report.notes.append(f"{row.decision_id}: {settings.max_posts_per_hour} posts in the last hour")
                continue
            elif len(posted_times) >= settings.max_posts_per_day:
                report.deferred.append(row.decision_id)
                report.notes.append(f"{row.decision_id}: {settings.max_posts_per_day} posts in the last 24 hours")
                continue
            else:
                parts = tuple(json.loads(row.thread_parts)) if row.thread_parts else ()
                publication = Publication(row.decision_id, row.content, parts, row.content_type, row.generator_name,
                                          float(row.quality_score))
                try:
                    published = connector.publish(publication, now)
                except ConnectorError as exc:
                    update |= {"status": "failed", "skip_reason": f"publish failed: {exc}"}
                else:
                    update |= {"status": "posted", "posted_at": published.posted_at, "tweet_id": published.tweet_id}
                    posted_times.append(published.posted_at)
                    report.published.append(row.decision_id)
            with warehouse.connect() as conn:
                current = conn.fetch_df("select * from raw.posts where decision_id = ?", [row.decision_id])
                record = {k: to_python(v) for k, v in current.iloc[0].to_dict().items() if k != "loaded_at"}
                record.update(update)
                report.posts.merge(write_posts(conn, [record], now=now, source_name="publisher"))
    return report


# ---------------------------------------------------------------------------------------------------------------------
# Collecting


def due_for_collection(posts: pd.DataFrame, now: datetime, ages_hours: Sequence[float] = SNAPSHOT_AGES_HOURS) -> list[str]:
    """Posts (columns decision_id, posted_at, last_collected_at) that passed a snapshot age since their last read."""
    due = []
    for row in posts.itertuples(index=False):
        posted = utc_naive(pd.Timestamp(row.posted_at).to_pydatetime())
        last = None if pd.isna(row.last_collected_at) else utc_naive(pd.Timestamp(row.last_collected_at).to_pydatetime())
        passed = [posted + timedelta(hours=a) for a in ages_hours if posted + timedelta(hours=a) <= now]
        if passed and (last is None or last < passed[-1]):
            due.append(row.decision_id)
    return due


def collect_metrics(warehouse: Warehouse, connector: Connector, account: Account, times: Sequence[datetime],
                    ages_hours: Sequence[float] = SNAPSHOT_AGES_HOURS) -> LoadReport:
    """At each collection time (production: the one `now` of the scheduled run; the simulated loop: the day's
    schedule ticks, replayed in order), read the counters of every post that reached a snapshot age since its last
    read, in batches of 100 ids. One validated write at the end."""
    times = sorted(utc_naive(t) for t in times)
    if not times:
        return LoadReport("raw.metric_snapshots")
    horizon = times[0] - timedelta(hours=max(ages_hours) + 24)
    with warehouse.connect() as conn:
        posts = conn.fetch_df(
            "select p.decision_id, p.tweet_id, p.posted_at, max(m.collected_at) as last_collected_at "
            "from raw.posts p left join raw.metric_snapshots m on m.decision_id = p.decision_id "
            "where p.account_id = ? and p.status = 'posted' and p.tweet_id is not null and p.posted_at > ? "
            "and p.posted_at <= ? group by p.decision_id, p.tweet_id, p.posted_at",
            [account.account_id, horizon, times[-1]])
        by_decision = dict(zip(posts["decision_id"], posts["tweet_id"], strict=True))
        rows = []
        for now in times:
            live = posts[pd.to_datetime(posts["posted_at"]) <= pd.Timestamp(now)]
            due = due_for_collection(live, now, ages_hours)
            ids = [by_decision[d] for d in due]
            decision_of = {by_decision[d]: d for d in due}
            for start in range(0, len(ids), METRICS_BATCH):
                for tweet_id, counters in connector.collect_metrics(ids[start:start + METRICS_BATCH], now).items():
                    rows.append({"account_id": account.account_id, "decision_id": decision_of[tweet_id],
                                 "tweet_id": tweet_id, "collected_at": now, "source": connector.source, **counters})
            posts.loc[posts["decision_id"].isin(due), "last_collected_at"] = now
        return write_metric_snapshots(conn, rows, now=times[-1], source_name="collector")


def snapshot_followers(warehouse: Warehouse, connector: Connector, account: Account,
                       times: Sequence[datetime]) -> LoadReport:
    """The follower count at each time (production: the run's `now`)."""
    times = sorted(utc_naive(t) for t in times)
    rows = [{"account_id": account.account_id, "collected_at": t, "followers": connector.read_followers(t),
             "source": connector.source} for t in times]
    with warehouse.connect() as conn:
        return write_follower_snapshots(conn, rows, now=times[-1] if times else datetime.min, source_name="collector")


def connector_for(warehouse: Warehouse, account: Account) -> Connector:
    if account.connector == "simulator":
        from xbot_assets.connectors.simulator import SimulatorConnector
        from xbot_assets.simulation.scenario import load_scenario

        return SimulatorConnector(warehouse, account.account_id, load_scenario(account.scenario or "default"),
                                  account.sim_seed)
    raise ValueError(f"no connector {account.connector!r}")


__all__ = [
    "Account", "DEFAULT_CONTENT_TYPES", "PlanReport", "PublishReport", "accounts", "collect_metrics", "connector_for",
    "load_planning_state", "plan_posts", "plan_settings", "publish_due", "register_account", "snapshot_followers",
]
