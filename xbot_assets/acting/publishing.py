"""Publishing the due posts through the account's connector, under the publishing lock and the hourly and daily
limits; each post's new status is written right after the platform answers."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import pandas as pd

from xbot_assets.acting.accounts import Account
from xbot_assets.acting.lock import exclusive
from xbot_assets.acting.planner import PlanSettings
from xbot_assets.acting.planning import plan_settings
from xbot_assets.clock import utc_naive
from xbot_assets.connectors.base import Connector, ConnectorError, Publication
from xbot_assets.ingest.load import write_posts
from xbot_assets.ingest.records import LoadReport
from xbot_assets.warehouse.connection import Warehouse
from xbot_assets.warehouse.values import to_python

STALE_AFTER = timedelta(hours=1)


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
