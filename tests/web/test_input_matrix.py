"""Odd input at every edge is a 4xx that writes nothing, never a 5xx, on both databases.

The matrix is the probe of 2026-12-07 (issue 36, R2-R4): NUL bytes and lone surrogates in paths,
query strings, form fields and JSON bodies; ids beyond what an id column holds; a superscript
digit where a number is looked for. Every case runs once on SQLite and once on PostgreSQL against
one seeded shop per database; each compares the row count of every data table before and after.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from argon2 import PasswordHasher
from click.testing import CliRunner
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import Engine, func, select
from sqlmodel import SQLModel

from bridge.cli.main import main
from bridge.services.operations import create_token
from bridge.services.team_packs import list_claims
from bridge.store.db import make_engine, unit_of_work
from tests.support.bookings import SECRET as BOOKING_SECRET
from tests.support.bookings import calcom_headers, compact
from tests.support.bookings import payload as booking_payload
from tests.support.claims import PACK_OFFER, pack_order
from tests.support.claims import SECRET as CLAIM_SECRET
from tests.support.console import (
    ADMIN,
    PASSWORD,
    csrf_of,
    log_in,
    seed_console_shop,
)
from tests.support.databases import module_database
from tests.support.sample_shop import HISTORY_IS_NEWS
from webhooks import create_app

pytestmark = pytest.mark.both_databases

# Tables that record requests rather than data: a login or a refused signature may touch them.
REQUEST_TABLES = frozenset(
    {"console_session", "login_throttle", "login_failure", "counter", "api_token"}
)
BIG = "99999999999999999999"  # beyond 2^64
INT32_PAST = str(2**31)  # one past what an INTEGER id column holds on PostgreSQL
INT64_PAST = str(2**63)  # one past BIGINT
PACK_ORDER_ID = 880
PAGES = ("/console/", "/outcomes/")  # HTML pages; every other refusal is JSON


@dataclass
class Shop:
    """One seeded database: its app, a claim code of an open place, tokens and a learner id."""

    engine: Engine
    app: Flask
    claim_code: str
    read_token: str
    write_token: str
    learner_id: int
    url: str
    extra: dict[str, Any] = field(default_factory=dict)


def _seed(engine: Engine, url: str, folder: Any) -> Shop:
    with pytest.MonkeyPatch.context() as patch:
        from bridge.services.operations import operators

        patch.setattr(
            operators, "_hasher", PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
        )
        console = seed_console_shop(engine, url, folder)
    settings = console.settings.replace(
        claims={"secret": CLAIM_SECRET},
        web={"public_url": "https://bridge.example.com"},
        writeback={"notify_since": HISTORY_IS_NEWS},
        bookings={"calcom_webhook_secret": BOOKING_SECRET},
    )
    catalogue = dataclasses.replace(
        console.catalogue, offers={**console.catalogue.offers, PACK_OFFER.sku: PACK_OFFER}
    )
    from bridge.services.catalogue import current_catalogue
    from bridge.services.orders import process_order

    process_order(engine, pack_order(PACK_ORDER_ID), catalogue=catalogue, settings=settings)
    code = list_claims(engine, PACK_ORDER_ID, settings)["places"][0]["code"]
    with unit_of_work(engine) as session:
        _, reader = create_token(session, "matrix-reader", "read")
        _, writer = create_token(session, "matrix-writer", "write")
        session.commit()
    app = create_app(settings, engine, handlers={}, background=False)
    # The first read applies the catalogue file (as `bridge init` does): not the matrix's row.
    current_catalogue(engine, settings.catalogue.file)
    return Shop(engine, app, code, reader, writer, console.learner_id("Ann"), url)


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def shop(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Shop]:
    """The console's sample shop with a team pack and two tokens, once per database."""
    folder = tmp_path_factory.mktemp("input-matrix")
    with module_database(request, folder, "bridge_matrix") as url:
        engine = make_engine(url)
        try:
            yield _seed(engine, url, folder)
        finally:
            engine.dispose()


