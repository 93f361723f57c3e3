"""X's own analytics exports, read into the rows the validated writers take: the account's history as posted
decisions of the `imported` generator, lifetime metric snapshots, and a follower history.

Three files are recognised by their header (columns matched by name: case, spaces, underscores and order do not
matter; unknown columns are ignored):

- `content`: the current per-post export (`account_analytics_content_<from>_<to>.csv`): Post id, Date (a date
  only: the time comes from the post id, which carries it), Post text, Post Link, Impressions, Likes, Reposts,
  Replies, Bookmarks, Profile visits, URL Clicks, New follows, ...
- `classic`: the old per-tweet export (`tweet_activity_metrics_<handle>_<from>_<to>_<lang>.csv`): Tweet id, Tweet
  permalink, Tweet text, time, impressions, retweets, replies, likes (favorites in old files), user profile clicks,
  url clicks, follows, ... with floats like "106.0" and "-" for none.
- `overview`: the per-day export (`account_overview_analytics.csv`): Date, New follows, Unfollows, ...; its daily net
  gain becomes the follower history given one known count.

Numbers in the per-post files are lifetime totals at export time: each row becomes one metric snapshot at the
collection time (the file name's end date, end of that day, unless given).
"""

from __future__ import annotations

import html
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from xbot_assets.ingest.hooks import hook_of
from xbot_assets.ingest.load import write_follower_snapshots, write_posts
from xbot_assets.ingest.metrics import write_metric_snapshots
from xbot_assets.ingest.parse import (
    FIRST_TIMED_ID,
    MAX_COUNT,
    BadValue,
    check_fields,
    header_name,
    is_blank,
    parse_count,
    parse_text,
    parse_timestamp,
    snowflake_time,
)
from xbot_assets.ingest.records import LOOKUP_CHUNK, LoadReport, Quarantine, chunks
from xbot_assets.warehouse.connection import Connection

IMPORTED_GENERATOR = "imported"  # learning.generator_weights has the same name: the layers keep them apart

# canonical name → the header names (normalised: lower case, one underscore between words) X has used for it.
CONTENT_COLUMNS = {
    "tweet_id": ("post_id",), "date": ("date",), "content": ("post_text",), "permalink": ("post_link",),
    "impressions": ("impressions",), "likes": ("likes",), "retweets": ("reposts",), "replies": ("replies",),
    "bookmarks": ("bookmarks",), "profile_clicks": ("profile_visits",), "url_clicks": ("url_clicks",),
    "follows": ("new_follows",),
}
CLASSIC_COLUMNS = {
    "tweet_id": ("tweet_id",), "permalink": ("tweet_permalink",), "content": ("tweet_text",), "time": ("time",),
    "impressions": ("impressions",), "likes": ("likes", "favorites"), "retweets": ("retweets",),
    "replies": ("replies",), "profile_clicks": ("user_profile_clicks",), "url_clicks": ("url_clicks",),
    "follows": ("follows",),
}
OVERVIEW_COLUMNS = {"date": ("date",), "new_follows": ("new_follows",), "unfollows": ("unfollows",)}
KINDS = {"content": CONTENT_COLUMNS, "classic": CLASSIC_COLUMNS, "overview": OVERVIEW_COLUMNS}
# What identifies each kind: all of these must be present.
REQUIRED = {
    "content": ("tweet_id", "date", "content", "likes", "retweets", "replies"),
    "classic": ("tweet_id", "content", "time", "likes", "retweets", "replies"),
    "overview": ("date", "new_follows", "unfollows"),
}
COUNTERS = ("impressions", "likes", "retweets", "replies", "bookmarks", "profile_clicks", "url_clicks", "follows")
_PERMALINK_ID = re.compile(r"/status(?:es)?/(\d+)")
_FILE_DATES = re.compile(r"(\d{4}-?\d{2}-?\d{2})_(\d{4}-?\d{2}-?\d{2})")


class ExportError(ValueError):
    """A file that is none of X's exports; the message names the columns each kind needs."""


