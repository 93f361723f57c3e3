"""Validated writes into the raw tables, with quarantine for whatever cannot be true.

Both `xbot load` (a user's CSV) and the connectors (publish/collect) write through these functions, so a bad row is
treated the same wherever it comes from: it lands in `raw.quarantine` with its payload and a reason, nothing else is
lost, and writing the same rows twice changes nothing.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

from xbot_assets.ingest.csv_files import CsvFile, read_csv_file
from xbot_assets.ingest.hooks import HOOK_TYPES, hook_of
from xbot_assets.ingest.metrics import write_metric_snapshots
from xbot_assets.ingest.parse import (
    BadValue,
    check_fields,
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
    TOPIC_SOURCES,
    UNIT_SCORES,
    VIRAL_COLUMNS,
    LoadReport,
    Quarantine,
    chunks,
    same_value,
)
from xbot_assets.settings import DEFAULT_ACCOUNT
from xbot_assets.warehouse.connection import Connection


def read_csv_rows(path: str | Path, encoding: str | None = None) -> list[dict[str, str]]:
    """Rows as strings, exactly as written; header names are normalised to snake_case (see `read_csv_file`)."""
    return normalised_rows(read_csv_file(path, encoding))


def normalised_rows(file: CsvFile) -> list[dict[str, str]]:
    """The file's rows keyed by snake_case column names; fields beyond the header are kept under None, so a NUL or a
    huge value there is seen (the writers ignore them otherwise)."""
    return [{(None if k is None else header_name(k)): v for k, v in raw.items()} for raw in file.rows]


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
        # A post's hook is known whenever its text is: given (the planner's), else classified from the text.
        "hook": parse_choice(row.get("hook"), "hook", HOOK_TYPES) or hook_of(parse_text(row.get("content"))),
        "topic_arm": parse_text(row.get("topic_arm")),
        "topic_source": parse_choice(row.get("topic_source"), "topic_source", TOPIC_SOURCES),
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
    conn: Connection, rows: Iterable[Mapping[str, Any]], *, now: datetime, source_name: str = "input",
    source_id: str | None = None, existing: dict[str, dict[str, Any]] | None = None,
) -> LoadReport:
    """Validated posts into raw.posts: new ones inserted, changed ones updated (never a status going backwards),
    bad ones quarantined with the reason. `existing`: the stored rows of these decision ids, when the caller has
    just read them (`update_posts`)."""
    rows = list(rows)
    report = LoadReport("raw.posts").expect(len(rows))
    quarantine = Quarantine("raw.posts", source_name, now, report, source_id)
    records: dict[str, dict[str, Any]] = {}
    origins: dict[str, int] = {}  # decision_id → the input row it came from
    for index, row in enumerate(rows):
        try:
            check_fields(row)
            record = _post_record(row)
        except BadValue as exc:
            quarantine.add(row, str(exc), parse_text(row.get("account_id")), index=index)
            continue
        key = record["decision_id"]
        if key in records:
            if records[key] != record:
                quarantine.add(row, f"duplicate: decision_id {key} appears twice in the input with different values",
                               record["account_id"], index=index)
            else:
                report.mark(index, "unchanged")
            continue
        records[key] = record
        origins[key] = index

    if existing is None:
        existing = _existing_posts(conn, list(records))
    inserts, updates = [], []
    for key, record in records.items():
        old, index = existing.get(key), origins[key]
        if record["created_at"] is None:
            record["created_at"] = old["created_at"] if old else now
        if old is None:
            inserts.append(record)
            report.mark(index, "loaded")
        elif all(same_value(old[c], record[c]) for c in POST_COLUMNS):
            report.mark(index, "unchanged")
        elif old["account_id"] != record["account_id"]:
            quarantine.add(rows[index], f"conflict: decision_id {key} belongs to account {old['account_id']}",
                           record["account_id"], index=index)
        elif STATUS_RANK[record["status"]] < STATUS_RANK[old["status"]]:
            quarantine.add(rows[index], f"status went backwards: {key} is {old['status']}, input says "
                           f"{record['status']}", record["account_id"], index=index)
        else:
            updates.append(record)
            report.mark(index, "updated")
    columns = (*POST_COLUMNS, "loaded_at")
    conn.insert_rows("raw.posts", columns, [[r[c] for c in POST_COLUMNS] + [now] for r in inserts])
    # loaded_at moves with an update: the incremental marts recompute a post by when its row last arrived.
    conn.update_rows("raw.posts", ("decision_id",), columns, [[r[c] for c in POST_COLUMNS] + [now] for r in updates])
    quarantine.flush(conn)
    return report


def update_posts(conn: Connection, changes: Mapping[str, Mapping[str, Any]], *, now: datetime,
                 source_name: str) -> LoadReport:
    """Changes to stored posts (decision_id → the columns that change) through the validated writer, which compares
    the whole row: one read and one write for all of them. A decision id that is not stored is an error."""
    existing = _existing_posts(conn, list(changes))
    unknown = sorted(set(changes) - set(existing))
    if unknown:
        raise KeyError(f"update_posts: not in raw.posts: {', '.join(unknown)}")
    return write_posts(conn, [{**existing[k], **change} for k, change in changes.items()], now=now,
                       source_name=source_name, existing=existing)


def _existing_posts(conn: Connection, decision_ids: list[str]) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    for chunk in chunks(decision_ids, LOOKUP_CHUNK):
        marks = ", ".join("?" for _ in chunk)
        for rec in conn.fetch_records(f"select {', '.join(POST_COLUMNS)} from raw.posts where decision_id in ({marks})",
                                      chunk):
            found[rec["decision_id"]] = rec
    return found


# ---------------------------------------------------------------------------------------------------------------

def write_follower_snapshots(
    conn: Connection, rows: Iterable[Mapping[str, Any]], *, now: datetime, source_name: str = "input",
    source_id: str | None = None,
) -> LoadReport:
    rows = list(rows)
    report = LoadReport("raw.follower_snapshots").expect(len(rows))
    quarantine = Quarantine("raw.follower_snapshots", source_name, now, report, source_id)
    records: dict[tuple[str, datetime], tuple[dict[str, Any], int]] = {}
    for index, row in enumerate(rows):
        try:
            check_fields(row)
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
            quarantine.add(row, str(exc), parse_text(row.get("account_id")), index=index)
            continue
        key = (record["account_id"], record["collected_at"])
        if key in records and records[key][0]["followers"] != record["followers"]:
            quarantine.add(row, f"duplicate: two different follower counts for {key[0]} at {key[1]}", key[0],
                           index=index)
        elif key in records:
            report.mark(index, "unchanged")
        else:
            records[key] = (record, index)

    existing: dict[tuple[str, datetime], int] = {}
    for account in sorted({k[0] for k in records}):
        # Only the span the input covers: reading the account's whole history made every write cost O(history).
        times = [k[1] for k in records if k[0] == account]
        for rec in conn.fetch_records(
            "select collected_at, followers from raw.follower_snapshots where account_id = ? "
            "and collected_at between ? and ?", [account, min(times), max(times)]
        ):
            existing[(account, rec["collected_at"])] = int(rec["followers"])
    inserts = []
    for key, (record, index) in records.items():
        if key not in existing:
            inserts.append(record)
            report.mark(index, "loaded")
        elif existing[key] == record["followers"]:
            report.mark(index, "unchanged")
        else:
            quarantine.add(rows[index], f"duplicate: {key[0]} already has {existing[key]} followers at {key[1]}",
                           key[0], index=index)
    conn.insert_rows(
        "raw.follower_snapshots", (*FOLLOWER_COLUMNS, "loaded_at"),
        [[r[c] for c in FOLLOWER_COLUMNS] + [now] for r in inserts],
        conflict_columns=("account_id", "collected_at"),
    )
    quarantine.flush(conn)
    return report


def write_viral_examples(
    conn: Connection, rows: Iterable[Mapping[str, Any]], *, now: datetime, source_name: str = "input",
    source_id: str | None = None,
) -> LoadReport:
    """Other accounts' posts: prompt inspiration only, never training data (seed 003). An example already stored is
    kept as it is (unchanged): its first copy is the one prompts have used."""
    rows = list(rows)
    report = LoadReport("raw.viral_examples").expect(len(rows))
    quarantine = Quarantine("raw.viral_examples", source_name, now, report, source_id)
    records: dict[str, tuple[dict[str, Any], int]] = {}
    for index, row in enumerate(rows):
        try:
            check_fields(row)
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
            quarantine.add(row, str(exc), parse_text(row.get("account_id")), index=index)
            continue
        key = record["example_id"]
        if key in records and records[key][0] != record:
            quarantine.add(row, f"duplicate: example_id {key} appears twice in the input with different values",
                           record["account_id"], index=index)
        elif key in records:
            report.mark(index, "unchanged")
        else:
            records[key] = (record, index)
    stored = _stored_example_ids(conn, list(records))
    inserts = []
    for key, (record, index) in records.items():
        report.mark(index, "unchanged" if key in stored else "loaded")
        if key not in stored:
            inserts.append(record)
    conn.insert_rows(
        "raw.viral_examples", (*VIRAL_COLUMNS, "loaded_at"),
        [[r[c] for c in VIRAL_COLUMNS] + [now] for r in inserts],
        conflict_columns=("example_id",),
    )
    quarantine.flush(conn)
    return report


def _stored_example_ids(conn: Connection, example_ids: list[str]) -> set[str]:
    found: set[str] = set()
    for chunk in chunks(example_ids, LOOKUP_CHUNK):
        marks = ", ".join("?" for _ in chunk)
        found.update(str(e) for (e,) in conn.fetchall(
            f"select example_id from raw.viral_examples where example_id in ({marks})", chunk))
    return found


WRITERS = {
    "posts": write_posts,
    "metrics": write_metric_snapshots,
    "followers": write_follower_snapshots,
    "viral": write_viral_examples,
}

# The raw table each kind of input lands in (the Dagster asset key is ["raw", <table>]).
RAW_TABLE_OF = {"posts": "posts", "metrics": "metric_snapshots", "followers": "follower_snapshots", "viral": "viral_examples"}

