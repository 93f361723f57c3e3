"""The connector interface: publish, collect metrics, read followers."""

from __future__ import annotations

import re
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
    # The ids a publish already got from the platform (a thread cut by an unknown outcome): settled, never re-read.
    known_tweet_ids: tuple[str, ...] = ()
    # The topic arm and hook type the post was planned on (issue 17; None: not chosen). The simulator's truth uses them.
    topic_arm: str | None = None
    hook: str | None = None

    @property
    def is_thread(self) -> bool:
        return len(self.thread_parts) > 1


@dataclass(frozen=True)
class Published:
    tweet_id: str  # the post's id (a thread's first part)
    posted_at: datetime  # naive UTC, as the platform reports it
    thread_tweet_ids: tuple[str, ...] = ()  # every part's id, in order, for a thread
    incomplete: str | None = None  # a thread that stopped half-way: what happened (its first parts are live)
    stopped: str | None = None  # it stopped because the account can send nothing more now (credits, a cap, a token)


# What the platform turns into a link (and X prices as a post with a URL): a scheme, www., or a bare domain.
_URL = re.compile(r"https?://\S+|\bwww\.\S+|\b[\w-]+\.(?:com|org|net|io|co|ai|dev|app|me|ly|gg|xyz)\b(?:/\S*)?", re.I)


def contains_url(text: str) -> bool:
    return bool(_URL.search(text or ""))


class ConnectorError(RuntimeError):
    """The platform refused or failed; the decision is marked failed with this message, never silently dropped."""


class NotSent(ConnectorError):
    """Nothing was created and the post may be sent later: a rate limit, spent credits, the monthly budget.

    `stop` says the account can send nothing more now (a 24-hour cap, credits or budget spent): the rest of the run
    waits too, and the operator is alerted. `until` is when the platform said it would accept again, if it did."""

    def __init__(self, message: str, *, stop: bool = False, until: datetime | None = None):
        super().__init__(message)
        self.stop = stop
        self.until = until


class OutcomeUnknown(ConnectorError):
    """A post was sent and no answer settled whether it exists (timeout, dropped connection, 5xx) even after
    reading the account's recent posts. It is never sent again blindly: the publisher keeps it 'publishing' and
    settles it from the platform's timeline on a later run. `tweet_ids`: the parts of a thread that did go out."""

    def __init__(self, message: str, tweet_ids: tuple[str, ...] = ()):
        super().__init__(message)
        self.tweet_ids = tweet_ids


@runtime_checkable
class Connector(Protocol):
    #: 'simulated' or 'real': stamped on every row the connector's data produces (raw.*.source).
    source: str

    def publish(self, post: Publication, now: datetime) -> Published:
        """Publish one post. `now` is the clock's time; a real platform reports its own."""
        ...

    def collect_metrics(self, tweet_ids: Sequence[str], now: datetime) -> dict[str, dict[str, int]]:
        """Cumulative counters per tweet id (impressions, likes, retweets, replies, quotes, bookmarks,
        profile_clicks, url_clicks, and follows where the platform reports them per post), as read at `now`; a
        counter the platform does not give is None. Unknown ids are left out of the result."""
        ...

    def read_followers(self, now: datetime) -> int:
        """The account's follower count at `now`."""
        ...

    def find_published(self, post: Publication, since: datetime) -> Published | None:
        """The post if the platform shows it as published since `since` (naive UTC), else None: how a publish
        whose outcome was never recorded (a crash after sending) is settled without sending it again."""
        ...