@dataclass
class ExportRows:
    """One export's raw-table rows; `origins[i]` is the file row (0-based, after the header) `posts[i]` and
    `metrics[i]` (or, for the overview, `followers[i]`) came from."""

    kind: str
    input_rows: int = 0
    posts: list[dict[str, Any]] = field(default_factory=list)
    metrics: list[dict[str, Any]] = field(default_factory=list)
    followers: list[dict[str, Any]] = field(default_factory=list)
    origins: list[int] = field(default_factory=list)
    rejected: list[tuple[int, Mapping[str, Any], str]] = field(default_factory=list)  # (file row, row, reason)


@dataclass
class ExportReport:
    """`rows`: one outcome per file row — quarantined when the row, its post or its snapshot was refused; else loaded
    when it wrote a new post or a new snapshot, updated when it changed a post only, unchanged when it changed
    nothing; `tables`: what each raw table's writer did with the rows it was given."""

    rows: LoadReport
    tables: list[LoadReport]


def detect(headers: Sequence[str]) -> tuple[str, dict[str, str]]:
    """The export's kind and, for each canonical column present, the file's header for it."""
    present = {header_name(h): h for h in headers}
    for kind, columns in KINDS.items():
        found = {canon: present[alias] for canon, aliases in columns.items() for alias in aliases if alias in present}
        if all(c in found for c in REQUIRED[kind]):
            return kind, found
    expected = "; ".join(f"{kind}: {', '.join(columns[c][0] for c in REQUIRED[kind])}"
                         for kind, columns in KINDS.items())
    raise ExportError(f"not an X analytics export: the header ({', '.join(headers) or 'empty'}) has none of the "
                      f"column sets of X's exports — {expected}")


def collected_at_from_name(file_name: str) -> datetime | None:
    """The end of the export's last day, from `..._<from>_<to>...csv`; None when the name carries no dates."""
    match = _FILE_DATES.search(file_name)
    if not match:
        return None
    end = match[2].replace("-", "")
    return datetime.strptime(end, "%Y%m%d") + timedelta(days=1)


def infer_content_type(text: str) -> str:
    """The planner's content types, guessed from an imported post's words (stored as inferred)."""
    lowered = text.lower()
    if text.lstrip().startswith("🧵") or re.search(r"(^|\s)1/\s|\bthread\b", lowered):
        return "educational_thread"
    if re.search(r"\bmyths?\b|\bdebunk|\bnot true\b|\bactually\b", lowered):
        return "myth_busting"
    if re.match(r"\s*(tip|try this|how to|do this|start|stop|avoid|remember)\b", lowered):
        return "wellness_tip"
    return "factual_single"


def _tweet_id(row: Mapping[str, Any], columns: Mapping[str, str]) -> str:
    raw = str(row.get(columns["tweet_id"]) or "").strip().strip("'\"")
    if raw.isdigit() and int(raw) > MAX_COUNT:
        raise BadValue(f"mangled id: {raw} is beyond X's 64-bit ids")
    if raw.isdigit():
        return raw
    link = str(row.get(columns.get("permalink", ""), "") or "")
    match = _PERMALINK_ID.search(link)
    if match:  # a spreadsheet turned the id into 1.23457E+18: the permalink still has it whole
        return match[1]
    raise BadValue(f"mangled id: {raw!r} is not a whole post id and the row has no permalink to recover it from")


def _counter(value: Any, column: str) -> int | None:
    if isinstance(value, str) and value.strip() == "-":  # the classic export's "none"
        return None
    return parse_count(value, column)


