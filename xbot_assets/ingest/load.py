"""Validated writes into the raw tables, with quarantine for whatever cannot be true.

Both `xbot load` (a user's CSV) and the connectors (publish/collect) write through these functions, so a bad row is
treated the same wherever it comes from: it lands in `raw.quarantine` with its payload and a reason, nothing else is
lost, and writing the same rows twice changes nothing.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

from xbot_assets.ingest.metrics import write_metric_snapshots
from xbot_assets.ingest.parse import (
    BadValue,
    header_name,
    is_blank,
    parse_choice,
    parse_count,
    parse_text,
    parse_timestamp,
    parse_unit_score,
)
from xbot_assets.ingest.records import (
    CONTENT_TYPE_SOURCES,
    DECISION_TYPES,
    FOLLOWER_COLUMNS,
    LOOKUP_CHUNK,
    POST_COLUMNS,
    POST_STATUSES,
    SOURCES,
    STATUS_RANK,
    UNIT_SCORES,
    VIRAL_COLUMNS,
    LoadReport,
    Quarantine,
    chunks,
    same_value,
)
from xbot_assets.settings import DEFAULT_ACCOUNT
from xbot_assets.warehouse.connection import Connection
from xbot_assets.warehouse.values import to_python


def read_csv_rows(path: str | Path) -> list[dict[str, str]]:
    """Rows as strings, exactly as written; header names are normalised to snake_case."""
    with open(path, newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
        if reader.fieldnames is None:
            raise ValueError(f"{path}: the file is empty (no header row)")
        rows = []
        for raw in reader:
            rows.append({header_name(k): v for k, v in raw.items() if k is not None})
        return rows


# ---------------------------------------------------------------------------------------------------------------
# posts


def _post_record(row: Mapping[str, Any]) -> dict[str, Any]:
    tweet_id = parse_text(row.get("tweet_id"))
    decision_id = parse_text(row.get("decision_id")) or (f"tweet-{tweet_id}" if tweet_id else None)
    if decision_id is None:
        raise BadValue("missing key: neither decision_id nor tweet_id is given")
    posted_at = parse_timestamp(row.get("posted_at"), "posted_at")
    if posted_at is None and is_blank(row.get("status")) and is_blank(row.get("scheduled_at")):
        raise BadValue("no date: a post needs posted_at (or a status and scheduled_at, as the planner writes)")
    status = parse_choice(row.get("status"), "status", POST_STATUSES, default="posted" if posted_at else "queued")
    if status == "posted" and posted_at is None:
        raise BadValue("unknown date: a posted decision needs posted_at")
    record: dict[str, Any] = {
        "decision_id": decision_id,
        "account_id": parse_text(row.get("account_id")) or DEFAULT_ACCOUNT,
        "status": status,
        "decision_type": parse_choice(row.get("decision_type"), "decision_type", DECISION_TYPES, default="single"),
        "content": parse_text(row.get("content")),
        "thread_parts": _string_list(row.get("thread_parts"), "thread_parts"),
        "content_type": parse_text(row.get("content_type")),
        "generator_name": parse_text(row.get("generator_name")),
        "topic": parse_text(row.get("topic")),
        "scheduled_at": parse_timestamp(row.get("scheduled_at"), "scheduled_at"),
        "posted_at": posted_at,
        "tweet_id": tweet_id,
        "skip_reason": parse_text(row.get("skip_reason")),
        "decision_reasons": parse_text(row.get("decision_reasons")),
        "source": parse_choice(row.get("source"), "source", SOURCES, default="real"),
        "publishing_started_at": parse_timestamp(row.get("publishing_started_at"), "publishing_started_at"),
        "thread_tweet_ids": _string_list(row.get("thread_tweet_ids"), "thread_tweet_ids"),
        "publish_note": parse_text(row.get("publish_note")),
        "generator_prompt_version": parse_text(row.get("generator_prompt_version")),
        "generator_model": parse_text(row.get("generator_model")),
        "content_type_source": parse_choice(row.get("content_type_source"), "content_type_source",
                                            CONTENT_TYPE_SOURCES),
    }
    for column in UNIT_SCORES:
        record[column] = parse_unit_score(row.get(column), column)
    # Left None when unknown: the writer keeps an existing row's created_at, so a re-load changes nothing.
    record["created_at"] = parse_timestamp(row.get("created_at"), "created_at") or posted_at
    return record


def _string_list(value: Any, column: str) -> str | None:
    """A JSON array of strings (thread parts, a thread's tweet ids), stored as JSON text."""
    if is_blank(value):
        return None
    if isinstance(value, (list, tuple)):
        return json.dumps(list(value))
    try:
        parts = json.loads(str(value))
    except json.JSONDecodeError as exc:
        raise BadValue(f"bad {column}: not a JSON array of strings") from exc
    if not isinstance(parts, list) or not all(isinstance(p, str) for p in parts):
        raise BadValue(f"bad {column}: not a JSON array of strings")
    return json.dumps(parts)


def write_posts(
    conn: Connection, rows: Iterable[Mapping[str, Any]], *, now: datetime, source_name: str = "input"
) -> LoadReport:
    report = LoadReport("raw.posts")
    quarantine = Quarantine("raw.posts", source_name, now, report)
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
        elif all(same_value(old[c], record[c]) for c in POST_COLUMNS):
            report.unchanged += 1
        elif old["account_id"] != record["account_id"]:
            quarantine.add(payloads[key], f"conflict: decision_id {key} belongs to account {old['account_id']}")
        elif STATUS_RANK[record["status"]] < STATUS_RANK[old["status"]]:
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
    for chunk in chunks(decision_ids, LOOKUP_CHUNK):
        marks = ", ".join("?" for _ in chunk)
        frame = conn.fetch_df(f"select {', '.join(POST_COLUMNS)} from raw.posts where decision_id in ({marks})", chunk)
        for rec in frame.to_dict("records"):
            found[rec["decision_id"]] = {k: to_python(v) for k, v in rec.items()}
    return found


# ---------------------------------------------------------------------------------------------------------------

def write_follower_snapshots(
    conn: Connection, rows: Iterable[Mapping[str, Any]], *, now: datetime, source_name: str = "input"
) -> LoadReport:
    report = LoadReport("raw.follower_snapshots")
    quarantine = Quarantine("raw.follower_snapshots", source_name, now, report)
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
    quarantine = Quarantine("raw.viral_examples", source_name, now, report)
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

