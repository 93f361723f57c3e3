"""What the raw tables hold and what a validated write reports: their columns and vocabularies, `LoadReport` (rows
loaded, updated, unchanged, quarantined by reason) and the quarantine that keeps every rejected row with its reason.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from xbot_assets.settings import DEFAULT_ACCOUNT
from xbot_assets.warehouse.connection import Connection
from xbot_assets.warehouse.values import to_python

POST_STATUSES = ("queued", "publishing", "posted", "skipped", "failed")
DECISION_TYPES = ("single", "thread", "reply")
SOURCES = ("simulated", "real")
# A decision moves forward through these; going back (posted → queued) is an error, not an update.
STATUS_RANK = {"queued": 0, "publishing": 0.5, "skipped": 1, "failed": 1, "posted": 2}

POST_COLUMNS = (
    "decision_id", "account_id", "status", "decision_type", "content", "thread_parts", "content_type",
    "generator_name", "topic", "quality_score", "novelty_score", "expertise_score", "viral_score", "predicted_er",
    "predicted_follow_prob", "content_propensity", "timing_propensity", "generator_propensity", "scheduled_at",
    "posted_at", "tweet_id", "skip_reason", "decision_reasons", "source", "created_at", "publishing_started_at",
    "thread_tweet_ids", "publish_note", "generator_prompt_version", "generator_model", "content_type_source",
)
CONTENT_TYPE_SOURCES = ("planner", "inferred", "input")
COUNTER_COLUMNS = (
    "impressions", "likes", "retweets", "replies", "quotes", "bookmarks", "profile_clicks", "url_clicks", "follows",
)
REQUIRED_COUNTERS = ("likes", "retweets", "replies")
METRIC_COLUMNS = ("account_id", "decision_id", "tweet_id", "collected_at", *COUNTER_COLUMNS, "source")
FOLLOWER_COLUMNS = ("account_id", "collected_at", "followers", "source")
VIRAL_COLUMNS = (
    "example_id", "account_id", "author_handle", "content", "impressions", "likes", "retweets", "replies", "topic",
    "collected_at", "source",
)
UNIT_SCORES = (
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


class Quarantine:
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


# Ids looked up per query: one query per 5,000 keeps a 50,000-row import at ten round trips a table (measured:
# 500 per query spent 5 s of a 38 s import in the queries' fixed cost on DuckDB).
LOOKUP_CHUNK = 5000


def chunks(items: list, size: int) -> Iterable[list]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def same_value(a: Any, b: Any) -> bool:
    a, b = to_python(a), to_python(b)
    if isinstance(a, float) or isinstance(b, float):
        return a is not None and b is not None and abs(float(a) - float(b)) < 1e-12
    return a == b
