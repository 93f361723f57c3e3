"""The validated writer of raw.metric_snapshots: cumulative counters of posted posts, matched by decision or tweet id;
a snapshot before posting, of an unknown or unposted post, or with a counter going backwards is quarantined."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from xbot_assets.ingest.parse import (
    BadValue,
    check_fields,
    parse_choice,
    parse_count,
    parse_text,
    parse_timestamp,
)
from xbot_assets.ingest.records import (
    COUNTER_COLUMNS,
    LOOKUP_CHUNK,
    METRIC_COLUMNS,
    REQUIRED_COUNTERS,
    SOURCES,
    LoadReport,
    Quarantine,
    chunks,
    same_value,
)
from xbot_assets.warehouse.connection import Connection

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
    conn: Connection, rows: Iterable[Mapping[str, Any]], *, now: datetime, source_name: str = "input",
    source_id: str | None = None,
) -> LoadReport:
    rows = list(rows)
    report = LoadReport("raw.metric_snapshots").expect(len(rows))
    quarantine = Quarantine("raw.metric_snapshots", source_name, now, report, source_id)
    parsed: list[tuple[dict[str, Any], int]] = []
    for index, row in enumerate(rows):
        try:
            check_fields(row)
            parsed.append((_metric_record(row), index))
        except BadValue as exc:
            quarantine.add(row, str(exc), parse_text(row.get("account_id")), index=index)

    posts = _posts_for(conn, [r for r, _ in parsed])
    by_post: dict[str, list[tuple[dict[str, Any], int]]] = defaultdict(list)
    for record, index in parsed:
        row = rows[index]
        post = posts["by_decision"].get(record["decision_id"]) if record["decision_id"] else None
        if post is None and record["tweet_id"]:
            post = posts["by_tweet"].get(record["tweet_id"])
        problem = _unmatched(record, post)
        if problem:
            quarantine.add(row, problem, record["account_id"] or (post or {}).get("account_id"), index=index)
            continue
        record["decision_id"], record["account_id"] = post["decision_id"], post["account_id"]
        record["tweet_id"] = record["tweet_id"] or post["tweet_id"]
        by_post[post["decision_id"]].append((record, index))

    history = _existing_snapshots(conn, list(by_post))
    inserts = []
    for decision_id, items in by_post.items():
        known = {snap["collected_at"]: snap for snap in history.get(decision_id, [])}
        for record, index in sorted(items, key=lambda item: item[0]["collected_at"]):
            same_time = known.get(record["collected_at"])
            if same_time is not None:
                if all(same_value(same_time[c], record[c]) for c in COUNTER_COLUMNS):
                    report.mark(index, "unchanged")
                else:
                    quarantine.add(rows[index], f"duplicate: another snapshot of {decision_id} at "
                                   f"{record['collected_at']} differs", record["account_id"], index=index)
                continue
            problem = _backwards(record, known.values())
            if problem:
                quarantine.add(rows[index], problem, record["account_id"], index=index)
                continue
            known[record["collected_at"]] = record
            inserts.append(record)
            report.mark(index, "loaded")
    conn.insert_rows(
        "raw.metric_snapshots", (*METRIC_COLUMNS, "loaded_at"),
        [[r[c] for c in METRIC_COLUMNS] + [now] for r in inserts],
        conflict_columns=("decision_id", "collected_at"),
    )
    quarantine.flush(conn)
    return report


def _unmatched(record: dict[str, Any], post: dict[str, Any] | None) -> str | None:
    """Why a snapshot cannot belong to the post it names, or None."""
    if post is None:
        return f"unknown post: decision_id={record['decision_id']} tweet_id={record['tweet_id']}"
    if record["account_id"] and record["account_id"] != post["account_id"]:
        return f"conflict: post {post['decision_id']} belongs to account {post['account_id']}"
    if post["status"] != "posted" or post["posted_at"] is None:
        return f"not posted: {post['decision_id']} has status {post['status']}"
    if record["collected_at"] < post["posted_at"]:
        return f"before posting: collected {record['collected_at']} < posted {post['posted_at']}"
    return None


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
        for chunk in chunks(keys, LOOKUP_CHUNK):
            marks = ", ".join("?" for _ in chunk)
            for rec in conn.fetch_records(f"select {columns} from raw.posts where {column} in ({marks})", chunk):
                by_decision[rec["decision_id"]] = rec
                if rec["tweet_id"]:
                    by_tweet[rec["tweet_id"]] = rec
    return {"by_decision": by_decision, "by_tweet": by_tweet}


def _existing_snapshots(conn: Connection, decision_ids: list[str]) -> dict[str, list[dict[str, Any]]]:
    found: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for chunk in chunks(decision_ids, LOOKUP_CHUNK):
        marks = ", ".join("?" for _ in chunk)
        for rec in conn.fetch_records(
            f"select decision_id, collected_at, {', '.join(COUNTER_COLUMNS)} from raw.metric_snapshots "
            f"where decision_id in ({marks})",
            chunk,
        ):
            found[rec["decision_id"]].append(rec)
    return found