def row_counts(engine: Engine) -> dict[str, int]:
    """Rows per data table (the request-recording tables left out)."""
    with engine.connect() as connection:
        return {
            table.name: connection.execute(select(func.count()).select_from(table)).scalar_one()
            for table in SQLModel.metadata.sorted_tables
            if table.name not in REQUEST_TABLES
        }


@dataclass(frozen=True)
class Case:
    """One request of the matrix and the answer it must get."""

    name: str
    method: str
    path: str
    status: int
    who: str = "anyone"  # anyone, admin (logged in to the console), reader, writer
    json: Any = None
    raw: bytes | None = None  # a JSON body sent as these bytes (lone surrogates, NUL escapes)
    form: dict[str, str] | None = None
    csrf: bool = False
    claim_token: bool = False
    location: str | None = None  # where a redirect must lead
    calcom: bool = False  # the raw body signed as Cal.com signs it


def _json_bytes(text_: str) -> bytes:
    return text_.encode("ascii")


def _calcom(path: tuple[str, ...], json_text: str) -> bytes:
    """Cal.com's sample booking with one string replaced by raw JSON text (an escape)."""
    data = booking_payload("calcom_booking_created")
    target = data
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = "@@MARK@@"
    return compact(data).replace(b'"@@MARK@@"', json_text.encode())


