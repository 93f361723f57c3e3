"""Collecting: the metrics of the posts that passed a snapshot age since their last read (in batches of at most
100 ids), and the account's follower count. What a connector returns goes through the validated raw writers."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

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


@dataclass
class TrackedPost:
    """A posted post the collector may read: when its snapshot ages fall due, and when it was last read."""

    decision_id: str
    tweet_id: str
    posted_at: datetime
    last_collected_at: datetime | None


def due_for_collection(posts: Iterable[TrackedPost], now: datetime,
                       ages_hours: Sequence[float] = SNAPSHOT_AGES_HOURS) -> list[TrackedPost]:
    """The posts that passed a snapshot age since their last read (none posted after `now`)."""
    due = []
    for post in posts:
        passed = [post.posted_at + timedelta(hours=a) for a in ages_hours if post.posted_at + timedelta(hours=a) <= now]
        if passed and (post.last_collected_at is None or post.last_collected_at < max(passed)):
            due.append(post)
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
        # Plain records, not a frame: the simulated loop replays 24 ticks a day, and pandas' per-tick filtering
        # and assignment cost ~2 ms a tick where this loop over a few dozen live posts costs microseconds.
        posts = [TrackedPost(r["decision_id"], r["tweet_id"], r["posted_at"], r["last_collected_at"])
                 for r in conn.fetch_records(
            "select p.decision_id, p.tweet_id, p.posted_at, max(m.collected_at) as last_collected_at "
            "from raw.posts p left join raw.metric_snapshots m on m.decision_id = p.decision_id "
            "where p.account_id = ? and p.status = 'posted' and p.tweet_id is not null and p.posted_at > ? "
            "and p.posted_at <= ? group by p.decision_id, p.tweet_id, p.posted_at "
            "order by p.posted_at, p.decision_id",
            [account.account_id, horizon, times[-1]])]
    rows = []
    try:
        for now in times:
            due = due_for_collection([p for p in posts if p.posted_at <= now], now, ages_hours)
            decision_of = {p.tweet_id: p.decision_id for p in due}
            ids = [p.tweet_id for p in due]
            for start in range(0, len(ids), METRICS_BATCH):
                for tweet_id, counters in connector.collect_metrics(ids[start:start + METRICS_BATCH], now).items():
                    rows.append({"account_id": account.account_id, "decision_id": decision_of[tweet_id],
                                 "tweet_id": tweet_id, "collected_at": now, "source": connector.source, **counters})
            for post in due:
                post.last_collected_at = now
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
