"""Every "now" in xbot comes from a clock: wall time in production, simulated time in the demo, evaluation and tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime: ...


def utc_naive(moment: datetime) -> datetime:
    """The warehouse stores naive UTC timestamps."""
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC).replace(tzinfo=None)
    return moment


class WallClock:
    def now(self) -> datetime:
        return datetime.now(UTC).replace(tzinfo=None)


class SimulatedClock:
    """A clock that only moves when told to."""

    def __init__(self, start: datetime):
        self._now = utc_naive(start)

    def now(self) -> datetime:
        return self._now

    def advance(self, delta: timedelta) -> datetime:
        if delta < timedelta(0):
            raise ValueError("a simulated clock never goes back")
        self._now += delta
        return self._now

    def set(self, moment: datetime) -> datetime:
        moment = utc_naive(moment)
        if moment < self._now:
            raise ValueError(f"a simulated clock never goes back ({moment} < {self._now})")
        self._now = moment
        return self._now
