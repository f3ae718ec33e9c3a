"""A learner's access and erasure requests: everything held is exported; erasure leaves no
trace of their e-mail or name (in the database file itself), keeps the money and the revoked
credential's bit, changes nothing the second time, and the shop cannot bring them back."""

from __future__ import annotations

import copy
import json
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, inspect, select, text
from sqlmodel import Session

from bridge.rules.report.rows import Period
from bridge.rules.wallets import CREDENTIAL_READ, CREDENTIAL_UPSERT, parse_upsert
from bridge.services.audit import Via
from bridge.services.credentials import jwks
from bridge.services.learner_links import learner_for_page_token
from bridge.services.learners import search_learners
from bridge.services.ledger import apply_customer, find_learner
from bridge.services.privacy import (
    credential_signer,
    erase_in_transaction,
    export_learner,
    find_for_privacy,
    pseudonym_email,
    wordpress_pages,
)
from bridge.services.reporting import build_report
from bridge.services.wallets import register_client, save_token, touch, upsert_credential
from bridge.store.db import unit_of_work
from bridge.store.models import (
    AuditEvent,
    InboxDelivery,
    Learner,
    LearnerEmail,
    StatusList,
    WalletCredential,
    WalletToken,
)
from tests.support.bookings import LENA, booking_app
from tests.support.credentials import PUBLIC_URL, revoked_in
from tests.support.privacy import (
    HELENA,
    NAME,
    PACK_ORDER,
    SEAT_ORDER,
    TEAM_ORDER,
    Story,
    lena_order,
)

sqlite_only = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
REPORT_PERIOD = Period(date(2026, 1, 1), date(2027, 1, 1), "UTC")
REPORT_NOW = datetime(2026, 12, 31, tzinfo=UTC)


def export_of(engine: Engine, ref: str | int) -> dict[str, Any]:
    with unit_of_work(engine) as session:
        learner = find_for_privacy(session, ref)
        assert learner is not None
        return export_learner(session, learner)


def erase(story: Story, ref: str | int = LENA, **options: Any) -> dict[str, Any]:
    report = erase_in_transaction(
        story.engine,
        ref,
        operator="privacy@creator.example",
        via=Via.CLI,
        signer_for=credential_signer(story.settings),
        **options,
    )
    return report.as_dict()


def every_row(engine: Engine) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table, in key order: the whole database as values."""
    with engine.connect() as connection:
        tables = inspect(connection).get_table_names()
        # The names come from the database's own catalogue, not from input.
        return {
            table: sorted(
                tuple(map(repr, row))
                for row in connection.execute(text(f'SELECT * FROM "{table}"'))  # noqa: S608
            )
            for table in tables
        }


def revenue(engine: Engine) -> Any:
    data = build_report(engine, REPORT_PERIOD, REPORT_NOW).as_dict()
    return {key: value for key, value in data.items() if "revenue" in key or key == "money"}


def test_the_export_lists_the_ledger_the_booking_the_claim_and_the_credential(story):
    """Every section holds the learner's rows with their ids; a WordPress exporter gets pages."""
    data = export_of(story.engine, LENA)
    sections = data["sections"]
    assert data["learner"]["email"] == LENA and data["learner"]["name"] == NAME
    assert {row["order_id"] for row in sections["ledger"]} >= {PACK_ORDER}
    assert all(row["id"] for row in sections["ledger"])
    assert [row["order_id"] for row in sections["seats"]] == [SEAT_ORDER]
    assert [row["attendee_email"] for row in sections["bookings"]] == [LENA]
    assert sections["redemptions"] and sections["redemptions"][0]["id"]
    assert [(row["order_id"], row["claimant_name"]) for row in sections["claims"]] == [
        (TEAM_ORDER, NAME)
    ]
    assert [row["kind"] for row in sections["events"]] == ["assessment_passed"]
    assert [row["offer_sku"] for row in sections["credentials"]] == ["ASSESS-DV"]
    assert sections["credentials"][0]["uuid"] and sections["credentials"][0]["jwt"]
    assert {row["order_id"] for row in sections["orders"]} >= {PACK_ORDER, SEAT_ORDER}
    assert LENA in {row["email"] for row in sections["emails"]}
    assert "code_hash" not in sections["claims"][0]
    assert "token_hash" not in sections["booking_links"][0]
    assert len(sections["page_links"]) == 1 and "token_hash" not in sections["page_links"][0]
    pages = wordpress_pages(data)
    assert [page["done"] for page in pages] == [False] * (len(pages) - 1) + [True]
    items = [item for page in pages for item in page["data"]]
    booking = next(i for i in items if i["group_id"] == "creator-bridge-bookings")
    assert {"name": "attendee_email", "value": LENA} in booking["data"]


