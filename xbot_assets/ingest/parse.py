"""Parsing of the values people and platforms write: counts like `1,234` or `1.2K`, dates, 0–1 scores.

Every parser returns the value or raises `BadValue` with a message that says what was wrong; the loader turns that
message into a quarantine reason.
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

_SUFFIX = {"k": 1_000, "m": 1_000_000, "b": 1_000_000_000}
_COUNT = re.compile(r"^(?P<num>\d+(?:\.\d+)?)(?P<suffix>[kmb])?$", re.IGNORECASE)
_DATE_FORMATS = ("%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%d", "%a %b %d %H:%M:%S %z %Y", "%Y-%m-%d %H:%M %z",
                 "%a, %b %d, %Y", "%b %d, %Y")
# 03/11/2025 is 3 November in most of the world and 11 March in the US: read only when one reading is impossible.
_SLASH_DATE = re.compile(r"^(\d{1,2})/(\d{1,2})/(\d{4})((?:[ T]\d{1,2}:\d{2}(?::\d{2})?)?)$")


# X's ids carry their creation time: milliseconds since the Twitter epoch in the bits above 22.
TWITTER_EPOCH_MS = 1288834974657
# Ids below this were issued before X's ids carried their time (November 2010).
FIRST_TIMED_ID = 1 << 42
# The counters are bigint on both warehouses.
MAX_COUNT = 2**63 - 1
# Python's csv reads fields up to this by default; no post, thread or export field comes near it, so a longer one is
# a broken row (or an unclosed quote), quarantined alone.
MAX_FIELD_CHARS = 131_072


class BadValue(ValueError):
    """A value that cannot be what its column says it is."""


def is_blank(value: object) -> bool:
    if value is None:
        return True
    if isinstance(value, float) and math.isnan(value):
        return True
    return isinstance(value, str) and value.strip() == ""


def parse_count(value: object, column: str) -> int | None:
    """`1,234` → 1234, `1.2K` → 1200, `3M` → 3000000; blank → None; negative, non-numeric or beyond the warehouse's
    64-bit counts → BadValue."""
    if is_blank(value):
        return None
    if isinstance(value, bool):
        raise BadValue(f"{column} is not a count: {value!r}")
    if isinstance(value, int):
        number: float = value
    elif isinstance(value, float):
        number = value
    else:
        text = str(value).strip().replace(",", "").replace("_", "").replace(" ", "")
        if text.startswith("-"):
            raise BadValue(f"negative count: {column} = {value}")
        match = _COUNT.match(text)
        if not match:
            raise BadValue(f"{column} is not a count: {value!r}")
        if match["suffix"] is None and "." not in match["num"]:
            number = int(match["num"])  # exact: a float would round every count above 2^53
        elif match["suffix"] is None and float(match["num"]) != int(float(match["num"])):
            raise BadValue(f"{column} is not a whole count: {value!r}")
        else:
            # "1.2K" is a rounded display value: its fraction is expected and rounds away.
            number = float(match["num"]) * _SUFFIX.get((match["suffix"] or "").lower(), 1)
    if number < 0:
        raise BadValue(f"negative count: {column} = {value}")
    if isinstance(number, float) and not math.isfinite(number):
        raise BadValue(f"{column} is not a count: {value!r}")
    if isinstance(value, float) and not value.is_integer():
        raise BadValue(f"{column} is not a whole count: {value!r}")
    count = int(round(number))
    if count > MAX_COUNT:
        raise BadValue(f"out of range: {column} {value} is beyond a 64-bit count")
    return count


def check_fields(row: Mapping[Any, Any]) -> None:
    """A row's text as both warehouses can hold it, else BadValue naming the column: no NUL byte (PostgreSQL refuses
    it in text) and no field over MAX_FIELD_CHARS."""
    for column, value in row.items():
        for text in value if isinstance(value, (list, tuple)) else (value,):
            if not isinstance(text, str):
                continue
            name = "the fields beyond the header" if column is None else column
            if "\x00" in text:
                raise BadValue(f"NUL byte in {name}")
            if len(text) > MAX_FIELD_CHARS:
                # An unclosed quote reads the rest of the file as one field: its line breaks give it away.
                hint = f"; it spans {text.count(chr(10)) + 1:,} lines: an unclosed quote?" if "\n" in text else ""
                raise BadValue(f"field too long: {name} has {len(text):,} characters (limit {MAX_FIELD_CHARS:,}){hint}")


def parse_timestamp(value: object, column: str) -> datetime | None:
    """ISO 8601 (with or without offset, `Z` allowed) and a few common export formats → naive UTC."""
    if is_blank(value):
        return None
    if isinstance(value, datetime):
        parsed = value
    else:
        parsed = _parse_date_text(str(value).strip(), column)
    if parsed.tzinfo is not None:
        parsed = parsed.astimezone(UTC).replace(tzinfo=None)
    if not 2006 <= parsed.year <= 2100:
        raise BadValue(f"unknown date: {column} = {value!r} is outside 2006–2100")
    return parsed


@functools.lru_cache(maxsize=65536)  # exports repeat the same few hundred dates across thousands of rows
def _parse_date_text(text: str, column: str) -> datetime:
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        pass
    for fmt in _DATE_FORMATS:
        try:
            return datetime.strptime(text, fmt)
        except ValueError:
            continue
    if slash := _SLASH_DATE.match(text):
        return _slash_date(slash, column, text)
    raise BadValue(f"unknown date: {column} = {text!r}")


def _slash_date(match: re.Match, column: str, value: object) -> datetime:
    first, second, year = int(match[1]), int(match[2]), match[3]
    if first <= 12 and second <= 12 and first != second:
        raise BadValue(f"ambiguous date: {column} = {value!r} reads as day/month or month/day; "
                       "give --date-format (e.g. %d/%m/%Y or %m/%d/%Y)")
    day, month = (first, second) if first > 12 else (second, first)
    clock = match[4].strip().replace("T", "")
    try:
        return datetime.strptime(f"{year}-{month:02d}-{day:02d} {clock or '00:00'}",
                                 "%Y-%m-%d %H:%M:%S" if clock.count(":") == 2 else "%Y-%m-%d %H:%M")
    except ValueError:
        raise BadValue(f"unknown date: {column} = {value!r}") from None


def normalise_dates(rows: list[dict[str, str]], columns: tuple[str, ...], date_format: str) -> None:
    """Rewrite the dates written in the user's `date_format` as ISO, in place; other values are left to the
    parsers (and their reasons)."""
    for row in rows:
        for column in columns:
            value = row.get(column)
            if is_blank(value):
                continue
            try:
                row[column] = datetime.strptime(str(value).strip(), date_format).isoformat()
            except ValueError:
                continue


def parse_unit_score(value: object, column: str) -> float | None:
    """A score on the one 0–1 scale (the original mixed 0–1 and 0–100)."""
    if is_blank(value):
        return None
    try:
        number = float(str(value).strip()) if not isinstance(value, (int, float)) else float(value)
    except ValueError as exc:
        raise BadValue(f"{column} is not a number: {value!r}") from exc
    if not math.isfinite(number) or not 0.0 <= number <= 1.0:
        raise BadValue(f"out of range: {column} = {value} is outside [0, 1]")
    return number


def parse_text(value: object) -> str | None:
    if is_blank(value):
        return None
    return str(value).strip()


def parse_choice(value: object, column: str, allowed: tuple[str, ...], default: str | None = None) -> str | None:
    if is_blank(value):
        return default
    text = str(value).strip().lower()
    if text not in allowed:
        raise BadValue(f"bad {column}: {value!r} is not one of {', '.join(allowed)}")
    return text


def snowflake_time(tweet_id: Any) -> datetime | None:
    """When X created the post with this id (naive UTC), or None for what is not an id."""
    try:
        ms = (int(tweet_id) >> 22) + TWITTER_EPOCH_MS
    except (TypeError, ValueError):
        return None
    return datetime.fromtimestamp(ms / 1000, UTC).replace(tzinfo=None)


def snowflake_id(at: datetime, sequence: int = 0) -> str:
    """The smallest id created at `at` (naive UTC) plus `sequence`: what a platform assigns (used by test servers)."""
    ms = int(at.replace(tzinfo=UTC).timestamp() * 1000) - TWITTER_EPOCH_MS
    return str((ms << 22) + sequence)


def header_name(name: str) -> str:
    """A CSV header as a column name: lower case, one underscore between words (`Post  id` → `post_id`)."""
    return re.sub(r"[\s_\-]+", "_", name.strip().lower()).strip("_")
