"""One runner per job across processes: leases in the database, on SQLite and PostgreSQL."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from threading import Barrier

import pytest
import responses
from sqlmodel import select

from bridge.store.db import make_engine, unit_of_work
from bridge.store.models import JobLease, utcnow
from sync.context import RunOptions
from sync.jobs import run_job
from sync.lease import LeaseHeld, LeaseLost, acquire, leases
from tests.support.sample_shop import sample_catalogue, store_cohorts
from tests.support.sync import HttpShop, make_ports

TTL = timedelta(minutes=5)
sqlite_only = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


class Clock:
    """A wall clock and a monotonic clock that move only when told (or on every reading)."""

    def __init__(self, step: float = 0.0) -> None:
        self.now = utcnow().replace(microsecond=0)
        self.seconds = 0.0
        self.step = step

    def wall(self):
        self.now += timedelta(seconds=self.step)
        return self.now

    def monotonic(self) -> float:
        self.seconds += self.step
        return self.seconds

    def advance(self, delta: timedelta) -> None:
        self.now += delta
        self.seconds += delta.total_seconds()


def test_a_held_lease_refuses_others_until_it_expires_and_is_taken_over(engine):
    """B is refused while A holds the job; once A's lease expires B takes it and A learns so."""
    clock = Clock()
    first = acquire(
        engine, "orders", "host-a:1:aa", TTL, clock=clock.wall, monotonic=clock.monotonic
    )
    with pytest.raises(LeaseHeld) as refused:
        acquire(engine, "orders", "host-b:2:bb", TTL, clock=clock.wall)
    assert refused.value.holder == "host-a:1:aa"
    assert "orders is already running (host-a:1:aa until" in str(refused.value)

    clock.advance(TTL - timedelta(seconds=1))
    first.keep_alive()  # a third of the lease has passed: renewed
    clock.advance(timedelta(seconds=2))
    with pytest.raises(LeaseHeld):
        acquire(engine, "orders", "host-b:2:bb", TTL, clock=clock.wall)  # renewal held it

    clock.advance(TTL)  # A died: no more renewals
    second = acquire(engine, "orders", "host-b:2:bb", TTL, clock=clock.wall)
    with pytest.raises(LeaseLost):
        first.renew()
    first.release()  # not A's any more: leaves B's lease alone
    assert [(row.job, row.holder) for row in leases(engine)] == [("orders", "host-b:2:bb")]

    second.release()
    third = acquire(engine, "orders", "host-c:3:cc", TTL, clock=clock.wall)
    assert third.holder == "host-c:3:cc"
    assert acquire(engine, "inbox", "host-a:1:aa", TTL, clock=clock.wall).job == "inbox"


def test_runners_racing_for_one_job_get_it_exactly_once(database_url):
    """Eight runners start the same job at the same moment: exactly one of them runs it."""
    engines = [make_engine(database_url) for _ in range(8)]
    barrier = Barrier(len(engines))

    def race(index: int) -> str:
        barrier.wait()
        try:
            return acquire(engines[index], "orders", f"runner-{index}", TTL).holder
        except LeaseHeld:
            return ""

    try:
        with ThreadPoolExecutor(len(engines)) as pool:
            winners = [holder for holder in pool.map(race, range(len(engines))) if holder]
        assert len(winners) == 1
        with unit_of_work(engines[0]) as session:
            assert session.exec(select(JobLease.holder)).all() == winners
    finally:
        for engine in engines:
            engine.dispose()


def test_a_long_job_renews_its_lease_while_it_runs_and_releases_it_at_the_end(engine, settings):
    """Between orders the running job pushes its lease ahead; afterwards the lease is gone."""
    catalogue = sample_catalogue()
    store_cohorts(engine, catalogue)
    clock = Clock(step=60.0)  # every reading is a minute later: renewals are due
    seen = []
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        shop = HttpShop(rsps)
        for n in range(4):
            shop.place(801 + n, [("MENTOR-1H", 1)], clock.now - timedelta(days=1, minutes=-n))

        def look_at_the_lease(page: int) -> None:
            with unit_of_work(engine) as session:
                row = session.get(JobLease, "orders")
                seen.append(row.expires_at - row.acquired_at)

        shop.before_orders_page = look_at_the_lease
        # One connection reads two pages ahead: pages 2 and 3 are read while page 1 is
        # applied, page 4 only after page 1 was applied.
        ports = make_ports(
            engine,
            settings.replace(http={"connections": 1}),
            catalogue,
            page_size=1,
            clock=clock.wall,
            monotonic=clock.monotonic,
        )
        result = run_job("orders", ports, RunOptions(full=True), lease_ttl=TTL)
    assert result.status == "ok", result.reason
    assert seen[0] == TTL  # taken, not yet renewed
    assert seen[3] > TTL  # renewed while page 1 was applied
    assert leases(engine) == []


@sqlite_only
def test_a_job_another_runner_holds_is_reported_busy_and_sends_nothing(engine, settings):
    """run_job does not wait or run: it says who has the job, and makes no request."""
    acquire(engine, "orders", "clock:42:ab", TTL)
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        HttpShop(rsps)
        result = run_job("orders", make_ports(engine, settings, sample_catalogue()))
        assert len(rsps.calls) == 0
    assert (result.status, result.tally.requests) == ("busy", 0)
    assert "already running (clock:42:ab until" in result.reason
