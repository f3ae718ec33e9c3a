"""Unsigned noise is cheap: a rejected request writes nothing and logs nothing by itself; the
rejections are counted in memory and flushed (one transaction, one WARNING line) at most once
a minute. Both databases."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, event

from bridge.services.inbox import RejectionTally, counter_value
from bridge.services.inbox.rejections import cancel_pending
from bridge.settings import Settings
from bridge.store.db import make_engine
from webhooks import create_app
from webhooks.receivers.rejections import flush_rejections

BODY = b'{"id": 1, "date_modified_gmt": "2026-12-07T10:00:00"}'


@pytest.fixture
def statements(engine: Engine) -> Iterator[list[str]]:
    """Every statement the engine sends, from now on."""
    sent: list[str] = []

    def record(_conn, _cursor, statement, *_args):  # type: ignore[no-untyped-def]
        sent.append(statement)

    event.listen(engine, "before_cursor_execute", record)
    yield sent
    event.remove(engine, "before_cursor_execute", record)


def warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]


def test_a_hundred_unsigned_requests_write_nothing_and_log_one_line_when_flushed(
    engine: Engine,
    settings: Settings,
    statements: list[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """100 unsigned or badly signed deliveries to the three receivers: 401 each, 0 statements,
    0 log lines; the flush adds them to the counters in one go and says so in one line."""
    settings = settings.replace(
        bookings={"calcom_webhook_secret": "calcom-secret", "calendly_signing_key": "calendly-key"},
    )
    app = create_app(settings, engine, handlers={}, background=False)
    client = app.test_client()
    caplog.set_level(logging.INFO)
    caplog.clear()
    for i in range(60):
        headers = {"X-WC-Webhook-Topic": "order.created"}
        if i % 2:
            headers["X-WC-Webhook-Signature"] = "bm90IGEgc2lnbmF0dXJl"
        assert client.post("/webhooks/woocommerce", data=BODY, headers=headers).status_code == 401
    for _ in range(25):
        assert (
            client.post(
                "/webhooks/calcom", data=BODY, headers={"X-Cal-Signature-256": "00"}
            ).status_code
            == 401
        )
    for _ in range(15):
        assert client.post("/webhooks/calendly", data=BODY).status_code == 401
    assert statements == []
    assert warnings(caplog) == []
    with app.app_context():
        stored = flush_rejections()
    assert stored == {"webhook_signature_rejected": 60, "booking_signature_rejected": 40}
    [line] = warnings(caplog)
    assert line.startswith("100 unsigned deliveries rejected in the last ")
    assert "WooCommerce missing signature 30" in line
    assert "WooCommerce invalid signature 30" in line
    assert "calcom invalid signature 25" in line and "calendly missing signature 15" in line
    assert counter_value(engine, "webhook_signature_rejected") == 60
    assert counter_value(engine, "booking_signature_rejected") == 40
    with app.app_context():
        assert flush_rejections() == {}  # nothing new: no write, no line
    assert len(warnings(caplog)) == 1


def test_the_flush_comes_by_itself_after_the_interval(
    engine: Engine,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The first rejection of a spell arms a timer; when it fires the counts are stored and
    one line is logged, whatever the number of rejections in between."""
    caplog.set_level(logging.WARNING, logger="bridge.services.inbox.rejections")
    tally = RejectionTally(engine, interval=0.2)
    for _ in range(250):
        tally.add("webhook_signature_rejected", "WooCommerce invalid signature")
    ends = time.monotonic() + 30
    while counter_value(engine, "webhook_signature_rejected") != 250:
        assert time.monotonic() < ends, "the timer did not flush"
        time.sleep(0.05)
    assert tally.pending() == {}
    assert [r.getMessage().split(" (")[0].rsplit(" in the last", 1)[0] for r in caplog.records] == [
        "250 unsigned deliveries rejected"
    ]


def test_a_flush_while_the_database_is_away_keeps_the_counts(
    engine: Engine,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Counts that could not be stored stay in memory and go with the next flush; the spell
    is logged once."""
    caplog.set_level(logging.WARNING, logger="bridge.services.inbox.rejections")
    away = make_engine(f"sqlite:///{tmp_path / 'missing-folder' / 'bridge.db'}")
    tally = RejectionTally(away, interval=3600)
    for _ in range(3):
        tally.add("webhook_signature_rejected", "WooCommerce missing signature")
    assert tally.flush() == {}
    assert tally.pending() == {"webhook_signature_rejected": 3}
    tally.add("webhook_signature_rejected", "WooCommerce missing signature")
    tally.engine = engine  # the database is back
    assert tally.flush() == {"webhook_signature_rejected": 4}
    assert counter_value(engine, "webhook_signature_rejected") == 4
    lines = [r.getMessage() for r in caplog.records]
    assert lines[0].startswith("3 unsigned deliveries rejected")
    assert lines[1].startswith("rejections not counted yet")
    assert lines[2].startswith("1 unsigned delivery rejected")
    away.dispose()


def test_a_tally_cancelled_forgets_its_counts_and_never_flushes(
    engine: Engine,
) -> None:
    """What a test's app counted is dropped after the test (tests/conftest.py), not written a
    minute later into another test's database."""
    tally = RejectionTally(engine, interval=0.05)
    tally.add("webhook_signature_rejected", "WooCommerce missing signature")
    cancel_pending()
    time.sleep(0.2)
    assert tally.pending() == {}
    assert counter_value(engine, "webhook_signature_rejected") == 0