def test_erasure_keeps_the_money_and_sets_the_credentials_status_bit(story):
    """Revenue in the report is the same; the credential is revoked in the signed status list
    (checked with an independent verifier) and has lost its subject."""
    before = revenue(story.engine)
    credential = export_of(story.engine, LENA)["sections"]["credentials"][0]["document"]
    report = erase(story)
    assert report["retained"]["ledger rows"] >= 2 and report["retained"]["seats"] == 1
    assert report["items_removed"] and report["items_retained"] and report["done"]
    assert revenue(story.engine) == before
    with unit_of_work(story.engine) as session:
        status = session.get(StatusList, 1)
        assert status is not None
        keys = jwks(session, PUBLIC_URL)
    assert revoked_in(status.jwt, keys, credential)
    after = export_of(story.engine, pseudonym_email(report["learner_id"]))
    kept = after["sections"]["credentials"][0]
    assert kept["revoked_at"] and kept["document"] is None and kept["jwt"] == ""
    app = booking_app(story.engine, story.settings)
    with app.test_client() as client:
        page = client.get(f"/credentials/{kept['uuid']}", headers={"Accept": "application/json"})
        assert page.status_code == 404
    with unit_of_work(story.engine) as session:
        assert learner_for_page_token(session, story.page_token) is None
        assert after["sections"]["page_links"][0]["revoked_at"]


def test_erasure_replaces_name_and_e_mail_everywhere_and_leaves_helena_alone(story):
    """No table holds Lena's address or name afterwards; Helena's address, which ends in
    Lena's, is untouched; search finds nobody; the audit row names the operator only."""
    report = erase(story)
    dump = repr(every_row(story.engine)).lower().replace(HELENA, "")
    assert LENA not in dump
    assert NAME.lower() not in dump.replace("helena fischer", "")
    assert "helena fischer" in dump
    with unit_of_work(story.engine) as session:
        assert find_learner(session, LENA) is None
        assert find_learner(session, HELENA) is not None
        assert search_learners(session, "fischer") == [
            row for row in search_learners(session, "helena")
        ]
        audit = session.exec(select(AuditEvent).where(AuditEvent.action == "learner.erase")).all()
        assert [(a.operator, a.subject) for a in (row[0] for row in audit)] == [
            ("privacy@creator.example", f"learner:{report['learner_id']}")
        ]


@sqlite_only
def test_erasure_leaves_no_trace_in_the_sqlite_file(story, database_url):
    """The bytes of the database file (and of any log beside it) hold neither the address nor
    the name: deleted content is zeroed, the log emptied into the file."""
    path = Path(database_url.removeprefix("sqlite:///"))
    assert LENA.encode() in _bytes_of(path)
    erase(story)
    story.engine.dispose()
    content = _bytes_of(path)
    assert LENA.encode() not in content.replace(HELENA.encode(), b"")
    others = content.replace(b"helena.fischer", b"").replace(b"Helena Fischer", b"")
    assert NAME.encode() not in others
    assert b"Fischer" not in others


def _bytes_of(path: Path) -> bytes:
    return b"".join(
        p.read_bytes() for p in (path, Path(f"{path}-wal"), Path(f"{path}-shm")) if p.exists()
    )


def test_erasing_twice_changes_nothing(story):
    """The second erasure (by the same address: the tombstone finds the learner) reports that
    it was done and changes no row of any table."""
    first = erase(story)
    before = every_row(story.engine)
    second = erase(story)
    assert second["already_erased"] and second["learner_id"] == first["learner_id"]
    assert not second["items_removed"]
    assert every_row(story.engine) == before
    third = erase(story, pseudonym_email(first["learner_id"]))
    assert third["already_erased"]


def test_a_dry_run_reports_and_changes_nothing(story):
    before = every_row(story.engine)
    report = erase(story, dry_run=True)
    assert report["dry_run"] and report["removed"]["e-mail addresses"] >= 1
    assert every_row(story.engine) == before


def test_the_shop_sending_her_old_orders_and_account_again_brings_nothing_back(story):
    """A later webhook or sync of Lena's old order (and a customer.updated of her account)
    resolves to the pseudonym: her name and address are not stored again."""
    report = erase(story)
    later = lena_order(
        PACK_ORDER, [("MENTOR-PACK-5H", 1), ("ASSESS-DV", 1)], modified="2026-12-01T10:00:00"
    )
    story.apply(later)
    story.apply(lena_order(SEAT_ORDER, [("COHORT-DV-2027-01", 1)], modified="2026-12-01T10:00:00"))
    guest = lena_order(9399, [("MENTOR-1H", 1)], modified="2026-12-02T10:00:00")
    guest["customer_id"] = 0  # she buys again as a guest with the erased address
    story.apply(guest)
    with unit_of_work(story.engine) as session:
        customer = copy.deepcopy(later["billing"])
        apply_customer(session, {"id": later["customer_id"], "email": LENA, "billing": customer})
        session.commit()
    with unit_of_work(story.engine) as session:
        learner = session.get(Learner, report["learner_id"])
        assert learner is not None
        assert (learner.email, learner.name) == (
            pseudonym_email(report["learner_id"]),
            f"erased-{report['learner_id']}",
        )
        assert find_learner(session, LENA) is None
        emails = _all_emails(session)
        assert LENA not in emails
    dump = repr(every_row(story.engine)).lower().replace(HELENA, "")
    assert NAME.lower() not in dump.replace("helena fischer", "")
    assert LENA not in dump


