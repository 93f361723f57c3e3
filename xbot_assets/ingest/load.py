"""Validated writes into the raw tables, with quarantine for whatever cannot be true.

Both `xbot load` (a user's CSV) and the connectors (publish/collect) write through these functions, so a bad row is
treated the same wherever it comes from: it lands in `raw.quarantine` with its payload and a reason, nothing else is
lost, and writing the same rows twice changes nothing.
"""

from __future__ import annotations

import csv
import hashlib
import json
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from xbot_assets.ingest.parse import (
    BadValue,
    is_blank,
    parse_choice,
    parse_count,
    parse_text,
    parse_timestamp,
    parse_unit_score,
)
from xbot_assets.settings import DEFAULT_ACCOUNT
from xbot_assets.values import to_python
from xbot_assets.warehouse import Connection

POST_STATUSES = ("queued", "posted", "skipped", "failed")
DECISION_TYPES = ("single", "thread", "reply")
SOURCES = ("simulated", "real")
# A decision moves forward through these; going back (posted → queued) is an error, not an update.
_STATUS_RANK = {"queued": 0, "skipped": 1, "failed": 1, "posted": 2}

POST_COLUMNS = (
    "decision_id", "account_id", "status", "decision_type", "content", "thread_parts", "content_type",
    "generator_name", "topic", "quality_score", "novelty_score", "expertise_score", "viral_score", "predicted_er",
    "predicted_follow_prob", "content_propensity", "timing_propensity", "generator_propensity", "scheduled_at",
    "posted_at", "tweet_id", "skip_reason", "decision_reasons", "source", "created_at",
)
COUNTER_COLUMNS = ("impressions", "likes", "retweets", "replies", "quotes", "bookmarks", "profile_clicks", "url_clicks")
REQUIRED_COUNTERS = ("likes", "retweets", "replies")
METRIC_COLUMNS = ("account_id", "decision_id", "tweet_id", "collected_at", *COUNTER_COLUMNS, "source")
FOLLOWER_COLUMNS = ("account_id", "collected_at", "followers", "source")
VIRAL_COLUMNS = (
    "example_id", "account_id", "author_handle", "content", "impressions", "likes", "retweets", "replies", "topic",
    "collected_at", "source",
)
_UNIT_SCORES = (
    "quality_score", "novelty_score", "expertise_score", "viral_score", "predicted_er", "predicted_follow_prob",
    "content_propensity", "timing_propensity", "generator_propensity",
)


@dataclass
class LoadReport:
    table: str
    loaded: int = 0
    updated: int = 0
    unchanged: int = 0
    quarantined: Counter = field(default_factory=Counter)

    @property
    def quarantined_total(self) -> int:
        return sum(self.quarantined.values())

    def summary(self) -> str:
        lines = [
            f"{self.table}: {self.loaded} loaded, {self.updated} updated, {self.unchanged} unchanged, "
            f"{self.quarantined_total} quarantined"
        ]
        for reason, n in sorted(self.quarantined.items()):
            lines.append(f"  quarantined {n:>5}  {reason}")
        return "\n".join(lines)

    def merge(self, other: LoadReport) -> LoadReport:
        """Add another write's counts to this report (several writes of one table, reported once)."""
        self.loaded += other.loaded
        self.updated += other.updated
        self.unchanged += other.unchanged
        self.quarantined.update(other.quarantined)
        return self

    def as_metadata(self) -> dict[str, int]:
        return {
            "loaded": self.loaded,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "quarantined": self.quarantined_total,
        }


class _Quarantine:
    """Collects rejected rows; `flush` writes them once, keyed so a second load adds nothing."""

    def __init__(self, table: str, source_name: str, now: datetime, report: LoadReport):
        self.table = table
        self.source_name = source_name
        self.now = now
        self.report = report
        self.rows: dict[str, tuple] = {}

    def add(self, payload: Mapping[str, Any], reason: str, account_id: str | None = None) -> None:
        text = json.dumps({k: _jsonable(v) for k, v in payload.items()}, sort_keys=True)
        key = hashlib.sha256(f"{self.table}\x00{text}\x00{reason}".encode()).hexdigest()[:32]
        self.rows[key] = (key, account_id or DEFAULT_ACCOUNT, self.table, text, reason, self.source_name, self.now)
        self.report.quarantined[reason.split(":")[0]] += 1

    def flush(self, conn: Connection) -> None:
        conn.insert_rows(
            "raw.quarantine",
            ("quarantine_id", "account_id", "target_table", "payload", "reason", "source_name", "received_at"),
            list(self.rows.values()),
            conflict_columns=("quarantine_id",),
        )


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return str(value)