REDEEM = '"credit_type": "mentor_minutes", "amount": 30, "reference": "call 1"'
CASES = [
    # Public and unauthenticated.
    Case("issuer key with NUL", "GET", "/issuer/keys/%00", 400),
    Case("achievement with NUL", "GET", "/achievements/%00", 400),
    Case("credential with NUL", "GET", "/credentials/%00", 400),
    Case("status list beyond 2^64", "GET", f"/credentials/status/{BIG}", 404),
    Case("cohort outcomes with NUL", "GET", "/outcomes/cohorts/%00", 400),
    Case("claim page with NUL", "GET", "/claims/%00", 400),
    Case(
        "claim, e-mail with a lone surrogate",
        "POST",
        "/claims/{code}",
        400,
        raw=_json_bytes('{"email": "\\ud800@example.com", "name": "Mallory"}'),
    ),
    Case(
        "claim, e-mail with NUL",
        "POST",
        "/claims/{code}",
        400,
        raw=_json_bytes('{"email": "a\\u0000b@example.com", "name": "Mallory"}'),
    ),
    Case(
        "claim, name with a lone surrogate",
        "POST",
        "/claims/{code}",
        400,
        raw=_json_bytes('{"email": "m@example.com", "name": "Mal\\udfffory"}'),
    ),
    Case(
        "claim, name with NUL",
        "POST",
        "/claims/{code}",
        400,
        raw=_json_bytes('{"email": "m@example.com", "name": "Mal\\u0000lory"}'),
    ),
    Case(
        "claim form, e-mail with NUL",
        "POST",
        "/claims/{code}",
        400,
        form={"email": "a\x00b@example.com", "name": "Mallory"},
        claim_token=True,
    ),
    Case("report token with NUL", "GET", "/report?token=%00", 400),
    Case("health with NUL in the query", "GET", "/healthz?probe=%00", 400),
    Case(
        "login with NUL in the e-mail",
        "POST",
        "/console/login",
        400,
        form={"email": "a\x00b@example.com", "password": "x"},
        csrf=True,
    ),
    Case("unknown path with NUL", "GET", "/%00", 400),
    Case(
        "login with CR LF in next",
        "POST",
        "/console/login?next=/console%0d%0aX",
        302,
        form={"email": ADMIN, "password": PASSWORD},
        csrf=True,
        location="/console/",
    ),
    Case(
        "Cal.com booking, uid with NUL",
        "POST",
        "/webhooks/calcom",
        400,
        raw=_calcom(("payload", "uid"), '"k3Hq\\u0000"'),
        calcom=True,
    ),
    Case(
        "Cal.com booking, organizer with a lone surrogate",
        "POST",
        "/webhooks/calcom",
        400,
        raw=_calcom(("payload", "organizer", "email"), '"\\udc00@example.com"'),
        calcom=True,
    ),
    # The API, with a token.
    Case("API learner with NUL", "GET", "/api/v1/learners/%00", 400, who="reader"),
    Case("API learner as a superscript digit", "GET", "/api/v1/learners/%C2%B9", 404, who="reader"),
    Case("API learner id beyond 2^64", "GET", f"/api/v1/learners/{BIG}", 404, who="reader"),
    Case(
        "API redemption id beyond 2^64", "DELETE", f"/api/v1/redemptions/{BIG}", 404, who="writer"
    ),
    Case(
        "API redemption, learner with NUL",
        "POST",
        "/api/v1/redemptions",
        400,
        who="writer",
        raw=_json_bytes('{"learner": "a\\u0000b@example.com", ' + REDEEM + "}"),
    ),
    Case(
        "API redemption, reference with a lone surrogate",
        "POST",
        "/api/v1/redemptions",
        400,
        who="writer",
        raw=_json_bytes(
            '{"learner": "ann@example.com", "credit_type": "mentor_minutes", "amount": 1, '
            '"reference": "\\ud83d call"}'
        ),
    ),
    Case(
        "API redemption, field name with NUL",
        "POST",
        "/api/v1/redemptions",
        400,
        who="writer",
        raw=_json_bytes('{"learner\\u0000": "ann@example.com", ' + REDEEM + "}"),
    ),
    Case(
        "API event, learner with a lone surrogate",
        "POST",
        "/api/v1/events",
        400,
        who="writer",
        raw=_json_bytes(
            '{"kind": "project_started", "learner": "\\udc00@example.com", '
            '"sku": "PROJ-DATAVIZ", "occurred_at": "2026-11-01T10:00:00Z"}'
        ),
    ),
    # The console, logged in as an admin.
    Case("console learner id beyond 2^64", "GET", f"/console/learners/{BIG}", 404, who="admin"),
    Case(
        "console learner id past 2^31-1", "GET", f"/console/learners/{INT32_PAST}", 404, who="admin"
    ),
    Case(
        "console learner id past 2^63-1", "GET", f"/console/learners/{INT64_PAST}", 404, who="admin"
    ),
    Case(
        "console adjust beyond 2^64",
        "POST",
        f"/console/learners/{BIG}/adjust",
        404,
        who="admin",
        form={"credit_type": "mentor_minutes", "amount": "5", "reason": "x", "direction": "grant"},
        csrf=True,
    ),
    Case("console inbox id beyond 2^64", "GET", f"/console/inbox/{BIG}", 404, who="admin"),
    Case(
        "console inbox retry past 2^31-1",
        "POST",
        f"/console/inbox/{INT32_PAST}/retry",
        404,
        who="admin",
        form={},
        csrf=True,
    ),
    Case("console outbox id past 2^31-1", "GET", f"/console/outbox/{INT32_PAST}", 404, who="admin"),
    Case(
        "console outbox retry beyond 2^64",
        "POST",
        f"/console/outbox/{BIG}/retry",
        404,
        who="admin",
        form={},
        csrf=True,
    ),
    Case("console cohort with NUL", "GET", "/console/cohorts/%00", 400, who="admin"),
    Case("console search with NUL", "GET", "/console/learners?q=%00", 400, who="admin"),
    Case(
        "console search for a superscript digit",
        "GET",
        "/console/learners?q=%C2%B9",
        200,
        who="admin",
    ),
    Case(
        "console search for an id past 2^31-1",
        "GET",
        f"/console/learners?q={INT32_PAST}",
        200,
        who="admin",
    ),
    Case(
        "console search for encoded surrogate bytes",
        "GET",
        "/console/learners?q=%ED%A0%80",
        200,
        who="admin",
    ),
    Case("console inbox filter with NUL", "GET", "/console/inbox?status=%00", 400, who="admin"),
    Case("console report with NUL", "GET", "/console/report?since=%00", 400, who="admin"),
    Case(
        "console adjust, reason with NUL",
        "POST",
        "/console/learners/{learner}/adjust",
        400,
        who="admin",
        form={
            "credit_type": "mentor_minutes",
            "amount": "5",
            "reason": "gift\x00",
            "direction": "grant",
        },
        csrf=True,
    ),
]