def test_erasing_again_drops_the_raw_bodies_the_shop_sent_since(story):
    """A delivery of her old order that arrived (and was processed) after the erasure keeps its
    raw body like every delivery; erasing again drops it and changes nothing else."""
    erase(story)
    later = lena_order(PACK_ORDER, [("MENTOR-PACK-5H", 1)], modified="2026-12-03T10:00:00")
    with unit_of_work(story.engine) as session:
        session.add(
            InboxDelivery(
                topic="order.updated",
                resource="order",
                event="updated",
                resource_id=PACK_ORDER,
                business_key=f"order.updated:{PACK_ORDER}:2026-12-03T10:00:00",
                body=json.dumps(later).encode(),
                status="processed",
            )
        )
        session.commit()
    assert "Fischer" in repr(every_row(story.engine)["inbox"]).replace("helena", "")
    before = every_row(story.engine)
    again = erase(story)
    assert again["already_erased"] and again["removed"] == {"webhook bodies": 1}
    after = every_row(story.engine)
    assert {t for t in before if before[t] != after[t]} == {"inbox"}
    assert "fischer" not in repr(after["inbox"]).lower()


def _all_emails(session: Session) -> set[str]:
    rows = session.exec(select(LearnerEmail.email)).all()  # type: ignore[call-overload]
    learners = session.exec(select(Learner.email)).all()  # type: ignore[call-overload]
    return {row[0] for row in rows} | {row[0] for row in learners}


def _connect_a_wallet(story: Story) -> str:
    """Lena connected Pocket Wallet (used once since), which stored a credential from elsewhere
    naming her; what the Open Badges API would have written. Returns its compact JWS."""
    from jwcrypto import jwk, jws

    document = {
        "@context": ["https://www.w3.org/ns/credentials/v2"],
        "id": "https://college.example.edu/credentials/7",
        "type": ["VerifiableCredential", "OpenBadgeCredential"],
        "issuer": {"id": "https://college.example.edu/issuer", "type": ["Profile"]},
        "credentialSubject": {"type": ["AchievementSubject"], "name": NAME},
    }
    signed = jws.JWS(json.dumps(document).encode())
    key = jwk.JWK.generate(kty="EC", crv="P-256")
    signed.add_signature(key, alg="ES256", protected={"alg": "ES256", "typ": "JWT"})
    compact: str = signed.serialize(compact=True)
    now = datetime.now(UTC)
    scope = f"{CREDENTIAL_READ} {CREDENTIAL_UPSERT}"
    with unit_of_work(story.engine) as session:
        lena = find_learner(session, LENA)
        assert lena is not None and lena.id is not None
        metadata = {"client_name": "Pocket Wallet", "client_uri": "https://wallet.example.org/"}
        register_client(session, "pocket", "secret", {**metadata, "scope": scope}, now)
        row = save_token(
            session,
            {"access_token": "a" * 43, "refresh_token": "r" * 43, "scope": scope},
            client_id="pocket",
            learner_id=lena.id,
            code_id=None,
            now=now,
        )
        touch(session, row, now)
        sent = parse_upsert("text/plain", compact.encode())
        assert upsert_credential(session, lena.id, "pocket", sent, public_url=PUBLIC_URL, now=now)
        session.commit()
    return compact


def test_the_export_lists_connected_apps_and_erasure_ends_them_and_their_credentials(story):
    """The export names the app Lena connected (name, scopes, when, last used) and the
    credential it stored; erasure revokes the app's tokens and deletes that credential."""
    compact = _connect_a_wallet(story)
    sections = export_of(story.engine, LENA)["sections"]
    (app,) = sections["wallet_apps"]
    assert (app["name"], app["disconnected"]) == ("Pocket Wallet", False)
    assert app["scope"] == sorted([CREDENTIAL_READ, CREDENTIAL_UPSERT])
    assert app["connected_at"] and app["last_used_at"]
    (stored,) = sections["wallet_credentials"]
    assert stored["content"] == compact and stored["stored_by"] == "pocket"
    assert stored["credential_id"] == "https://college.example.edu/credentials/7"
    groups = {
        item["group_id"]
        for page in wordpress_pages(export_of(story.engine, LENA))
        for item in page["data"]
    }
    assert {"creator-bridge-wallet-apps", "creator-bridge-wallet-credentials"} <= groups

    report = erase(story)
    assert report["removed"]["connected apps' tokens"] == 1
    assert report["removed"]["credentials apps stored"] == 1
    with unit_of_work(story.engine) as session:
        assert all(t.revoked_at for t in session.exec(select(WalletToken)).scalars())
        assert session.exec(select(WalletCredential)).first() is None
    after = export_of(story.engine, pseudonym_email(report["learner_id"]))["sections"]
    assert after["wallet_apps"][0]["disconnected"] and after["wallet_credentials"] == []
    assert NAME not in repr(every_row(story.engine)).replace("Helena Fischer", "")
