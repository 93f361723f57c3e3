"""Publishing the due posts through the account's connector, under the publishing lock and the hourly and daily
limits. Publishing is irreversible, so every post moves through one state machine and is never sent twice:

    queued ──claim──▶ publishing ──▶ posted | failed        (skipped: stale, dry run, rejected, a link not allowed)

- The claim is a conditional update (`status = 'queued'` → `'publishing'`, returning the row): of two publishers
  that got past the lock (an expired lock, a second deployment), one wins and the other sends nothing.
- Posts go out in batches of up to `PUBLISH_BATCH`: one transaction claims the batch, the posts are sent one by one,
  one transaction records their results (and every skip before them), also when the run fails half-way. A crash
  between the two leaves the claimed posts 'publishing', which the next run settles from the platform (below): a
  published post is never forgotten and never sent again.
- Nothing created (`NotSent`: rate limit, credits, budget): the claim is released back to queued and the post waits;
  when the account can send nothing more now, the rest of the run waits too and an alert is recorded.
- Outcome unknown even after the connector read the account's timeline (`OutcomeUnknown`): the post stays
  'publishing' (a thread with the ids of the parts that went out). Every run first settles such posts from the
  platform (`find_published`): found → posted; not found `SETTLE_AFTER` after it was sent → failed, never sent
  again; the platform still unreadable `SETTLE_AFTER` after it was sent → an alert (it stays 'publishing').
- A thread cut half-way is posted with the parts that went out and a note; cut by a stop (credits, a cap, a
  rejected token), the rest of the run waits too and an alert is recorded, as for a single post.
- Dry run (the account's publishing switch off): a due post is marked skipped with the reason, nothing leaves.
- Approval required: a post waits for `xbot queue approve`; a rejected one was skipped when it was rejected.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from types import SimpleNamespace
from typing import Any

import pandas as pd

from xbot_assets.acting.accounts import Account
from xbot_assets.acting.alerts import record_alert
from xbot_assets.acting.lock import exclusive
from xbot_assets.acting.planner import PlanSettings
from xbot_assets.acting.planning import plan_settings
from xbot_assets.clock import utc_naive
from xbot_assets.connectors.base import (
    Connector,
    ConnectorError,
    NotSent,
    OutcomeUnknown,
    Publication,
    Published,
    contains_url,
)
from xbot_assets.ingest.load import update_posts
from xbot_assets.ingest.records import LoadReport
from xbot_assets.warehouse.connection import Connection, Warehouse
from xbot_assets.warehouse.values import to_python

STALE_AFTER = timedelta(hours=1)
SETTLE_AFTER = timedelta(minutes=30)
# Posts claimed, sent and recorded together. Small: a crash inside a batch leaves up to this many posts for the
# next run to look up on the platform (one timeline read each), and the hourly cap keeps real batches smaller.
PUBLISH_BATCH = 10


@dataclass
class PublishReport:
    account_id: str
    posts: LoadReport
    published: list[str] = field(default_factory=list)
    deferred: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    stopped: str | None = None  # why the account could send nothing more in this run


def _text_list(value: Any) -> tuple[str, ...]:
    value = to_python(value)
    return tuple(json.loads(value)) if isinstance(value, str) and value else ()


def _publication(row: Any) -> Publication:
    known = _text_list(getattr(row, "thread_tweet_ids", None)) or tuple(
        str(t) for t in [to_python(getattr(row, "tweet_id", None))] if t)
    arms = {k: to_python(getattr(row, k, None)) for k in ("topic_arm", "hook")}
    return Publication(row.decision_id, row.content, _text_list(row.thread_parts), row.content_type,
                       row.generator_name, float(row.quality_score) if pd.notna(row.quality_score) else 0.0,
                       known_tweet_ids=known, **{k: str(v) if isinstance(v, str) and v else None
                                                 for k, v in arms.items()})


def _rows(conn: Connection, sql: str, params: list[Any]) -> list[SimpleNamespace]:
    """A few posts' rows with attribute access: records, not a frame (a frame costs ~4 ms a read, and the simulated
    loop publishes each post in its own run, ~700 runs in a 60-day evaluation seed)."""
    return [SimpleNamespace(**record) for record in conn.fetch_records(sql, params)]


def _stop(warehouse: Warehouse, report: PublishReport, now: datetime, reason: str) -> None:
    """The account can send nothing more now: the rest of the run waits, and the operator is told."""
    report.stopped = reason
    record_alert(warehouse, f"publish_stopped:{report.account_id}:{now:%Y-%m-%dT%H}", now,
                 f"publishing for {report.account_id} stopped: {reason}")


def _claim(conn: Connection, decision_ids: list[str], now: datetime) -> set[str]:
    marks = ", ".join("?" for _ in decision_ids)
    return {r[0] for r in conn.fetchall(
        "update raw.posts set status = 'publishing', publishing_started_at = ?, loaded_at = ? "
        f"where decision_id in ({marks}) and status = 'queued' returning decision_id", [now, now, *decision_ids])}


class _Results:
    """The posts' new states of one batch, written in one transaction through the validated writer (whole rows:
    the writer compares them and keeps the history); claims given back to the queue go in the same transaction."""

    def __init__(self, warehouse: Warehouse, report: PublishReport, now: datetime):
        self.warehouse, self.report, self.now = warehouse, report, now
        self.changes: dict[str, dict[str, Any]] = {}
        self.released: dict[str, str] = {}

    def record(self, decision_id: str, change: dict[str, Any]) -> None:
        self.changes[decision_id] = change

    def release(self, decision_id: str, note: str) -> None:
        """Nothing was created: the post goes back to the queue (a status the writer would refuse as backwards)."""
        self.released[decision_id] = note

    def flush(self) -> None:
        if not self.changes and not self.released:
            return
        with self.warehouse.connect() as conn:
            for decision_id, note in self.released.items():
                conn.execute("update raw.posts set status = 'queued', publishing_started_at = null, publish_note = ? "
                             "where decision_id = ? and status = 'publishing'", [note[:1000], decision_id])
            if self.changes:
                self.report.posts.merge(update_posts(conn, self.changes, now=self.now, source_name="publisher"))
        self.changes, self.released = {}, {}


def _posted(published: Published, note: str | None = None) -> dict[str, Any]:
    notes = [n for n in (published.incomplete, note) if n]
    return {"status": "posted", "posted_at": published.posted_at, "tweet_id": published.tweet_id,
            "thread_tweet_ids": list(published.thread_tweet_ids) or None, "publish_note": "; ".join(notes) or None}


def settle_unfinished(warehouse: Warehouse, connector: Connector, account: Account, now: datetime,
                      report: PublishReport) -> None:
    """Posts a crash or an unknown outcome left 'publishing': settled from the platform, never sent again."""
    with warehouse.connect() as conn:
        rows = _rows(
            conn,
            "select decision_id, content, thread_parts, content_type, generator_name, quality_score, "
            "tweet_id, thread_tweet_ids, publishing_started_at, topic_arm, hook from raw.posts where account_id = ? "
            "and status = 'publishing' "
            "order by publishing_started_at, decision_id", [account.account_id])
    results = _Results(warehouse, report, now)
    try:
        for row in rows:
            _settle(warehouse, connector, account, now, report, results, row)
    finally:
        results.flush()


def _settle(warehouse: Warehouse, connector: Connector, account: Account, now: datetime, report: PublishReport,
            results: _Results, row: Any) -> None:
    started = utc_naive(pd.Timestamp(row.publishing_started_at).to_pydatetime()) \
        if pd.notna(row.publishing_started_at) else now - SETTLE_AFTER
    try:
        found = connector.find_published(_publication(row), started - timedelta(minutes=1))
    except ConnectorError as exc:
        report.notes.append(f"{row.decision_id}: still publishing, cannot read the platform now ({exc})")
        if now - started >= SETTLE_AFTER:  # never 'publishing' in silence: someone must look
            record_alert(warehouse, f"publish_unsettled:{row.decision_id}", now,
                         f"{row.decision_id} of {account.account_id} has been publishing since {started} "
                         f"and the platform cannot be read to settle it: {exc}")
        return
    if found is not None:
        results.record(row.decision_id, _posted(found, "settled from the platform after an unknown outcome"))
        report.published.append(row.decision_id)
        report.notes.append(f"{row.decision_id}: found on the platform as {found.tweet_id}, recorded as posted")
    elif now - started >= SETTLE_AFTER:
        results.record(row.decision_id, {
            "status": "failed", "skip_reason": f"publish failed: outcome unknown and not on the platform "
                                               f"{SETTLE_AFTER} after sending at {started}; not sent again"})
        report.notes.append(f"{row.decision_id}: not on the platform after {SETTLE_AFTER}: marked failed")
    else:
        report.notes.append(f"{row.decision_id}: outcome still unknown; settled on a later run")


def publish_due(warehouse: Warehouse, connector: Connector, account: Account, now: datetime, *,
                settings: PlanSettings | None = None) -> PublishReport:
    """Publish every queued post whose time has come, within the safety limits, under the publishing lock.

    Limits: at most XBOT_MAX_POSTS_PER_HOUR in any 60 minutes and XBOT_MAX_POSTS_PER_DAY in any 24 hours (a post
    over a limit waits for the next run); a post more than an hour late is skipped as stale rather than bunched.
    """
    now = utc_naive(now)
    settings = settings or plan_settings(account)
    aid = account.account_id
    report = PublishReport(aid, LoadReport("raw.posts"))
    with exclusive(f"publish:{aid}", warehouse=warehouse):
        settle_unfinished(warehouse, connector, account, now, report)
        with warehouse.connect() as conn:
            due = _rows(
                conn,
                "select p.decision_id, p.content, p.thread_parts, p.content_type, p.generator_name, p.quality_score, "
                "p.scheduled_at, p.topic_arm, p.hook, a.decision as approval "
                "from raw.posts p left join act.approvals a "
                "on a.decision_id = p.decision_id where p.account_id = ? and p.status = 'queued' "
                "and p.scheduled_at <= ? order by p.scheduled_at, p.decision_id", [aid, now])
            posted_times = [utc_naive(pd.Timestamp(r[0]).to_pydatetime()) for r in conn.fetchall(
                "select posted_at from raw.posts where account_id = ? and status = 'posted' and posted_at > ?",
                [aid, now - timedelta(days=1)])]
        results = _Results(warehouse, report, now)
        batch: list[Any] = []
        try:
            for row in due:
                scheduled = utc_naive(pd.Timestamp(row.scheduled_at).to_pydatetime())
                approved = to_python(row.approval) == "approved"
                skip = None
                if now - scheduled > STALE_AFTER:
                    waited = " (it was never approved)" if account.approval_required and not approved else \
                        " (publisher down or over a limit)"
                    skip = f"stale: scheduled {scheduled}, not published within {STALE_AFTER}{waited}"
                elif account.dry_run:
                    skip = (f"dry run: publishing is off for account {aid} (turn it on with `xbot accounts add {aid} "
                            "--publish`); nothing was sent")
                elif not account.allow_urls and contains_url(" ".join((row.content or "",
                                                                       *_text_list(row.thread_parts)))):
                    skip = f"contains a link and account {aid} does not allow links (a post with a URL costs more on X)"
                if skip:
                    results.record(row.decision_id, {"status": "skipped", "skip_reason": skip})
                    continue
                if report.stopped:
                    report.deferred.append(row.decision_id)
                    continue
                if account.approval_required and not approved:
                    report.deferred.append(row.decision_id)
                    report.notes.append(f"{row.decision_id}: awaiting approval (xbot queue approve {row.decision_id})")
                    continue
                # The batch's posts count as sent: a cap is never exceeded, whatever the platform answers.
                if sum(t > now - timedelta(hours=1) for t in posted_times) + len(batch) >= settings.max_posts_per_hour:
                    report.deferred.append(row.decision_id)
                    report.notes.append(f"{row.decision_id}: {settings.max_posts_per_hour} posts in the last hour")
                    continue
                if len(posted_times) + len(batch) >= settings.max_posts_per_day:
                    report.deferred.append(row.decision_id)
                    report.notes.append(f"{row.decision_id}: {settings.max_posts_per_day} posts in the last 24 hours")
                    continue
                batch.append(row)
                if len(batch) == PUBLISH_BATCH:
                    _send(warehouse, connector, now, report, results, batch, posted_times)
                    batch = []
            _send(warehouse, connector, now, report, results, batch, posted_times)
        finally:
            results.flush()
    return report


def _send(warehouse: Warehouse, connector: Connector, now: datetime, report: PublishReport, results: _Results,
          batch: list[Any], posted_times: list[datetime]) -> None:
    """One batch: claimed in one transaction, sent one by one, its results (and the skips before it) recorded in
    one transaction. If the run fails half-way, the posts not yet handed to the platform go back to the queue."""
    claimed: set[str] = set()
    if batch:
        with warehouse.connect() as conn:
            claimed = _claim(conn, [row.decision_id for row in batch], now)
    unsent = [row.decision_id for row in batch if row.decision_id in claimed]
    try:
        for row in batch:
            if row.decision_id not in claimed:
                report.notes.append(f"{row.decision_id}: taken by another publisher; not sent")
                continue
            unsent.remove(row.decision_id)
            _send_one(warehouse, connector, now, report, results, row, posted_times)
    finally:
        for decision_id in unsent:
            results.release(decision_id, f"not sent at {now}: the run stopped before it")
        results.flush()


def _send_one(warehouse: Warehouse, connector: Connector, now: datetime, report: PublishReport, results: _Results,
              row: Any, posted_times: list[datetime]) -> None:
    decision_id = row.decision_id
    if report.stopped:
        results.release(decision_id, f"not sent at {now}: publishing stopped: {report.stopped}")
        report.deferred.append(decision_id)
        return
    try:
        published = connector.publish(_publication(row), now)
    except NotSent as exc:
        results.release(decision_id, f"not sent at {now}: {exc}")
        report.deferred.append(decision_id)
        report.notes.append(f"{decision_id}: not sent, waits: {exc}")
        if exc.stop:
            _stop(warehouse, report, now, str(exc))
    except OutcomeUnknown as exc:
        sent = {"tweet_id": exc.tweet_ids[0], "thread_tweet_ids": list(exc.tweet_ids)} if exc.tweet_ids else {}
        results.record(decision_id, {"status": "publishing", "publish_note": str(exc), **sent})
        report.notes.append(f"{decision_id}: {exc}; kept as publishing, settled on a later run")
    except ConnectorError as exc:
        results.record(decision_id, {"status": "failed", "skip_reason": f"publish failed: {exc}"})
    else:
        results.record(decision_id, _posted(published))
        posted_times.append(published.posted_at)
        report.published.append(decision_id)
        if published.stopped:
            _stop(warehouse, report, now, published.stopped)