def _client(shop: Shop, who: str) -> FlaskClient:
    client = shop.app.test_client()
    if who == "admin":
        assert log_in(client, ADMIN).status_code == 302
    return client


def _send(shop: Shop, case: Case) -> Any:
    client = _client(shop, case.who)
    path = case.path.format(code=shop.claim_code, learner=shop.learner_id)
    headers: dict[str, str] = {}
    if case.who in ("reader", "writer"):
        token = shop.read_token if case.who == "reader" else shop.write_token
        headers["Authorization"] = f"Bearer {token}"
        headers["Idempotency-Key"] = f"matrix-{uuid.uuid4().hex}"
    if case.calcom:
        assert case.raw is not None
        headers.update(calcom_headers(case.raw))
    if case.raw is not None:
        return client.open(
            path,
            method=case.method,
            data=case.raw,
            headers=headers,
            content_type="application/json",
        )
    if case.form is not None:
        form = dict(case.form)
        if case.csrf:
            page = "/console/login" if case.who == "anyone" else "/console/"
            form["csrf_token"] = csrf_of(client.get(page).get_data(as_text=True))
        if case.claim_token:
            page = client.get(path).get_data(as_text=True)
            form["token"] = page.split('name="token" value="', 1)[1].split('"', 1)[0]
        return client.open(path, method=case.method, data=form, headers=headers)
    return client.open(path, method=case.method, headers=headers)


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_odd_input_is_answered_4xx_and_writes_nothing(shop: Shop, case: Case) -> None:
    """The expected status, never a 5xx; a JSON error body on refusal; no data row added."""
    before = row_counts(shop.engine)
    response = _send(shop, case)
    assert response.status_code < 500, (case.name, response.status_code, response.data[:300])
    assert response.status_code == case.status, (case.name, response.data[:300])
    if case.location is not None:
        assert response.headers["Location"] == case.location
    if response.status_code >= 400 and case.path.startswith(PAGES):
        # A console or public page refuses with its HTML error page; an address that names no
        # page at all (an id out of range) with the JSON 404 of any unknown address.
        page = response.mimetype == "text/html" and b"</html>" in response.data
        assert page or "error" in (response.get_json(silent=True) or {}), response.data[:300]
    elif response.status_code >= 400:
        assert isinstance((response.get_json(silent=True) or {}).get("error"), str), response.data[
            :300
        ]
    assert row_counts(shop.engine) == before


def test_a_claim_with_a_plain_e_mail_still_works_after_the_odd_ones(shop: Shop) -> None:
    """The place the matrix tried to claim with odd e-mails is still open and claimable."""
    client = shop.app.test_client()
    answer = client.post(
        f"/claims/{shop.claim_code}",
        json={"email": "real.person@example.com", "name": "Real Person"},
    )
    assert answer.status_code == 201, answer.get_json()
    assert answer.get_json()["email"] == "real.person@example.com"
    shop.claim_code = list_claims(
        shop.engine, PACK_ORDER_ID, shop.app.extensions["bridge"].settings
    )["places"][1]["code"]


@pytest.mark.parametrize(
    "email", ["a\x00b@example.com", "\udcff@example.com", "a\x07b@example.com"]
)
def test_credits_grant_refuses_an_e_mail_that_cannot_be_stored_in_one_line(
    shop: Shop, email: str, workdir: Path
) -> None:
    """`bridge credits grant` to an unstorable e-mail: one error line, exit 1, nothing written."""
    before = row_counts(shop.engine)
    result = CliRunner().invoke(
        main,
        [
            "credits",
            "grant",
            email,
            "--type",
            "mentor_minutes",
            "--amount",
            "60",
            "--reason",
            "gift",
        ],
        env={"DATABASE_URL": shop.url},
    )
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and "e-mail" in lines[0], result.output
    assert row_counts(shop.engine) == before
