"""What the raw tables hold and what a validated write reports: their columns and vocabularies, `LoadReport` (what
became of every input row: loaded, updated, unchanged, quarantined by reason) and the quarantine that keeps every
rejected row with its reason.
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
    "hook", "hook_propensity", "topic_arm", "topic_source", "topic_propensity",
)
CONTENT_TYPE_SOURCES = ("planner", "inferred", "input")
# Where a planned post's topic came from: the topic bandit, the trending share, or the static policy's fixed draw.
TOPIC_SOURCES = ("bandit", "trending", "static")
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
    "content_propensity", "timing_propensity", "generator_propensity", "hook_propensity", "topic_propensity",
)


OUTCOMES = ("loaded", "updated", "unchanged", "quarantined")


@dataclass
class LoadReport:
    """What became of a write's input rows. A writer calls `expect(n)` for its n input rows and gives each one outcome
    (`mark`, or `Quarantine.add`), so `input rows = loaded + updated + unchanged + quarantined` holds by construction
    and `outcomes` says it row by row."""

    table: str
    loaded: int = 0
    updated: int = 0
    unchanged: int = 0
    quarantined: Counter = field(default_factory=Counter)
    input_rows: int = 0
    outcomes: list[str | None] = field(default_factory=list, repr=False)
    reasons: dict[int, str] = field(default_factory=dict, repr=False)  # input row → why it was quarantined

    @property
    def quarantined_total(self) -> int:
        return sum(self.quarantined.values())

    def expect(self, input_rows: int) -> LoadReport:
        self.input_rows += input_rows
        self.outcomes.extend([None] * input_rows)
        return self

    def mark(self, index: int, outcome: str, reason: str | None = None) -> None:
        """Input row `index` was loaded, updated, left unchanged or (with its reason) quarantined."""
        if self.outcomes[index] is not None:
            raise ValueError(f"{self.table}: input row {index} already {self.outcomes[index]}")
        self.outcomes[index] = outcome
        if outcome == "quarantined":
            self.reasons[index] = reason or "unknown"
            self.quarantined[self.reasons[index].split(":")[0]] += 1
        else:
            setattr(self, outcome, getattr(self, outcome) + 1)

    @property
    def balanced(self) -> bool:
        """Every input row has exactly one outcome."""
        return None not in self.outcomes and self.input_rows == (
            self.loaded + self.updated + self.unchanged + self.quarantined_total)

    def identity(self) -> str:
        return (f"{self.input_rows} input rows = {self.loaded} loaded + {self.updated} updated + {self.unchanged} "
                f"unchanged + {self.quarantined_total} quarantined")

    def summary(self) -> str:
        lines = [f"{self.table}: {self.identity()}"]
        for reason, n in sorted(self.quarantined.items()):
            lines.append(f"  quarantined {n:>5}  {reason}")
        return "\n".join(lines)

    def merge(self, other: LoadReport) -> LoadReport:
        """Add another write's counts to this report (several writes of one table, reported once)."""
        self.loaded += other.loaded
        self.updated += other.updated
        self.unchanged += other.unchanged
        self.quarantined.update(other.quarantined)
        self.reasons.update({len(self.outcomes) + i: r for i, r in other.reasons.items()})
        self.input_rows += other.input_rows
        self.outcomes.extend(other.outcomes)
        return self

    def as_metadata(self) -> dict[str, int]:
        return {
            "input rows": self.input_rows,
            "loaded": self.loaded,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "quarantined": self.quarantined_total,
        }


class Quarantine:
    """Collects rejected rows; `flush` writes every one of them, identical rows included.

    A row's key identifies the input row, not what was wrong with it: the table, the source (a file's digest, else
    the source's name), the account, the payload and which copy of that payload in the source it is. So a second load
    of the same input adds nothing even when a reason reads differently (a neighbour or a status moved on), and two
    identical bad rows are two rows."""

    def __init__(self, table: str, source_name: str, now: datetime, report: LoadReport, source_id: str | None = None):
        self.table = table
        self.source_name = source_name
        self.source_id = source_id or source_name
        self.now = now
        self.report = report
        self.rows: list[tuple] = []
        self._copies: Counter = Counter()

    def add(self, payload: Mapping[Any, Any], reason: str, account_id: str | None = None, *,
            index: int | None = None) -> None:
        """Quarantine one input row (`index`: its position in the writer's input, whose outcome this is)."""
        text = payload_text(payload)
        account = without_nul(account_id or DEFAULT_ACCOUNT)
        copy = self._copies[(account, text)]
        self._copies[(account, text)] += 1
        identity = "\x00".join((self.table, self.source_id, account, text, str(copy)))
        key = hashlib.sha256(identity.encode("utf-8", "surrogatepass")).hexdigest()[:32]
        reason = without_nul(reason)
        self.rows.append((key, account, self.table, text, reason, self.source_name, self.source_id, self.now))
        if index is None:
            self.report.quarantined[reason.split(":")[0]] += 1
        else:
            self.report.mark(index, "quarantined", reason)

    def flush(self, conn: Connection) -> None:
        conn.insert_rows(
            "raw.quarantine",
            ("quarantine_id", "account_id", "target_table", "payload", "reason", "source_name", "source_id",
             "received_at"),
            self.rows,
            conflict_columns=("quarantine_id",),
        )


def payload_text(payload: Mapping[Any, Any]) -> str:
    """The original row as JSON text (NUL bytes escaped by JSON; the csv reader's key for extra fields named)."""
    return json.dumps({("(beyond the header)" if k is None else str(k)): _jsonable(v) for k, v in payload.items()},
                      sort_keys=True)


def without_nul(text: str) -> str:
    """Text PostgreSQL accepts: a NUL byte written as `\\x00`."""
    return text.replace("\x00", "\\x00")


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
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
