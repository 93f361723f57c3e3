"""The slots of an account's local day: when a post may still go out (at most two an hour, half an hour apart),
and how many are already taken. Pure."""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

if TYPE_CHECKING:  # the settings live with the planner, which imports this module
    from xbot_assets.acting.planner import PlanSettings

SLOT_MINUTES = (0, 30)  # at most two posts an hour, half an hour apart


def _local_day_bounds(now: datetime, tz: ZoneInfo) -> tuple[datetime, datetime]:
    local_now = now.replace(tzinfo=ZoneInfo("UTC")).astimezone(tz)
    start = local_now.replace(hour=0, minute=0, second=0, microsecond=0)
    return start, start + timedelta(days=1)


def _utc_naive(local: datetime) -> datetime:
    return local.astimezone(ZoneInfo("UTC")).replace(tzinfo=None)


def free_slots(now: datetime, settings: PlanSettings, taken: Counter) -> dict[int, list[datetime]]:
    """Open slot times (naive UTC) of the rest of the account's local day, by local hour, honouring the hourly cap."""
    tz = ZoneInfo(settings.timezone)
    day_start, _ = _local_day_bounds(now, tz)
    earliest = now + timedelta(minutes=settings.lead_minutes)
    slots: dict[int, list[datetime]] = {}
    for hour in range(24):
        # Wall-clock hours of the local day (a DST gap hour simply maps to the next real instant).
        hour_start = _utc_naive(day_start + timedelta(hours=hour))
        used = sum(taken.get(hour_start + timedelta(minutes=m), 0) for m in SLOT_MINUTES)
        room = settings.max_posts_per_hour - used
        open_times = [
            hour_start + timedelta(minutes=m) for m in SLOT_MINUTES
            if taken.get(hour_start + timedelta(minutes=m), 0) == 0 and hour_start + timedelta(minutes=m) >= earliest
        ]
        if room > 0 and open_times:
            slots[hour] = open_times[:room]
    return slots


def posts_planned_today(now: datetime, settings: PlanSettings, taken: Counter) -> int:
    tz = ZoneInfo(settings.timezone)
    start, end = _local_day_bounds(now, tz)
    lo, hi = _utc_naive(start), _utc_naive(end)
    return sum(n for at, n in taken.items() if lo <= at < hi)
