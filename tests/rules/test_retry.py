"""The durable queues' retry policy (bridge.rules.retry), pure."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bridge.rules.retry import after_failure, backoff, exhausted

NOW = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)


def test_the_wait_doubles_from_30_seconds_and_stops_at_6_hours() -> None:
    """30 s, 1 min, 2 min, 4 min ... and never more than 6 h, however many attempts."""
    assert [backoff(n).total_seconds() for n in range(1, 6)] == [30, 60, 120, 240, 480]
    assert backoff(0) == timedelta(seconds=30)
    assert backoff(10) == timedelta(seconds=15_360)  # 4 h 16 min
    assert backoff(11) == timedelta(hours=6) == backoff(10_000)


def test_the_wait_is_never_shorter_than_the_other_side_asked() -> None:
    """A Retry-After longer than the backoff wins; a shorter one changes nothing."""
    assert backoff(1, retry_after=600) == timedelta(minutes=10)
    assert backoff(3, retry_after=5) == timedelta(minutes=2)


def test_a_failure_is_retried_after_the_backoff_until_the_attempts_run_out() -> None:
    """Below the maximum the row is due again later; at the maximum it is dead."""
    assert after_failure(1, 3, NOW).next_attempt_at == NOW + timedelta(seconds=30)
    assert not after_failure(2, 3, NOW).dead
    last = after_failure(3, 3, NOW)
    assert last.dead and last.next_attempt_at is None
    assert exhausted(3, 3) and not exhausted(2, 3)
