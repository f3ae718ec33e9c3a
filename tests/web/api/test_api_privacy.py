"""GET /api/v1/learners/<learner>/export and POST /api/v1/learners/<learner>/erase (scope
privacy), checked against the OpenAPI contract: a WordPress privacy plugin's exporter and eraser
callbacks can page through the export and erase, and a repeat changes nothing."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Engine
from sqlmodel import select

from bridge.store.db import unit_of_work
from bridge.store.models import AuditEvent
from tests.support.bookings import LENA
from tests.support.credentials import credential_settings
from tests.support.privacy import LINK_SECRET, NAME, PACK_ORDER, tell_story
from tests.support.redemptions import ContractClient, make_token
from webhooks import create_app


def privacy_client(engine: Engine, database_url: str, tmp_path: Path) -> ContractClient:
    """Lena's story told, and a client holding a privacy token."""
    settings = credential_settings(
        database_url,
        tmp_path,
        claims={"secret": LINK_SECRET},
        orders={"complimentary_call_minutes": 0},
    )
    tell_story(engine, settings, tmp_path)
    app = create_app(settings, engine)
    return ContractClient(app, make_token(engine, "privacy-plugin", "privacy"))


def test_the_export_and_its_wordpress_pages_hold_everything(
    engine: Engine, database_url: str, tmp_path: Path
) -> None:
    """The whole export by e-mail, then page by page as a WordPress exporter asks until done."""
    client = privacy_client(engine, database_url, tmp_path)
    whole = client.request("GET", f"/api/v1/learners/{LENA}/export")
    assert whole.status_code == 200
    data = whole.get_json()
    assert data["learner"]["name"] == NAME
    assert PACK_ORDER in {row["order_id"] for row in data["sections"]["ledger"]}
    pages, number = [], 1
    while True:
        page = client.request(
            "GET", f"/api/v1/learners/{LENA}/export?format=wordpress&page={number}"
        )
        assert page.status_code == 200
        pages.append(page.get_json())
        if page.get_json()["done"]:
            break
        number += 1
    groups = {item["group_id"] for page in pages for item in page["data"]}
    assert {"creator-bridge-ledger", "creator-bridge-bookings", "creator-bridge-claims"} <= groups
    assert "creator-bridge-credentials" in groups
    assert client.request("GET", "/api/v1/learners/nobody@example.com/export").status_code == 404
    bad = client.request("GET", f"/api/v1/learners/{LENA}/export?format=csv")
    assert bad.status_code == 400 and bad.get_json()["field"] == "format"
    with unit_of_work(engine) as session:
        audit = session.exec(select(AuditEvent).where(AuditEvent.action == "learner.export")).all()
    assert {row.operator for row in audit} == {"token:privacy-plugin"}


def test_erasure_through_the_api_is_idempotent_and_audited(
    engine: Engine, database_url: str, tmp_path: Path
) -> None:
    """A dry run first, then the erasure, then a repeat that changes nothing; the export of
    the pseudonym no longer names her."""
    client = privacy_client(engine, database_url, tmp_path)
    preview = client.request("POST", f"/api/v1/learners/{LENA}/erase", json={"dry_run": True})
    assert preview.status_code == 200 and preview.get_json()["dry_run"]
    erased = client.request("POST", f"/api/v1/learners/{LENA}/erase", json={"reason": "request 7"})
    report = erased.get_json()
    assert erased.status_code == 200 and report["items_removed"] and report["done"]
    assert report["retained"]["ledger rows"] >= 2
    again = client.request("POST", f"/api/v1/learners/{LENA}/erase")
    assert again.status_code == 200 and again.get_json()["already_erased"]
    assert not again.get_json()["items_removed"]
    export = client.request("GET", f"/api/v1/learners/{LENA}/export").get_json()
    assert LENA not in str(export) and NAME not in str(export)
    assert export["learner"]["name"] == report["pseudonym"]
    wrong = client.request("POST", f"/api/v1/learners/{LENA}/erase", json={"dry_run": "yes"})
    assert wrong.status_code == 400 and wrong.get_json()["field"] == "dry_run"
    with unit_of_work(engine) as session:
        audit = session.exec(select(AuditEvent).where(AuditEvent.action == "learner.erase")).all()
    assert [(row.operator, row.reason) for row in audit] == [("token:privacy-plugin", "request 7")]