def _post_row(row: Mapping[str, Any], kind: str, columns: Mapping[str, str], account_id: str,
              collected_at: datetime) -> tuple[dict[str, Any], dict[str, Any]]:
    tweet_id = _tweet_id(row, columns)
    text = parse_text(row.get(columns["content"]))
    if text is None:
        raise BadValue("missing text: the post's text is empty")
    text = html.unescape(text)
    if kind == "classic":
        posted_at = parse_timestamp(row.get(columns["time"]), "time")
        if posted_at is None:
            raise BadValue("no date: time is empty")
    else:
        day = parse_timestamp(row.get(columns["date"]), "Date")
        if day is None:
            raise BadValue("no date: Date is empty")
        if int(tweet_id) < FIRST_TIMED_ID:
            raise BadValue(f"no posting time: the file gives only the date and id {tweet_id} predates X's ids "
                           "that carry their time")
        posted_at = snowflake_time(tweet_id)
        if abs((posted_at.date() - day.date()).days) > 1:  # the Date is the account's local day: ±1 is a time zone
            raise BadValue(f"date mismatch: Date {day.date()} but id {tweet_id} was created {posted_at:%Y-%m-%d %H:%M}")
    if posted_at > collected_at:
        raise BadValue(f"after the export: posted {posted_at:%Y-%m-%d %H:%M}, collected {collected_at:%Y-%m-%d %H:%M}")
    counters = {c: _counter(row.get(columns[c]), columns[c]) for c in COUNTERS if c in columns}
    post = {
        "decision_id": f"tweet-{tweet_id}", "tweet_id": tweet_id, "account_id": account_id, "status": "posted",
        "decision_type": "single", "content": text, "content_type": infer_content_type(text),
        "content_type_source": "inferred", "hook": hook_of(text), "generator_name": IMPORTED_GENERATOR,
        "posted_at": posted_at, "created_at": posted_at, "source": "real",
    }
    metric = {"account_id": account_id, "decision_id": post["decision_id"], "tweet_id": tweet_id,
              "collected_at": collected_at, "source": "real", **counters}
    return post, metric


def read_export(rows: Sequence[Mapping[str, Any]], headers: Sequence[str], *, account_id: str,
                collected_at: datetime, known_followers: tuple[datetime | None, int] | None = None) -> ExportRows:
    """The raw-table rows of one export (`rows` as the csv module reads them, keyed by the file's headers)."""
    kind, columns = detect(headers)
    out = ExportRows(kind, input_rows=len(rows))
    if kind == "overview":
        _follower_history(rows, columns, account_id, known_followers, out)
        return out
    out.input_rows = len(rows)
    for index, row in enumerate(rows):
        try:
            check_fields(row)
            post, metric = _post_row(row, kind, columns, account_id, collected_at)
        except BadValue as exc:
            out.rejected.append((index, row, str(exc)))
            continue
        out.posts.append(post)
        out.metrics.append(metric)
        out.origins.append(index)
    return out


def _follower_history(rows: Sequence[Mapping[str, Any]], columns: Mapping[str, str], account_id: str,
                      known: tuple[datetime | None, int] | None, out: ExportRows) -> None:
    """Followers at the end of each day of the file, counted back and forward from one known count (the count at
    the end of its day; at the end of the file's last day when its time is None)."""
    net: dict[datetime, int] = {}
    origin: dict[datetime, int] = {}
    for index, row in enumerate(rows):
        try:
            check_fields(row)
            day = parse_timestamp(row.get(columns["date"]), "Date")
            if day is None:
                raise BadValue("no date: Date is empty")
            gained = _counter(row.get(columns["new_follows"]), "New follows") or 0
            lost = _counter(row.get(columns["unfollows"]), "Unfollows") or 0
        except BadValue as exc:
            out.rejected.append((index, row, str(exc)))
            continue
        day = day.replace(hour=0, minute=0, second=0, microsecond=0)
        if day in net:
            out.rejected.append((index, row, f"duplicate: {day:%Y-%m-%d} appears twice in the file"))
            continue
        net[day] = gained - lost
        origin[day] = index
    if not net:
        return
    if known is None:
        raise ExportError("the overview export gives daily gains, not a count: give --followers-now N (the count "
                          "at the end of the file's last day), or collect a follower count first")
    days = sorted(net)
    known_at, known_count = known
    known_at = known_at or days[-1]
    anchor = known_at.replace(hour=0, minute=0, second=0, microsecond=0)
    if not days[0] <= anchor <= days[-1]:
        raise ExportError(f"the known follower count ({known_count} at {known_at:%Y-%m-%d %H:%M}) is outside the "
                          f"file's days {days[0]:%Y-%m-%d}..{days[-1]:%Y-%m-%d}: give --followers-now N for its last day")
    running, total = {}, 0
    for day in days:
        total += net[day]
        running[day] = total  # net gain from the file's first day to the end of `day`
    base = known_count - running.get(anchor, running[max(d for d in days if d <= anchor)])
    for day in days:
        count = base + running[day]
        out.followers.append({"account_id": account_id, "collected_at": day + timedelta(days=1),
                              "followers": max(count, 0), "source": "real"})
        out.origins.append(origin[day])


