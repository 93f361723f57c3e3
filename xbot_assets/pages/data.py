"""What the operator's dashboard shows for one account, read from the warehouse: plain frames and numbers, no HTML.

Every number on the page is computed here from the warehouse (or by `operator.status`, `acting.approvals`, the
ledgers) at the time `now`; `operator.dashboard_page` only lays them out. The period is the `period_days` before
`now`; "change" compares it with the period of the same length before it.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pandas as pd

from xbot_assets.acting.approvals import queue
from xbot_assets.acting.generators.llm import llm_usage
from xbot_assets.connectors.ledger import month_usage
from xbot_assets.learned.models import MODEL_NAMES
from xbot_assets.learned.strategy import load_strategy
from xbot_assets.warehouse.connection import Connection, Warehouse
from xbot_assets.warehouse.values import to_python

TOP_POSTS = 5
INTERVAL = 0.90  # the F/1K intervals' coverage
TREND_DAYS = 7
ALERTS_SHOWN = 10
REJECTED_SHOWN = 10
DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
# The post's public link; X redirects /i/web/status/<id> to the author's own URL, so no handle is needed.
POST_LINK = "https://x.com/i/web/status/{tweet_id}"


@dataclass
class DashboardData:
    account_id: str
    now: datetime
    period_days: int
    timezone: str
    account: dict[str, Any]
    followers: pd.DataFrame  # collected_at, followers (both periods)
    daily: pd.DataFrame  # day, posts, impressions, engagements (by the local day the posts were published)
    kpis: list[dict[str, Any]]  # name, value, previous, change (relative, or None)
    posts: pd.DataFrame  # the period's measured posts: text, link, impressions, engagement_rate, follows, ...
    heatmap: pd.DataFrame  # weekday (0 = Monday), hour, posts, engagement_rate, f_per_1k
    by_content_type: pd.DataFrame  # name, posts, impressions, followers, f_per_1k, ci_low, ci_high, trend
    by_generator: pd.DataFrame  # the same, plus weight, status
    queue: pd.DataFrame  # acting.approvals.queue: pending approvals first
    rejected: pd.DataFrame  # the newest skipped candidates: scheduled_at, generator_name, skip_reason
    models: list[dict[str, Any]]  # the newest version of each model, with its holdout metric against its baseline
    optimization: list[dict[str, Any]]  # the newest optimization events
    alerts: pd.DataFrame  # created_at, severity, job_name, error
    strategy: dict[str, Any] | None = None  # learn.strategy's document (learned.strategy), None before it is built
    api: dict[str, Any] = field(default_factory=dict)
    llm: dict[str, Any] = field(default_factory=dict)

    @property
    def static(self) -> bool:
        """A static account (the evaluation's and the demo's baseline) plans from the seed defaults and is not
        learned."""
        return self.account.get("policy") == "static"

    @property
    def top_posts(self) -> pd.DataFrame:
        ranked = self.posts[self.posts["passes_learning_gate"].astype(bool)]
        return ranked.sort_values(["engagement_rate", "impressions"], ascending=False).head(TOP_POSTS)

    @property
    def bottom_posts(self) -> pd.DataFrame:
        ranked = self.posts[self.posts["passes_learning_gate"].astype(bool)]
        bottom = ranked.sort_values(["engagement_rate", "impressions"], ascending=True).head(TOP_POSTS)
        return bottom[~bottom["decision_id"].isin(self.top_posts["decision_id"])]


def generator_weights(conn: Connection, account_id: str) -> list[dict[str, Any]]:
    if not conn.table_exists("learn", "generator_weights"):
        return []
    rows = conn.fetchall(
        "select generator_name, weight, status, tier, notes, updated_at from learn.generator_weights "
        "where account_id = ? order by weight desc, generator_name",
        [account_id],
    )
    return [dict(zip(("generator", "weight", "status", "tier", "notes", "updated_at"), map(to_python, r), strict=True))
            for r in rows]


def optimization_events(conn: Connection, account_id: str, cutoff: datetime, limit: int = 5) -> list[dict[str, Any]]:
    if not conn.table_exists("learn", "optimization_events"):
        return []
    columns = ("event_id", "event_type", "created_at", "created_by", "success", "generators_updated",
               "posts_analysed", "top_performer", "skipped_reason", "error_message")
    rows = conn.fetchall(
        f"select {', '.join(columns)} from learn.optimization_events where account_id = ? and created_at <= ? "
        "order by sequence desc limit ?",
        [account_id, cutoff, limit],
    )
    return [dict(zip(columns, map(to_python, r), strict=True)) for r in rows]


def f_per_1k_interval(followers: float, impressions: float, coverage: float = INTERVAL) -> tuple[float, float]:
    """A Poisson rate interval for followers per 1,000 impressions (Garwood's, continuous in the count: attributed
    follows are fractional)."""
    if impressions <= 0:
        return float("nan"), float("nan")
    tail = (1 - coverage) / 2
    # The gamma quantile through scipy.special (scipy.stats costs ~1 s to import), imported here: every process that
    # loads the definitions would pay ~0.15–0.4 s for it.
    from scipy.special import gammaincinv

    low = gammaincinv(followers, tail) if followers > 0 else 0.0
    high = gammaincinv(followers + 1, 1 - tail)
    return 1000 * low / impressions, 1000 * high / impressions


def _account(conn: Connection, account_id: str) -> dict[str, Any]:
    if not conn.table_exists("act", "accounts"):
        return {}
    frame = conn.fetch_df("select * from act.accounts where account_id = ?", [account_id])
    return {} if frame.empty else {k: v for k, v in frame.iloc[0].to_dict().items() if not pd.isna(v)}


def _measured_posts(conn: Connection, account_id: str, since: datetime, until: datetime, tz: ZoneInfo) -> pd.DataFrame:
    frame = conn.fetch_df(
        "select o.decision_id, o.tweet_id, o.posted_at, o.content_type, o.generator_name, o.source, o.impressions, "
        "o.likes, o.retweets, o.replies, o.engagement_rate, o.followers_gained, o.followers_reported, "
        "o.followers_attributed, o.passes_learning_gate, p.content "
        "from analytics.outcomes o join raw.posts p on p.decision_id = o.decision_id "
        "where o.account_id = ? and o.posted_at >= ? and o.posted_at <= ? order by o.posted_at",
        [account_id, since, until],
    )
    frame["impressions"] = pd.to_numeric(frame["impressions"]).fillna(0)
    frame["engagements"] = frame[["likes", "retweets", "replies"]].apply(pd.to_numeric).fillna(0).sum(axis=1)
    frame["follows_source"] = frame["followers_reported"].notna().map({True: "reported by X", False: "attributed"})
    # Only a real post has a page on X; a simulated one's id names nothing there.
    frame["link"] = [POST_LINK.format(tweet_id=t) if source == "real" and isinstance(t, str) and t.isdigit() else None
                     for t, source in zip(frame["tweet_id"], frame["source"], strict=True)]
    local = pd.to_datetime(frame["posted_at"]).dt.tz_localize("UTC").dt.tz_convert(tz)
    frame["local_day"] = local.dt.date
    frame["weekday"] = local.dt.day_of_week
    frame["hour"] = local.dt.hour
    return frame


def _grouped(posts: pd.DataFrame, key: str, now: datetime) -> pd.DataFrame:
    rows = []
    recent_start, previous_start = now - timedelta(days=TREND_DAYS), now - timedelta(days=2 * TREND_DAYS)
    posted = pd.to_datetime(posts["posted_at"])
    for name, part in posts.groupby(key, dropna=False):
        impressions, followers = float(part["impressions"].sum()), float(part["followers_gained"].fillna(0).sum())
        low, high = f_per_1k_interval(followers, impressions)
        trend = []
        for start, end in ((previous_start, recent_start), (recent_start, now)):
            window = part[(posted[part.index] > start) & (posted[part.index] <= end)]
            shown = float(window["impressions"].sum())
            trend.append(1000 * float(window["followers_gained"].fillna(0).sum()) / shown if shown else None)
        rows.append({
            "name": name if isinstance(name, str) else "unknown", "posts": len(part), "impressions": impressions,
            "followers": followers, "f_per_1k": 1000 * followers / impressions if impressions else None,
            "ci_low": low, "ci_high": high, "f_per_1k_previous_7d": trend[0], "f_per_1k_last_7d": trend[1],
        })
    columns = ["name", "posts", "impressions", "followers", "f_per_1k", "ci_low", "ci_high", "f_per_1k_previous_7d",
               "f_per_1k_last_7d"]
    return pd.DataFrame(rows, columns=columns).sort_values(["posts", "name"], ascending=[False, True])


def _change(value: float, previous: float) -> float | None:
    return (value - previous) / previous if previous else None


def _followers_at(followers: pd.DataFrame, at: datetime) -> float | None:
    before = followers[pd.to_datetime(followers["collected_at"]) <= at]
    return float(before["followers"].iloc[-1]) if not before.empty else None


def _kpis(followers: pd.DataFrame, posts: pd.DataFrame, now: datetime, period: timedelta) -> list[dict[str, Any]]:
    start = now - period
    posted = pd.to_datetime(posts["posted_at"])
    current, previous = posts[posted > start], posts[posted <= start]
    kpis = []
    end_count, start_count = _followers_at(followers, now), _followers_at(followers, start)
    before_start = _followers_at(followers, start - period)
    if end_count is not None:
        gained = end_count - start_count if start_count is not None else None
        gained_before = start_count - before_start if start_count is not None and before_start is not None else None
        kpis.append({"name": "followers", "value": end_count, "previous": start_count,
                     "change": _change(end_count, start_count) if start_count else None})
        if gained is not None:
            kpis.append({"name": "followers gained", "value": gained, "previous": gained_before,
                         "change": _change(gained, gained_before) if gained_before else None})
    for name, column in (("posts", None), ("impressions", "impressions"), ("engagements", "engagements")):
        value = float(len(current)) if column is None else float(current[column].sum())
        before = float(len(previous)) if column is None else float(previous[column].sum())
        kpis.append({"name": name, "value": value, "previous": before, "change": _change(value, before)})
    impressions, engagements = float(current["impressions"].sum()), float(current["engagements"].sum())
    before_impr, before_eng = float(previous["impressions"].sum()), float(previous["engagements"].sum())
    rate = engagements / impressions if impressions else None
    rate_before = before_eng / before_impr if before_impr else None
    kpis.append({"name": "engagement rate", "value": rate, "previous": rate_before,
                 "change": _change(rate, rate_before) if rate is not None and rate_before else None})
    return kpis


def _models(conn: Connection, account_id: str) -> list[dict[str, Any]]:
    if not conn.table_exists("learn", "model_registry"):
        return []
    rows = []
    for name in MODEL_NAMES:
        frame = conn.fetch_df(
            "select model_name, version, primary_metric, primary_value, baseline_value, beats_baseline, n_samples, "
            "created_at from learn.model_registry where account_id = ? and model_name = ? "
            "order by version desc limit 1", [account_id, name])
        rows.append(frame.iloc[0].to_dict() if not frame.empty else {"model_name": name, "version": None})
    return rows


def _alerts(conn: Connection, since: datetime) -> pd.DataFrame:
    if not conn.table_exists("act", "alerts"):
        return pd.DataFrame(columns=["created_at", "severity", "job_name", "error"])
    return conn.fetch_df(
        "select created_at, severity, job_name, error from act.alerts where created_at >= ? "
        "order by created_at desc limit ?", [since, ALERTS_SHOWN])


def _rejected(conn: Connection, account_id: str, since: datetime) -> pd.DataFrame:
    return conn.fetch_df(
        "select decision_id, scheduled_at, content_type, generator_name, skip_reason, content from raw.posts "
        "where account_id = ? and status = 'skipped' and coalesce(scheduled_at, created_at) >= ? "
        "order by coalesce(scheduled_at, created_at) desc limit ?", [account_id, since, REJECTED_SHOWN])


def read_dashboard(warehouse: Warehouse, account_id: str, now: datetime, period_days: int = 30) -> DashboardData:
    period = timedelta(days=period_days)
    since = now - 2 * period
    with warehouse.connect(read_only=True) as conn:
        account = _account(conn, account_id)
        tz_name = account.get("timezone") or os.environ.get("XBOT_TIMEZONE") or "UTC"
        tz = ZoneInfo(tz_name)
        followers = conn.fetch_df(
            "select collected_at, followers from raw.follower_snapshots where account_id = ? and collected_at <= ? "
            "order by collected_at", [account_id, now])
        all_posts = _measured_posts(conn, account_id, since, now, tz) if conn.table_exists(
            "analytics", "outcomes") else _measured_posts_empty()
        weights = {w["generator"]: w for w in generator_weights(conn, account_id)}
        models = _models(conn, account_id)
        optimization = optimization_events(conn, account_id, now, limit=3)
        alerts = _alerts(conn, now - period)
        rejected = _rejected(conn, account_id, now - timedelta(days=7))
        api = month_usage(conn, now).get(account_id, {})
        llm = llm_usage(conn, now).get(account_id, {})
        strategy = load_strategy(conn, account_id)
    posts = all_posts[pd.to_datetime(all_posts["posted_at"]) > now - period].reset_index(drop=True)
    daily = (all_posts.groupby("local_day").agg(posts=("decision_id", "count"), impressions=("impressions", "sum"),
                                                engagements=("engagements", "sum"))
             .reset_index().rename(columns={"local_day": "day"}))
    heat = posts.assign(followers=posts["followers_gained"].fillna(0))
    heatmap = (heat.groupby(["weekday", "hour"])
               .agg(posts=("decision_id", "count"), impressions=("impressions", "sum"),
                    engagements=("engagements", "sum"), followers=("followers", "sum")).reset_index())
    heatmap["engagement_rate"] = heatmap["engagements"] / heatmap["impressions"].where(heatmap["impressions"] > 0)
    heatmap["f_per_1k"] = 1000 * heatmap["followers"] / heatmap["impressions"].where(heatmap["impressions"] > 0)
    by_generator = _grouped(posts, "generator_name", now)
    by_generator["weight"] = [weights.get(n, {}).get("weight") for n in by_generator["name"]]
    by_generator["status"] = [weights.get(n, {}).get("status") for n in by_generator["name"]]
    missing = [g for g in weights if g not in set(by_generator["name"])]
    if missing:  # generators with a weight but no post in the period are shown too: the weight is what plans
        extra = pd.DataFrame({"name": missing, "posts": 0, "weight": [weights[g]["weight"] for g in missing],
                              "status": [weights[g]["status"] for g in missing]})
        by_generator = pd.concat([by_generator, extra], ignore_index=True)
    return DashboardData(
        account_id=account_id, now=now, period_days=period_days, timezone=tz_name, account=account,
        followers=followers[pd.to_datetime(followers["collected_at"]) > since].reset_index(drop=True),
        daily=daily, kpis=_kpis(followers, all_posts, now, period), posts=posts, heatmap=heatmap,
        by_content_type=_grouped(posts, "content_type", now), by_generator=by_generator,
        queue=queue(warehouse, account_id), rejected=rejected, models=models, optimization=optimization,
        alerts=alerts, strategy=strategy, api=api, llm=llm,
    )


def _measured_posts_empty() -> pd.DataFrame:
    columns = ["decision_id", "tweet_id", "posted_at", "content_type", "generator_name", "source", "impressions",
               "likes", "retweets", "replies", "engagement_rate", "followers_gained", "followers_reported",
               "followers_attributed", "passes_learning_gate", "content", "engagements", "follows_source", "link",
               "local_day", "weekday", "hour"]
    return pd.DataFrame(columns=columns)


def dashboard_accounts(conn: Connection) -> list[str]:
    """Every account with a page: the registered ones and any other with a post (an import, a demo)."""
    names = {r[0] for r in conn.fetchall("select distinct account_id from raw.posts")}
    if conn.table_exists("act", "accounts"):
        names |= {r[0] for r in conn.fetchall("select account_id from act.accounts")}
    return sorted(names)


def decision_reasons(value: Any) -> list[str]:
    """A decision's stored reasons (a JSON list of strings), [] when there are none."""
    if not isinstance(value, str) or not value:
        return []
    try:
        reasons = json.loads(value)
    except ValueError:
        return [value]
    return [str(r) for r in reasons] if isinstance(reasons, list) else [str(reasons)]