def read_csv_rows(path: str | Path) -> list[dict[str, str]]:
    """Rows as strings, exactly as written; header names are normalised to snake_case."""
    with open(path, newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
        if reader.fieldnames is None:
            raise ValueError(f"{path}: the file is empty (no header row)")
        rows = []
        for raw in reader:
            rows.append({_header(k): v for k, v in raw.items() if k is not None})
        return rows


def _header(name: str) -> str:
    return name.strip().lower().replace(" ", "_").replace("-", "_")


# ---------------------------------------------------------------------------------------------------------------
# posts


def _post_record(row: Mapping[str, Any]) -> dict[str, Any]:
    tweet_id = parse_text(row.get("tweet_id"))
    decision_id = parse_text(row.get("decision_id")) or (f"tweet-{tweet_id}" if tweet_id else None)
    if decision_id is None:
        raise BadValue("missing key: neither decision_id nor tweet_id is given")
    posted_at = parse_timestamp(row.get("posted_at"), "posted_at")
    status = parse_choice(row.get("status"), "status", POST_STATUSES, default="posted" if posted_at else "queued")
    if status == "posted" and posted_at is None:
        raise BadValue("unknown date: a posted decision needs posted_at")
    record: dict[str, Any] = {
        "decision_id": decision_id,
        "account_id": parse_text(row.get("account_id")) or DEFAULT_ACCOUNT,
        "status": status,
        "decision_type": parse_choice(row.get("decision_type"), "decision_type", DECISION_TYPES, default="single"),
        "content": parse_text(row.get("content")),
        "thread_parts": _thread_parts(row.get("thread_parts")),
        "content_type": parse_text(row.get("content_type")),
        "generator_name": parse_text(row.get("generator_name")),
        "topic": parse_text(row.get("topic")),
        "scheduled_at": parse_timestamp(row.get("scheduled_at"), "scheduled_at"),
        "posted_at": posted_at,
        "tweet_id": tweet_id,
        "skip_reason": parse_text(row.get("skip_reason")),
        "decision_reasons": parse_text(row.get("decision_reasons")),
        "source": parse_choice(row.get("source"), "source", SOURCES, default="real"),
    }
    for column in _UNIT_SCORES:
        record[column] = parse_unit_score(row.get(column), column)
    # Left None when unknown: the writer keeps an existing row's created_at, so a re-load changes nothing.
    record["created_at"] = parse_timestamp(row.get("created_at"), "created_at") or posted_at
    return record


def _thread_parts(value: Any) -> str | None:
    if is_blank(value):
        return None
    if isinstance(value, (list, tuple)):
        return json.dumps(list(value))
    try:
        parts = json.loads(str(value))
    except json.JSONDecodeError as exc:
        raise BadValue("bad thread_parts: not a JSON array of strings") from exc
    if not isinstance(parts, list) or not all(isinstance(p, str) for p in parts):
        raise BadValue("bad thread_parts: not a JSON array of strings")
    return json.dumps(parts)


def write_posts(
    conn: Connection, rows: Iterable[Mapping[str, Any]], *, now: datetime, source_name: str = "input"
) -> LoadReport:
    report = LoadReport("raw.posts")
    quarantine = _Quarantine("raw.posts", source_name, now, report)
    records: dict[str, dict[str, Any]] = {}
    payloads: dict[str, Mapping[str, Any]] = {}
    for row in rows:
        try:
            record = _post_record(row)
        except BadValue as exc:
            quarantine.add(row, str(exc), parse_text(row.get("account_id")))
            continue
        key = record["decision_id"]
        if key in records:
            if records[key] != record:
                quarantine.add(row, f"duplicate: decision_id {key} appears twice in the input with different values")
            else:
                report.unchanged += 1
            continue
        records[key] = record
        payloads[key] = row

    existing = _existing_posts(conn, list(records))
    inserts, updates = [], []
    for key, record in records.items():
        old = existing.get(key)
        if record["created_at"] is None:
            record["created_at"] = old["created_at"] if old else now
        if old is None:
            inserts.append(record)
        elif all(_same(old[c], record[c]) for c in POST_COLUMNS):
            report.unchanged += 1
        elif old["account_id"] != record["account_id"]:
            quarantine.add(payloads[key], f"conflict: decision_id {key} belongs to account {old['account_id']}")
        elif _STATUS_RANK[record["status"]] < _STATUS_RANK[old["status"]]:
            quarantine.add(payloads[key], f"status went backwards: {key} is {old['status']}, input says {record['status']}")
        else:
            updates.append(record)
    columns = (*POST_COLUMNS, "loaded_at")
    conn.insert_rows("raw.posts", columns, [[r[c] for c in POST_COLUMNS] + [now] for r in inserts])
    conn.insert_rows(
        "raw.posts", columns, [[r[c] for c in POST_COLUMNS] + [now] for r in updates],
        conflict_columns=("decision_id",), update_columns=tuple(c for c in POST_COLUMNS if c != "decision_id"),
    )
    report.loaded, report.updated = len(inserts), len(updates)
    quarantine.flush(conn)
    return report


def _existing_posts(conn: Connection, decision_ids: list[str]) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    for chunk in _chunks(decision_ids, 500):
        marks = ", ".join("?" for _ in chunk)
        frame = conn.fetch_df(f"select {', '.join(POST_COLUMNS)} from raw.posts where decision_id in ({marks})", chunk)
        for rec in frame.to_dict("records"):
            found[rec["decision_id"]] = {k: to_python(v) for k, v in rec.items()}
    return found


# ---------------------------------------------------------------------------------------------------------------
# metric snapshots


def _metric_record(row: Mapping[str, Any]) -> dict[str, Any]:
    record: dict[str, Any] = {
        "account_id": parse_text(row.get("account_id")),
        "decision_id": parse_text(row.get("decision_id")),
        "tweet_id": parse_text(row.get("tweet_id")),
        "collected_at": parse_timestamp(row.get("collected_at"), "collected_at"),
        "source": parse_choice(row.get("source"), "source", SOURCES, default="real"),
    }
    if record["decision_id"] is None and record["tweet_id"] is None:
        raise BadValue("unknown post: neither decision_id nor tweet_id is given")
    if record["collected_at"] is None:
        raise BadValue("unknown date: collected_at is missing")
    for column in COUNTER_COLUMNS:
        record[column] = parse_count(row.get(column), column)
    for column in REQUIRED_COUNTERS:
        if record[column] is None:
            raise BadValue(f"missing count: {column} is required")
    engaged = record["likes"] + record["retweets"] + record["replies"]
    impressions = record["impressions"]
    if impressions is not None and engaged > impressions:
        reason = "zero impressions" if impressions == 0 else "engagement exceeds impressions"
        raise BadValue(f"{reason}: {engaged} likes+retweets+replies > {impressions} impressions")
    return record


def write_metric_snapshots(
    conn: Connection, rows: Iterable[Mapping[str, Any]], *, now: datetime, source_name: str = "input"
) -> LoadReport:
    report = LoadReport("raw.metric_snapshots")
    quarantine = _Quarantine("raw.metric_snapshots", source_name, now, report)
    parsed: list[tuple[dict[str, Any], Mapping[str, Any]]] = []
    for row in rows:
        try:
            parsed.append((_metric_record(row), row))
        except BadValue as exc:
            quarantine.add(row, str(exc), parse_text(row.get("account_id")))

    posts = _posts_for(conn, [r for r, _ in parsed])
    by_post: dict[str, list[tuple[dict[str, Any], Mapping[str, Any]]]] = defaultdict(list)
    for record, row in parsed:
        post = posts["by_decision"].get(record["decision_id"]) if record["decision_id"] else None
        if post is None and record["tweet_id"]:
            post = posts["by_tweet"].get(record["tweet_id"])
        if post is None:
            quarantine.add(row, f"unknown post: decision_id={record['decision_id']} tweet_id={record['tweet_id']}")
            continue
        if record["account_id"] and record["account_id"] != post["account_id"]:
            quarantine.add(row, f"conflict: post {post['decision_id']} belongs to account {post['account_id']}")
            continue
        if post["status"] != "posted" or post["posted_at"] is None:
            quarantine.add(row, f"not posted: {post['decision_id']} has status {post['status']}")
            continue
        if record["collected_at"] < post["posted_at"]:
            quarantine.add(row, f"before posting: collected {record['collected_at']} < posted {post['posted_at']}")
            continue
        record["decision_id"], record["account_id"] = post["decision_id"], post["account_id"]
        record["tweet_id"] = record["tweet_id"] or post["tweet_id"]
        by_post[post["decision_id"]].append((record, row))

    history = _existing_snapshots(conn, list(by_post))
    inserts = []
    for decision_id, items in by_post.items():
        known = {snap["collected_at"]: snap for snap in history.get(decision_id, [])}
        for record, row in sorted(items, key=lambda item: item[0]["collected_at"]):
            same_time = known.get(record["collected_at"])
            if same_time is not None:
                if all(_same(same_time[c], record[c]) for c in COUNTER_COLUMNS):
                    report.unchanged += 1
                else:
                    quarantine.add(row, f"duplicate: another snapshot of {decision_id} at {record['collected_at']} differs")
                continue
            problem = _backwards(record, known.values())
            if problem:
                quarantine.add(row, problem)
                continue
            known[record["collected_at"]] = record
            inserts.append(record)
    conn.insert_rows(
        "raw.metric_snapshots", (*METRIC_COLUMNS, "loaded_at"),
        [[r[c] for c in METRIC_COLUMNS] + [now] for r in inserts],
        conflict_columns=("decision_id", "collected_at"),
    )
    report.loaded = len(inserts)
    quarantine.flush(conn)
    return report


def _backwards(record: dict[str, Any], others: Iterable[dict[str, Any]]) -> str | None:
    """Counters are cumulative: nothing may be below an earlier snapshot or above a later one."""
    at = record["collected_at"]
    for other in others:
        for column in COUNTER_COLUMNS:
            new, old = record[column], other[column]
            if new is None or old is None:
                continue
            if other["collected_at"] < at and new < old:
                return f"counter went backwards: {column} {new} < {old} at {other['collected_at']}"
            if other["collected_at"] > at and new > old:
                return f"counter went backwards: {column} {new} > {old} at the later {other['collected_at']}"
    return None


def _posts_for(conn: Connection, records: list[dict[str, Any]]) -> dict[str, dict[str, dict[str, Any]]]:
    decision_ids = sorted({r["decision_id"] for r in records if r["decision_id"]})
    tweet_ids = sorted({r["tweet_id"] for r in records if r["tweet_id"]})
    by_decision: dict[str, dict[str, Any]] = {}
    by_tweet: dict[str, dict[str, Any]] = {}
    columns = "decision_id, account_id, status, posted_at, tweet_id"
    for column, keys in (("decision_id", decision_ids), ("tweet_id", tweet_ids)):
        for chunk in _chunks(keys, 500):
            marks = ", ".join("?" for _ in chunk)
            for rec in conn.fetch_df(f"select {columns} from raw.posts where {column} in ({marks})", chunk).to_dict(
                "records"
            ):
                rec = {k: to_python(v) for k, v in rec.items()}
                by_decision[rec["decision_id"]] = rec
                if rec["tweet_id"]:
                    by_tweet[rec["tweet_id"]] = rec
    return {"by_decision": by_decision, "by_tweet": by_tweet}


def _existing_snapshots(conn: Connection, decision_ids: list[str]) -> dict[str, list[dict[str, Any]]]:
    found: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for chunk in _chunks(decision_ids, 500):
        marks = ", ".join("?" for _ in chunk)
        frame = conn.fetch_df(
            f"select decision_id, collected_at, {', '.join(COUNTER_COLUMNS)} from raw.metric_snapshots "
            f"where decision_id in ({marks})",
            chunk,
        )
        for rec in frame.to_dict("records"):
            found[rec["decision_id"]].append({k: to_python(v) for k, v in rec.items()})
    return found


# ---------------------------------------------------------------------------------------------------------------
# follower snapshots and viral examples


def write_follower_snapshots(
    conn: Connection, rows: Iterable[Mapping[str, Any]], *, now: datetime, source_name: str = "input"
) -> LoadReport:
    report = LoadReport("raw.follower_snapshots")
    quarantine = _Quarantine("raw.follower_snapshots", source_name, now, report)
    records: dict[tuple[str, datetime], tuple[dict[str, Any], Mapping[str, Any]]] = {}
    for row in rows:
        try:
            record = {
                "account_id": parse_text(row.get("account_id")) or DEFAULT_ACCOUNT,
                "collected_at": parse_timestamp(row.get("collected_at"), "collected_at"),
                "followers": parse_count(row.get("followers"), "followers"),
                "source": parse_choice(row.get("source"), "source", SOURCES, default="real"),
            }
            if record["collected_at"] is None:
                raise BadValue("unknown date: collected_at is missing")
            if record["followers"] is None:
                raise BadValue("missing count: followers is required")
        except BadValue as exc:
            quarantine.add(row, str(exc), parse_text(row.get("account_id")))
            continue
        key = (record["account_id"], record["collected_at"])
        if key in records and records[key][0]["followers"] != record["followers"]:
            quarantine.add(row, f"duplicate: two different follower counts for {key[0]} at {key[1]}")
            continue
        if key in records:
            report.unchanged += 1
            continue
        records[key] = (record, row)

    existing: dict[tuple[str, datetime], int] = {}
    for account in sorted({k[0] for k in records}):
        frame = conn.fetch_df(
            "select collected_at, followers from raw.follower_snapshots where account_id = ?", [account]
        )
        for rec in frame.to_dict("records"):
            existing[(account, to_python(rec["collected_at"]))] = int(rec["followers"])
    inserts = []
    for key, (record, row) in records.items():
        if key in existing:
            if existing[key] == record["followers"]:
                report.unchanged += 1
            else:
                quarantine.add(row, f"duplicate: {key[0]} already has {existing[key]} followers at {key[1]}")
            continue
        inserts.append(record)
    conn.insert_rows(
        "raw.follower_snapshots", (*FOLLOWER_COLUMNS, "loaded_at"),
        [[r[c] for c in FOLLOWER_COLUMNS] + [now] for r in inserts],
        conflict_columns=("account_id", "collected_at"),
    )
    report.loaded = len(inserts)
    quarantine.flush(conn)
    return report


def write_viral_examples(
    conn: Connection, rows: Iterable[Mapping[str, Any]], *, now: datetime, source_name: str = "input"
) -> LoadReport:
    """Other accounts' posts: prompt inspiration only, never training data (seed 003)."""
    report = LoadReport("raw.viral_examples")
    quarantine = _Quarantine("raw.viral_examples", source_name, now, report)
    records: dict[str, dict[str, Any]] = {}
    for row in rows:
        try:
            record = {
                "example_id": parse_text(row.get("example_id")) or parse_text(row.get("tweet_id")),
                "account_id": parse_text(row.get("account_id")) or DEFAULT_ACCOUNT,
                "author_handle": parse_text(row.get("author_handle")),
                "content": parse_text(row.get("content")),
                "topic": parse_text(row.get("topic")),
                "collected_at": parse_timestamp(row.get("collected_at"), "collected_at") or now,
                "source": parse_choice(row.get("source"), "source", SOURCES, default="real"),
            }
            for column in ("impressions", "likes", "retweets", "replies"):
                record[column] = parse_count(row.get(column), column)
            if record["example_id"] is None:
                raise BadValue("missing key: example_id (or tweet_id) is required")
            if record["content"] is None:
                raise BadValue("missing text: content is required")
        except BadValue as exc:
            quarantine.add(row, str(exc), parse_text(row.get("account_id")))
            continue
        records[record["example_id"]] = record
    before = _count(conn, "raw.viral_examples")
    conn.insert_rows(
        "raw.viral_examples", (*VIRAL_COLUMNS, "loaded_at"),
        [[r[c] for c in VIRAL_COLUMNS] + [now] for r in records.values()],
        conflict_columns=("example_id",),
    )
    report.loaded = _count(conn, "raw.viral_examples") - before
    report.unchanged = len(records) - report.loaded
    quarantine.flush(conn)
    return report


WRITERS = {
    "posts": write_posts,
    "metrics": write_metric_snapshots,
    "followers": write_follower_snapshots,
    "viral": write_viral_examples,
}

# The raw table each kind of input lands in (the Dagster asset key is ["raw", <table>]).
RAW_TABLE_OF = {"posts": "posts", "metrics": "metric_snapshots", "followers": "follower_snapshots", "viral": "viral_examples"}


def _count(conn: Connection, table: str) -> int:
    return int(conn.scalar(f"select count(*) from {table}"))


def _chunks(items: list, size: int) -> Iterable[list]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _same(a: Any, b: Any) -> bool:
    a, b = to_python(a), to_python(b)
    if isinstance(a, float) or isinstance(b, float):
        return a is not None and b is not None and abs(float(a) - float(b)) < 1e-12
    return a == b
