"""Collecting: the metrics of the posts that passed a snapshot age since their last read (in batches of at most
100 ids), and the account's follower count. What a connector returns goes through the validated raw writers."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

import pandas as pd

from xbot_assets.acting.accounts import Account
from xbot_assets.acting.alerts import record_alert
from xbot_assets.clock import utc_naive
from xbot_assets.connectors.base import Connector, ConnectorError, NotSent
from xbot_assets.ingest.load import write_follower_snapshots
from xbot_assets.ingest.metrics import write_metric_snapshots
from xbot_assets.ingest.records import LoadReport
from xbot_assets.warehouse.connection import Warehouse

# Ages (hours after posting) at which a post's counters are read; the collect schedule checks every 10 minutes.
SNAPSHOT_AGES_HOURS = (1, 2, 6, 12, 24, 48, 168)


METRICS_BATCH = 100  # the X API reads at most 100 ids per request


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
    try:
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
    except NotSent as exc:  # the budget, the credits or a cap: keep what was read, say so, read the rest later
        record_alert(warehouse, f"collect_stopped:{account.account_id}:{times[-1]:%Y-%m-%d}", times[-1],
                     f"collecting metrics for {account.account_id} stopped: {exc}", job_name="collect_metrics_job")
    except ConnectorError:  # the platform failed: what was read (and paid for) is kept, then the step fails
        with warehouse.connect() as conn:
            write_metric_snapshots(conn, rows, now=times[-1], source_name="collector")
        raise
    with warehouse.connect() as conn:
        return write_metric_snapshots(conn, rows, now=times[-1], source_name="collector")


def snapshot_followers(warehouse: Warehouse, connector: Connector, account: Account,
                       times: Sequence[datetime]) -> LoadReport:
    """The follower count at each time (production: the run's `now`)."""
    times = sorted(utc_naive(t) for t in times)
    rows = [{"account_id": account.account_id, "collected_at": t, "followers": connector.read_followers(t),
             "source": connector.source} for t in times]
    with warehouse.connect() as conn:
        return write_follower_snapshots(conn, rows, now=times[-1] if times else datetime.min, source_name="collector")
