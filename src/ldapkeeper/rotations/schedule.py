"""When rotations happen: the schedule, retries with backoff and jitter, and leases."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta

MAX_FAILURES = 5
BACKOFF_BASE_SECONDS = 30.0
BACKOFF_CAP_SECONDS = 3600.0
LEASE_SECONDS = 30.0


def at_time_of_day(day: datetime, hours: int, minutes: int) -> datetime:
    return datetime(day.year, day.month, day.day, hours, minutes, tzinfo=UTC)


def next_rotation_at(
    last_rotated: datetime, interval_days: int, hours: int, minutes: int
) -> datetime:
    """The last rotation's day + ``interval_days`` days, at ``hours:minutes`` UTC."""
    day = last_rotated.astimezone(UTC) + timedelta(days=interval_days)
    return at_time_of_day(day, hours, minutes)


def next_day_at(now: datetime, hours: int, minutes: int) -> datetime:
    """Tomorrow at ``hours:minutes`` UTC (where a rotation goes after its retries ran out)."""
    return at_time_of_day(now.astimezone(UTC) + timedelta(days=1), hours, minutes)


def retry_delay(failure_count: int) -> timedelta:
    """Exponential backoff (30 s, 60 s, 120 s, ...) capped at an hour, with up to +50 % jitter."""
    base = min(BACKOFF_CAP_SECONDS, BACKOFF_BASE_SECONDS * 2 ** max(0, failure_count - 1))
    jitter = base * secrets.randbelow(501) / 1000
    return timedelta(seconds=base + jitter)