def known_tweet_ids(conn: Connection, account_id: str, tweet_ids: Sequence[str]) -> dict[str, str]:
    """tweet id → decision id of posts already in the warehouse (xbot's own, or an earlier import)."""
    found: dict[str, str] = {}
    ids = [t for t in tweet_ids if not is_blank(t)]
    for chunk in chunks(ids, LOOKUP_CHUNK):
        marks = ", ".join("?" for _ in chunk)
        found.update({str(t): str(d) for t, d in conn.fetchall(
            f"select tweet_id, decision_id from raw.posts where account_id = ? and tweet_id in ({marks})",
            [account_id, *chunk])})
    return found


def import_export(conn: Connection, export: ExportRows, *, account_id: str, now: datetime, source_name: str,
                  source_id: str | None = None) -> ExportReport:
    """Write one read export: new posts as `imported` decisions, a post xbot published itself (its tweet id is
    known) keeps its decision and only gains the snapshot; then the snapshots of the posts the warehouse holds
    (not of a row whose post was quarantined: one file row, one quarantine row)."""
    rows = LoadReport(f"X {export.kind} export").expect(export.input_rows)
    table = "raw.follower_snapshots" if export.kind == "overview" else "raw.posts"
    rejected = Quarantine(table, source_name, now, rows, source_id)
    for index, row, reason in export.rejected:
        rejected.add(row, reason, account_id, index=index)
    rejected.flush(conn)
    if export.kind == "overview":
        followers = write_follower_snapshots(conn, export.followers, now=now, source_name=source_name,
                                             source_id=source_id)
        for j, origin in enumerate(export.origins):  # one file row, one day, one follower snapshot
            rows.mark(origin, followers.outcomes[j], followers.reasons.get(j))
        return ExportReport(rows, [followers])
    known = known_tweet_ids(conn, account_id, [p["tweet_id"] for p in export.posts])
    new = [i for i, p in enumerate(export.posts) if known.get(p["tweet_id"], p["decision_id"]) == p["decision_id"]]
    posts = write_posts(conn, [export.posts[i] for i in new], now=now, source_name=source_name, source_id=source_id)
    post_outcomes: list[tuple[str, str | None] | None] = [None] * len(export.posts)
    for j, i in enumerate(new):
        post_outcomes[i] = (posts.outcomes[j], posts.reasons.get(j))
    known.update(known_tweet_ids(conn, account_id, [export.posts[i]["tweet_id"] for i in new
                                                    if export.posts[i]["tweet_id"] not in known]))
    snapped = [i for i, m in enumerate(export.metrics) if m["tweet_id"] in known
               and (post_outcomes[i] is None or post_outcomes[i][0] != "quarantined")]
    metrics = write_metric_snapshots(conn, [{**export.metrics[i], "decision_id": known[export.metrics[i]["tweet_id"]]}
                                            for i in snapped], now=now, source_name=source_name, source_id=source_id)
    metric_outcomes: list[tuple[str, str | None] | None] = [None] * len(export.metrics)
    for j, i in enumerate(snapped):
        metric_outcomes[i] = (metrics.outcomes[j], metrics.reasons.get(j))
    for i, origin in enumerate(export.origins):
        rows.mark(origin, *_row_outcome([o for o in (post_outcomes[i], metric_outcomes[i]) if o is not None]))
    return ExportReport(rows, [posts, metrics])


def _row_outcome(parts: list[tuple[str, str | None]]) -> tuple[str, str | None]:
    """One file row's outcome from its post's and its snapshot's."""
    for outcome, reason in parts:
        if outcome == "quarantined":
            return outcome, reason
    for outcome in ("loaded", "updated"):
        if any(o == outcome for o, _ in parts):
            return outcome, None
    if not parts:  # cannot happen: a row that is not rejected always reaches a writer
        raise ValueError("an export row reached no writer")
    return "unchanged", None
