"""`--csv` on the CLI's lists (issue 33, deliver 2): a header with the JSON's columns, then every
matching row however many pages the listing takes."""

from __future__ import annotations

import csv
import io
import json

from click.testing import CliRunner
from sqlalchemy import Engine

from bridge.cli.main import main
from bridge.services.writeback.plan import enqueue_cohort_stock
from bridge.store.db import unit_of_work
from tests.support.writeback import shop_catalogue, store_shop


def test_outbox_and_inbox_export_as_csv(workdir, database_url: str, engine: Engine) -> None:
    catalogue = shop_catalogue()
    store_shop(engine, catalogue)
    with unit_of_work(engine) as session:
        enqueue_cohort_stock(session, catalogue)
        session.commit()
    env = {"DATABASE_URL": database_url}
    listed = json.loads(CliRunner().invoke(main, ["outbox", "--json"], env=env).output)
    exported = CliRunner().invoke(main, ["outbox", "--status", "all", "--csv"], env=env)
    rows = list(csv.DictReader(io.StringIO(exported.output)))
    assert [int(row["id"]) for row in rows] == [row["id"] for row in listed["rows"]]
    assert set(listed["rows"][0]) >= set(rows[0])
    inbox = CliRunner().invoke(main, ["inbox", "--csv"], env=env)
    assert inbox.exit_code == 0
    assert inbox.output.splitlines()[0].startswith("id,topic,resource_id,status")


def test_bookings_export_as_csv_even_when_there_are_none(workdir, database_url: str) -> None:
    result = CliRunner().invoke(main, ["bookings", "--csv"], env={"DATABASE_URL": database_url})
    assert result.exit_code == 0 and result.output.splitlines() == ["id"]


def test_bridge_ledger_shows_who_and_exports_every_row(workdir, database_url: str) -> None:
    env = {"DATABASE_URL": database_url, "BRIDGE_OPERATOR": "dana"}
    for amount in ("30", "15"):
        granted = CliRunner().invoke(
            main,
            [
                "credits",
                "grant",
                "gift@example.com",
                "--type",
                "mentor_minutes",
                "--amount",
                amount,
                "--reason",
                "raffle",
            ],
            env=env,
        )
        assert granted.exit_code == 0, granted.output
    rows = json.loads(
        CliRunner().invoke(main, ["ledger", "--by", "dana", "--json"], env=env).output
    )
    assert [(row["amount"], row["actor"]) for row in rows] == [(15, "dana"), (30, "dana")]
    exported = CliRunner().invoke(main, ["ledger", "--sort", "amount", "--csv"], env=env)
    table = list(csv.DictReader(io.StringIO(exported.output)))
    assert [row["amount"] for row in table] == ["30", "15"]
    shown = CliRunner().invoke(main, ["ledger"], env=env, terminal_width=100)
    assert "gift@example.com" in shown.output and "dana" in shown.output
