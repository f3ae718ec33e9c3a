"""The team-pack story through the receiver, `bridge claims` and the claim pages."""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from flask.testing import FlaskClient

from bridge.cli.main import main
from bridge.services.operations import Line, order_payload, signed_delivery
from bridge.settings import load_settings
from tests.support.claims import PACK, SECRET, holdings
from tests.support.paths import ROOT
from tests.support.web import ClosingClient
from webhooks import create_app

EXAMPLE = ROOT / "catalog.example.toml"
WEBHOOK_SECRET = "whsec-claims-test"
PROJECT = {"balances": {"mentor_minutes": 60}, "access": ["PROJ-DATAVIZ"]}
NOTHING = {"balances": {}, "access": []}
SOLD = datetime(2026, 11, 28, 16, 0, tzinfo=UTC)


@pytest.fixture
def workdir(workdir: Path, database_url: str) -> Path:
    """The conftest's empty folder with the example catalogue and a .env with both secrets, on
    the test database."""
    shutil.copy(EXAMPLE, workdir / "catalog.toml")
    (workdir / ".env").write_text(
        f"DATABASE_URL={database_url}\nWOOCOMMERCE_WEBHOOK_SECRET={WEBHOOK_SECRET}\n"
        f"BRIDGE_CLAIM_SECRET={SECRET}\nBRIDGE_PUBLIC_URL=https://bridge.example.com\n"
    )
    return workdir


def bridge(*args: str, env_file: str = ".env") -> Result:
    return CliRunner().invoke(main, ["--env-file", env_file, *args], terminal_width=120)


@pytest.fixture
def client(workdir: Path, engine) -> FlaskClient:  # type: ignore[no-untyped-def]
    app = create_app(load_settings(env_file=workdir / ".env"), engine, background=False)
    app.test_client_class = ClosingClient
    return app.test_client()


def deliver(client: FlaskClient, status: str, order_id: int = 7001, minutes: int = 0) -> None:
    """A signed order delivery, modified ``minutes`` after the sale."""
    payload = order_payload(
        order_id,
        [Line(PACK, 1, 595.0)],
        email="boss@employer.example",
        status=status,
        now=SOLD + timedelta(minutes=minutes),
        created=SOLD,
    )
    delivery = signed_delivery("order.updated", payload, WEBHOOK_SECRET)
    answer = client.post("/webhooks/woocommerce", data=delivery.body, headers=delivery.headers)
    assert answer.status_code == 200, answer.get_json()


def test_an_employer_buys_two_employees_claim_and_a_refund_takes_everything_back(
    workdir, engine, client
):
    """The issue's story: each employee one place, the employer none, 409 twice, then 410."""
    deliver(client, "processing")
    listed = bridge("claims", "7001", "--json")
    assert listed.exit_code == 0, listed.output
    places = json.loads(listed.output)["places"]
    assert [p["status"] for p in places] == ["open"] * 5
    assert all(p["url"] == f"https://bridge.example.com/claims/{p['code']}" for p in places)
    ann, bo = places[0]["code"], places[1]["code"]
    assert (
        client.post(
            f"/claims/{ann}", json={"email": "ann@employer.example", "name": "Ann"}
        ).status_code
        == 201
    )
    assert (
        client.post(
            f"/claims/{bo}", json={"email": "bo@employer.example", "name": "Bo"}
        ).status_code
        == 201
    )
    assert (
        client.post(
            f"/claims/{ann}", json={"email": "cy@employer.example", "name": "Cy"}
        ).status_code
        == 409
    )
    assert holdings(engine, "ann@employer.example") == PROJECT
    assert holdings(engine, "bo@employer.example") == PROJECT
    assert holdings(engine, "boss@employer.example") == {
        "balances": {"mentor_minutes": 30},
        "access": [],
    }
    text = bridge("claims", "7001")
    assert "5 places, 2 claimed, 3 open, 0 void" in text.output
    assert "Ann <ann@employer.example>" in text.output

    deliver(client, "refunded", minutes=30)
    assert holdings(engine, "ann@employer.example") == NOTHING
    assert holdings(engine, "bo@employer.example") == NOTHING
    for place in places:
        assert (
            client.post(
                f"/claims/{place['code']}", json={"email": "dee@employer.example", "name": "Dee"}
            ).status_code
            == 410
        )
    assert "5 places, 0 claimed, 0 open, 5 void" in bridge("claims", "7001").output


def test_claims_without_the_secret_is_one_error_line_naming_it(workdir, engine, client):
    """`bridge claims` with BRIDGE_CLAIM_SECRET unset says so in one line, exit 1."""
    deliver(client, "processing")
    env = (workdir / ".env").read_text().replace(f"BRIDGE_CLAIM_SECRET={SECRET}\n", "")
    (workdir / "no-secret.env").write_text(env)
    result = bridge("claims", "7001", env_file="no-secret.env")
    assert result.exit_code == 1
    assert result.output.startswith("error: BRIDGE_CLAIM_SECRET is not set")
    assert "Traceback" not in result.output


def test_claims_of_an_unknown_order_is_an_error_and_of_a_plain_order_an_empty_list(
    workdir, engine, client
):
    """An order the bridge never saw is an error; one without a pack lists no places."""
    unknown = bridge("claims", "9999")
    assert unknown.exit_code == 1 and "order 9999 is not known" in unknown.output
    payload = order_payload(
        7002, [Line("MENTOR-1H", 1, 60.0)], email="x@example.com", status="processing", now=SOLD
    )
    delivery = signed_delivery("order.updated", payload, WEBHOOK_SECRET)
    client.post("/webhooks/woocommerce", data=delivery.body, headers=delivery.headers)
    plain = bridge("claims", "7002", "--json")
    assert plain.exit_code == 0 and json.loads(plain.output)["places"] == []
