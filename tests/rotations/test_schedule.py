from datetime import UTC, datetime, timedelta

from ldapkeeper.rotations.schedule import next_day_at, next_rotation_at, retry_delay


def test_next_rotation_is_interval_days_after_the_last_rotation_day_at_the_set_time() -> None:
    last = datetime(2026, 1, 30, 23, 59, tzinfo=UTC)
    assert next_rotation_at(last, 3, 2, 15) == datetime(2026, 2, 2, 2, 15, tzinfo=UTC)


def test_next_rotation_ignores_the_time_of_day_of_the_last_rotation() -> None:
    early = next_rotation_at(datetime(2026, 5, 1, 0, 1, tzinfo=UTC), 1, 12, 0)
    late = next_rotation_at(datetime(2026, 5, 1, 23, 59, tzinfo=UTC), 1, 12, 0)
    assert early == late == datetime(2026, 5, 2, 12, 0, tzinfo=UTC)


def test_next_day_at_is_tomorrow_at_the_set_time() -> None:
    now = datetime(2026, 12, 31, 18, 0, tzinfo=UTC)
    assert next_day_at(now, 0, 30) == datetime(2027, 1, 1, 0, 30, tzinfo=UTC)


def test_retry_delay_grows_exponentially_within_jitter() -> None:
    first, third = retry_delay(1), retry_delay(3)
    assert timedelta(seconds=30) <= first <= timedelta(seconds=45)
    assert timedelta(seconds=120) <= third <= timedelta(seconds=180)


def test_retry_delay_is_capped_at_an_hour_plus_jitter() -> None:
    assert retry_delay(40) <= timedelta(seconds=5400)
