"""The X API v2 wire format, read tolerantly: both field-name dialects X's own material uses today.

The narrative docs, tweepy and spec v2.159 say `tweet.fields`, `retweet_count`, `tweet_count`; spec v2.167 and the
official xdk say `post.fields`, `repost_count`, `post_count`. Which one the live server answers with is not settled,
so every reader here accepts both and the client sends the documented `tweet.fields`. A missing block (non-public
metrics of a post older than 30 days, an analytics field the account's access does not give) reads as "unknown"
(None), never as zero. Pure: dicts in, values out.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from xbot_assets.connectors.base import ConnectorError
from xbot_assets.ingest.parse import snowflake_time

# Our counter name ← the names X uses for it, in order of preference (public_metrics, then the private blocks).
PUBLIC_COUNTERS = {
    "likes": ("like_count",),
    "retweets": ("retweet_count", "repost_count"),
    "replies": ("reply_count",),
    "quotes": ("quote_count",),
    "bookmarks": ("bookmark_count",),
    "impressions": ("impression_count",),
}
PRIVATE_COUNTERS = {
    "impressions": ("impression_count",),
    "profile_clicks": ("user_profile_clicks",),
    "url_clicks": ("url_link_clicks",),
}
# /2/tweets/analytics metric names (and the X API Playground's variants) for what we store.
ANALYTICS_COUNTERS = {
    "follows": ("follows", "new_follows"),
    "profile_clicks": ("user_profile_clicks", "profile_visits"),
    "url_clicks": ("url_clicks", "link_clicks"),
    "impressions": ("impressions",),
}


COUNTER_NAMES = ("impressions", "likes", "retweets", "replies", "quotes", "bookmarks", "profile_clicks", "follows",
                 "url_clicks")


class WireFormatError(ConnectorError, ValueError):
    """A response that does not have the documented shape (named in the message, never read as zero)."""


def _first(block: dict[str, Any] | None, names: tuple[str, ...]) -> int | None:
    if not isinstance(block, dict):
        return None
    for name in names:
        value = block.get(name)
        if value is not None:
            try:
                return int(value)
            except (TypeError, ValueError):
                raise WireFormatError(f"{name} is not a count: {value!r}") from None
    return None


def post_counters(post: dict[str, Any]) -> dict[str, int | None]:
    """Our counters from one post object of `GET /2/tweets` (public metrics always; private ones when present)."""
    public = post.get("public_metrics")
    if not isinstance(public, dict):
        raise WireFormatError(f"post {post.get('id')} has no public_metrics")
    counters = {name: _first(public, names) for name, names in PUBLIC_COUNTERS.items()}
    private = [post.get("non_public_metrics"), post.get("organic_metrics")]
    for name, names in PRIVATE_COUNTERS.items():
        if counters.get(name) is None:
            counters[name] = next((v for v in (_first(b, names) for b in private) if v is not None), None)
    for required in ("likes", "retweets", "replies"):
        if counters[required] is None:
            raise WireFormatError(f"post {post.get('id')} public_metrics lacks {required}")
    return {k: counters.get(k) for k in COUNTER_NAMES}


def analytics_counters(item: dict[str, Any]) -> dict[str, int | None]:
    """Totals from one item of `GET /2/tweets/analytics` (granularity total, or the sum of its buckets)."""
    buckets = item.get("timestamped_metrics")
    if isinstance(buckets, list) and buckets:
        totals: dict[str, int | None] = {name: None for name in ANALYTICS_COUNTERS}
        for bucket in buckets:
            for name, names in ANALYTICS_COUNTERS.items():
                value = _first(bucket.get("metrics") if isinstance(bucket, dict) else None, names)
                if value is not None:
                    totals[name] = (totals[name] or 0) + value
        return totals
    metrics = item.get("metrics") if isinstance(item.get("metrics"), dict) else item
    return {name: _first(metrics, names) for name, names in ANALYTICS_COUNTERS.items()}


def follower_count(user: dict[str, Any]) -> int:
    """followers_count of a user object (`GET /2/users/me?user.fields=public_metrics`)."""
    value = _first(user.get("public_metrics"), ("followers_count",))
    if value is None:
        raise WireFormatError("the user object has no public_metrics.followers_count")
    return value


def created_at(post: dict[str, Any]) -> datetime | None:
    """A post's creation time (naive UTC): `created_at` when requested, else from the snowflake id."""
    stamp = post.get("created_at")
    if isinstance(stamp, str) and stamp:
        parsed = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
        return parsed.astimezone(UTC).replace(tzinfo=None) if parsed.tzinfo else parsed
    return snowflake_time(post.get("id"))


def problem_text(body: Any) -> str:
    """The error of a v2 problem response, in either of the two shapes X sends."""
    if not isinstance(body, dict):
        return str(body)[:300]
    parts = []
    for key in ("title", "detail"):
        if body.get(key) and body.get(key) not in parts:
            parts.append(str(body[key]))
    for error in body.get("errors") or []:
        if isinstance(error, dict):
            parts.append(str(error.get("message") or error.get("detail") or error))
    return "; ".join(parts) or str(body)[:300]
