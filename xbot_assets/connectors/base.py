"""The connector interface: publish, collect metrics, read followers."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol, runtime_checkable


@dataclass(frozen=True)
class Publication:
    """What the publisher hands a connector: the decision and its text."""

    decision_id: str
    text: str
    thread_parts: tuple[str, ...]
    content_type: str
    generator_name: str
    quality_score: float

    @property
    def is_thread(self) -> bool:
        return len(self.thread_parts) > 1


@dataclass(frozen=True)
class Published:
    tweet_id: str
    posted_at: datetime  # naive UTC, as the platform reports it


class ConnectorError(RuntimeError):
    """The platform refused or failed; the decision is marked failed with this message, never silently dropped."""


@runtime_checkable
class Connector(Protocol):
    #: 'simulated' or 'real': stamped on every row the connector's data produces (raw.*.source).
    source: str

    def publish(self, post: Publication, now: datetime) -> Published:
        """Publish one post. `now` is the clock's time; a real platform reports its own."""
        ...

    def collect_metrics(self, tweet_ids: Sequence[str], now: datetime) -> dict[str, dict[str, int]]:
        """Cumulative public counters per tweet id (impressions, likes, retweets, replies, quotes, bookmarks,
        profile_clicks, url_clicks), as read at `now`. Unknown ids are left out of the result."""
        ...

    def read_followers(self, now: datetime) -> int:
        """The account's follower count at `now`."""
        ...
