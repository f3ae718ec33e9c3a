"""A dead write-back sends one e-mail to a real SMTP server and one chat message, and its
resolution one "cleared" each; nothing is sent twice, secrets never travel, a channel that was
down is tried again; jobs failing in a row and the test alert (CLI and console)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from click.testing import CliRunner
from sqlalchemy import Engine
from sqlmodel import select

from bridge.cli.main import main
from bridge.services.alerts import check_alerts
from bridge.services.operations import record_job_run
from bridge.settings import Settings
from bridge.store.db import unit_of_work
from bridge.store.models import AlertIncident, AuditEvent, OutboxItem
from tests.support.alerts import chat_receiver, free_port, smtp_server

NOW = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)
PASSWORD = "smtp-pa55word-never-sent"


def alerting(settings: Settings, port: int, chat_url: str | None) -> Settings:
    return settings.replace(
        alerts={
            "email_to": ("dana@example.com",),
            "smtp_host": "127.0.0.1",
            "smtp_port": port,
            "smtp_security": "none",
            "chat_webhook_url": chat_url,
        }
    )


def dead_writeback(engine: Engine) -> int:
    with unit_of_work(engine) as session:
        row = OutboxItem(
            resource="order",
            operation="note",
            target_id=501,
            target_key="order:501:note:x",
            payload={"note": "ann@example.com holds a seat"},
            status="dead",
            attempts=8,
            last_error="403 woocommerce_rest_cannot_edit",
        )
        session.add(row)
        session.commit()
        assert row.id is not None
        return row.id


def test_a_dead_write_back_alerts_once_and_its_resolution_clears_once(engine, settings) -> None:
    with smtp_server() as (port, inbox), chat_receiver() as (url, chat):
        config = alerting(settings, port, url)
        assert check_alerts(engine, config, NOW).sent == 0  # nothing wrong yet
        row_id = dead_writeback(engine)
        first = check_alerts(engine, config, NOW + timedelta(minutes=5))
        assert first.opened == ["writeback_dead"] and first.failed == {}
        check_alerts(engine, config, NOW + timedelta(minutes=10))  # still dead: no new message
        assert len(inbox.messages) == 1 and len(chat) == 1
        mail = inbox.messages[0]
        assert mail["Subject"].startswith("[creator-bridge] 1 write-back to WooCommerce is dead")
        assert inbox.recipients == [["dana@example.com"]]
        assert "bridge outbox retry --all" in str(mail.get_payload(decode=True), "utf-8")
        assert "write-back" in chat[0]["text"]
        with unit_of_work(engine) as session:
            row = session.get(OutboxItem, row_id)
            assert row is not None
            row.status = "sent"
            session.add(row)
            session.commit()
        cleared = check_alerts(engine, config, NOW + timedelta(minutes=15))
        check_alerts(engine, config, NOW + timedelta(minutes=20))
        assert cleared.cleared == ["writeback_dead"]
        assert len(inbox.messages) == 2 and len(chat) == 2
        assert inbox.messages[1]["Subject"].startswith("[creator-bridge] cleared: ")
        assert chat[1]["text"].startswith("*[creator-bridge] cleared: ")
    everything = "".join(str(m) for m in inbox.messages) + str(chat)
    for secret in ("s3cr3t-path", "ann@example.com"):
        assert secret not in everything


def test_a_channel_that_was_down_is_tried_again_and_told_once(engine, settings) -> None:
    dead_writeback(engine)
    down = alerting(settings, free_port(), None)  # nothing listens there
    run = check_alerts(engine, down, NOW)
    assert run.opened == ["writeback_dead"] and "email" in run.failed
    assert "127.0.0.1" in run.failed["email"] and PASSWORD not in run.failed["email"]
    with smtp_server() as (port, inbox):
        up = alerting(settings, port, None)
        check_alerts(engine, up, NOW + timedelta(minutes=5))
        check_alerts(engine, up, NOW + timedelta(minutes=10))
        assert len(inbox.messages) == 1


def test_a_job_failing_n_times_in_a_row_opens_an_incident(engine, settings) -> None:
    def run(status: str) -> None:
        record_job_run(
            engine, "orders", status, "shop said 500", started_at=NOW, finished_at=NOW, summary={}
        )

    for _ in range(2):
        run("failed")
    assert check_alerts(engine, settings, NOW).opened == []
    run("failed")
    assert check_alerts(engine, settings, NOW).opened == ["job_failing:orders"]
    run("ok")
    assert check_alerts(engine, settings, NOW).cleared == ["job_failing:orders"]
    with unit_of_work(engine) as session:
        states = session.exec(select(AlertIncident.key, AlertIncident.state)).all()
    assert states == [("job_failing:orders", "cleared")]


def test_the_test_alert_command_reaches_both_channels_and_is_audited(engine, database_url):
    with smtp_server() as (port, inbox), chat_receiver() as (url, chat):
        env = {
            "DATABASE_URL": database_url,
            "BRIDGE_ALERT_EMAIL_TO": "dana@example.com",
            "BRIDGE_SMTP_HOST": "127.0.0.1",
            "BRIDGE_SMTP_PORT": str(port),
            "BRIDGE_SMTP_SECURITY": "none",
            "BRIDGE_SMTP_USERNAME": "",
            "BRIDGE_ALERT_WEBHOOK_URL": url,
            "BRIDGE_OPERATOR": "dana",
        }
        result = CliRunner().invoke(
            main, ["--env-file", "/dev/null", "alerts", "test", "--json"], env=env
        )
        assert result.exit_code == 0, result.output
        assert '"email": "sent"' in result.output and '"chat": "sent"' in result.output
        assert len(inbox.messages) == 1 and inbox.messages[0]["Subject"].endswith("test alert")
        assert len(chat) == 1
        listed = CliRunner().invoke(main, ["--env-file", "/dev/null", "alerts"], env=env)
        assert listed.exit_code == 0 and "no incidents" in listed.output
    with unit_of_work(engine) as session:
        events = session.exec(select(AuditEvent)).all()
    assert [(e.operator, e.action) for e in events] == [("dana", "alerts.test")]


@pytest.mark.parametrize("channel", ["none"])
def test_without_a_channel_the_test_command_says_what_to_set(engine, database_url, channel):
    result = CliRunner().invoke(
        main, ["--env-file", "/dev/null", "alerts", "test"], env={"DATABASE_URL": database_url}
    )
    assert result.exit_code == 1
    assert "BRIDGE_ALERT_WEBHOOK_URL" in result.output


def test_each_kind_of_condition_opens_its_own_incident(engine, settings, tmp_path) -> None:
    """Webhooks disabled, an unmapped SKU sold, a cohort filling up, the signing key missing."""
    from bridge.services.alerts import find_conditions
    from bridge.store.models import Cohort, UnmappedLine

    record_job_run(
        engine,
        "webhooks",
        "failed",
        "1 of the bridge's webhooks are disabled",
        started_at=NOW,
        finished_at=NOW,
        summary={},
    )
    with unit_of_work(engine) as session:
        session.add(UnmappedLine(order_id=9, line_item_id=1, sku="MYSTERY-1", quantity=1))
        session.add(Cohort(code="Z-2027", capacity=10, starts_at=NOW + timedelta(days=30)))
        session.commit()
    keyless = settings.replace(
        credentials={"key_file": tmp_path / "missing.pem", "signing_key": None},
        web={"public_url": "https://bridge.example.com"},
        alerts={"cohort_fill_percent": 1},
    )
    found = {c.key: c for c in find_conditions(engine, keyless, NOW)}
    assert {"shop_webhooks", "unmapped_sku:MYSTERY-1", "signing_key_missing"} <= set(found)
    assert "webhooks status --repair" in found["shop_webhooks"].fix
    assert "cohort_filling:Z-2027" not in found  # no seat taken yet (the browser test fills one)
