"""Trending topics (issue 17): topics rising among the account's recent viral examples, inside its niche.

A viral example is on a profile topic when the topic's name is in the example's topic label or its text. Per label
(the example's own topic label when it names the profile topic, else the profile topic itself) the examples of the
last `window_days` are counted with recency weights (0.5 ** (age / half-life)); a label is *rising* when the newer
half of the window holds more of its examples than the older half (a label seen only recently is rising too).
Rising labels come best first by their weighted count. Viral examples are other accounts' posts: they choose a
topic to write about, and never become training data, arms or formulas.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta

import pandas as pd

from xbot_assets.acting.arm_choices import TrendingTopic
from xbot_assets.warehouse.connection import Connection

WINDOW_DAYS = 14
HALF_LIFE_DAYS = 3.0


def _profile_topic(label: str, content: str, topics: Sequence[str]) -> str | None:
    label, content = label.lower(), content.lower()
    for topic in sorted(topics, key=len, reverse=True):  # the most specific topic a label names
        if topic.lower() in label or topic.lower() in content:
            return topic
    return None


def trending_topics(examples: Iterable[tuple[str | None, str, datetime]], topics: Sequence[str], now: datetime, *,
                    window_days: int = WINDOW_DAYS, half_life_days: float = HALF_LIFE_DAYS) -> list[TrendingTopic]:
    """Rising in-niche labels of (topic label, text, collected_at) examples, best first."""
    start, middle = now - timedelta(days=window_days), now - timedelta(days=window_days / 2)
    score: dict[tuple[str, str], float] = defaultdict(float)
    newer: dict[tuple[str, str], int] = defaultdict(int)
    older: dict[tuple[str, str], int] = defaultdict(int)
    for label, content, collected_at in examples:
        at = pd.Timestamp(collected_at).to_pydatetime().replace(tzinfo=None)
        if not start < at <= now:
            continue
        topic = _profile_topic(label or "", content or "", topics)
        if topic is None:  # outside the niche: never a topic for this account
            continue
        key = ((label or "").strip() if topic.lower() in (label or "").lower() else topic, topic)
        age_days = (now - at).total_seconds() / 86_400
        score[key] += 0.5 ** (age_days / half_life_days)
        (newer if at > middle else older)[key] += 1
    rising = [TrendingTopic(label, topic, round(value, 6), newer[key] / max(older[key], 1))
              for key, value in score.items() for label, topic in [key] if newer[key] > older[key]]
    return sorted(rising, key=lambda t: (-t.score, t.label))


def load_trending(conn: Connection, account_id: str, topics: Sequence[str], now: datetime) -> list[TrendingTopic]:
    if not topics or not conn.table_exists("raw", "viral_examples"):
        return []
    rows = conn.fetchall(
        "select topic, content, collected_at from raw.viral_examples where account_id = ? and collected_at > ? "
        "and collected_at <= ? order by collected_at, example_id",
        [account_id, now - timedelta(days=WINDOW_DAYS), now])
    return trending_topics(rows, topics, now)
