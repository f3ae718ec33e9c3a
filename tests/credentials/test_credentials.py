"""Open Badges 3.0 credentials end to end: an outcome event issues one, a verifier that shares
no code with the bridge accepts it for that e-mail only, revocation shows in the status list,
and the public pages answer 4xx, never 5xx, for ids they do not know."""

from __future__ import annotations

import shutil
import stat
import subprocess
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from sqlalchemy import func
from sqlmodel import select
from werkzeug.serving import make_server

from bridge.services.credentials import (
    Signer,
    import_csv,
    issue_credential,
    issuing_factory,
    manual_source_key,
    revoke_credential,
    rotate_key,
    signing_key,
)
from bridge.store.db import make_engine, unit_of_work
from bridge.store.models import Credential, Learner, OutboxItem, OutcomeEvent
from tests.support.credentials import (
    PUBLIC_URL,
    VerificationFailed,
    buy,
    credential_settings,
    decoded_payload,
    example_catalogue,
    is_recipient,
    jose_header,
    revoked_in,
    schema_errors,
    tampered,
    verify_vc_jwt,
)
from tests.support.redemptions import ContractClient, make_token, sqlite_only
from webhooks import create_app

PASSED = {
    "kind": "assessment_passed",
    "learner": "ann@example.com",
    "sku": "ASSESS-DV",
    "occurred_at": "2026-11-30T10:00:00Z",
    "evidence": "https://github.com/ann/dataviz",
}


def make_api(engine, settings):  # type: ignore[no-untyped-def]
    app = create_app(settings, engine, handlers={}, background=False)
    return ContractClient(app, make_token(engine, "lms", "write")), app.test_client()


@pytest.fixture
def issuer(engine, database_url, tmp_path):  # type: ignore[no-untyped-def]
    """Ann bought ASSESS-DV; an API client (contract-checked) and a plain web client."""
    buy(engine, "ASSESS-DV", order_id=501)
    settings = credential_settings(database_url, tmp_path)
    api, web = make_api(engine, settings)
    return api, web, settings


def post(api: ContractClient, body: dict, key: str = "lms-pass-1"):  # type: ignore[no-untyped-def]
    return api.request("POST", "/api/v1/events", json=body, headers={"Idempotency-Key": key})


def count(engine, model) -> int:  # type: ignore[no-untyped-def]
    with unit_of_work(engine) as session:
        return session.exec(select(func.count()).select_from(model)).one()


def notes_about_credentials(engine) -> list[OutboxItem]:  # type: ignore[no-untyped-def]
    with unit_of_work(engine) as session:
        rows = session.exec(select(OutboxItem).where(OutboxItem.resource == "order_note")).all()
        return [row for row in rows if (row.payload or {}).get("event") == "credential_issued"]


@pytest.mark.both_databases
def test_an_assessment_passed_event_issues_a_credential_an_outside_verifier_accepts_for_that_email_only(  # noqa: E501
    issuer,
):
    """The VC-JWT verifies with jwcrypto against the published JWKS, passes the official
    schema offline, and its recipient hash matches ann's e-mail and no other."""
    api, web, _ = issuer
    answer = post(api, PASSED)
    assert answer.status_code == 201
    issued = answer.get_json()["credential"]
    assert issued["status"] == "active"
    assert issued["url"] == f"{PUBLIC_URL}/credentials/{issued['id']}"
    token = web.get(f"/credentials/{issued['id']}.jwt").get_data(as_text=True)
    jwks = web.get("/issuer/jwks.json").get_json()
    payload = verify_vc_jwt(token, jwks)
    assert schema_errors(payload) == []
    assert is_recipient(payload, "ann@example.com")
    assert is_recipient(payload, " ANN@example.com")
    assert not is_recipient(payload, "bob@example.com")
    assert "ann@example.com" not in token and "ann@example.com" not in str(payload)
    assert payload["type"] == ["VerifiableCredential", "OpenBadgeCredential"]
    assert payload["@context"][:2] == [
        "https://www.w3.org/ns/credentials/v2",
        "https://purl.imsglobal.org/spec/ob/v3p0/context-3.0.3.json",
    ]
    assert payload["issuer"] == {
        "id": f"{PUBLIC_URL}/issuer",
        "type": ["Profile"],
        "name": "Dana Datawright",
        "url": "https://shop.example.com",
    }
    achievement = payload["credentialSubject"]["achievement"]
    assert achievement["id"] == f"{PUBLIC_URL}/achievements/ASSESS-DV"
    assert achievement["name"] == "Data-viz practitioner"
    assert achievement["alignment"][0]["targetName"] == "Data visualisation"
    assert payload["evidence"] == [
        {"id": "https://github.com/ann/dataviz", "type": ["Evidence"], "name": "Evidence"}
    ]
    assert payload["sub"] == payload["credentialSubject"]["id"]
    status = web.get("/credentials/status/1").get_data(as_text=True)
    assert not revoked_in(status, jwks, payload)


@pytest.mark.both_databases
def test_the_same_event_twice_issues_one_credential_and_one_customer_note(issuer, engine):
    """A replayed event answers with the same credential; the learner is told once."""
    api, _, _ = issuer
    first = post(api, PASSED).get_json()
    again = post(api, PASSED)
    assert again.headers.get("Idempotent-Replayed") == "true"
    assert again.get_json()["credential"] == first["credential"]
    assert count(engine, Credential) == 1
    notes = notes_about_credentials(engine)
    assert len(notes) == 1
    assert notes[0].target_id == 501
    note = notes[0].payload["data"]
    assert note["customer_note"] is True
    assert first["credential"]["url"] in note["note"]


@pytest.mark.both_databases
def test_a_second_event_for_a_sku_the_learner_holds_gives_back_the_live_credential(issuer, engine):
    """Passing the assessment again (another key) does not issue a second badge."""
    api, _, _ = issuer
    first = post(api, PASSED).get_json()["credential"]
    second = post(api, {**PASSED, "occurred_at": "2026-12-01T09:00:00Z"}, key="lms-pass-2")
    assert second.status_code == 201
    assert second.get_json()["credential"] == first
    assert count(engine, Credential) == 1
    assert count(engine, OutcomeEvent) == 2


@sqlite_only
def test_credential_ids_are_stable_identities_of_the_event_not_row_ids(issuer):
    """The id is a UUIDv5 of the event's key, which is the token's (by its name, not its row):
    the same facts from the same token give the same id anywhere."""
    api, _, _ = issuer
    issued = post(api, PASSED, key="lms-pass-42").get_json()["credential"]
    assert uuid.UUID(issued["id"]).version == 5
    assert issued["id"] == str(
        uuid.uuid5(uuid.UUID("7d3b1f8e-2c51-5a0e-9f7c-6b1e0c2d4a91"), "event:token lms lms-pass-42")
    )


@pytest.mark.both_databases
def test_revoking_sets_the_bit_in_the_re_signed_status_list(issuer, engine):
    """After `revoke`, the outside verifier finds the credential's bit set; others stay clear."""
    api, web, settings = issuer
    buy(engine, "ASSESS-DV", "bo@example.com", customer_id=8)
    ann = post(api, PASSED).get_json()["credential"]
    bo = post(api, {**PASSED, "learner": "bo@example.com"}, key="lms-pass-bo").get_json()
    jwks = web.get("/issuer/jwks.json").get_json()
    before = web.get("/credentials/status/1").get_data(as_text=True)
    signer = Signer(signing_key(settings), PUBLIC_URL)
    with unit_of_work(engine) as session:
        row, changed = revoke_credential(session, signer, ann["id"], "plagiarised project")
        session.commit()
    assert changed
    after = web.get("/credentials/status/1").get_data(as_text=True)
    assert after != before
    ann_payload = verify_vc_jwt(
        web.get(f"/credentials/{ann['id']}.jwt").get_data(as_text=True), jwks
    )
    bo_payload = verify_vc_jwt(
        web.get(f"/credentials/{bo['credential']['id']}.jwt").get_data(as_text=True), jwks
    )
    assert revoked_in(after, jwks, ann_payload)
    assert not revoked_in(after, jwks, bo_payload)
    assert not revoked_in(before, jwks, ann_payload)
    assert (
        ann_payload["credentialStatus"]["statusListIndex"]
        != (bo_payload["credentialStatus"]["statusListIndex"])
    )
    page = web.get(f"/credentials/{ann['id']}").get_data(as_text=True)
    assert "Revoked on" in page and "plagiarised" not in page
    replay = post(api, PASSED).get_json()["credential"]
    assert replay["status"] == "revoked"


@sqlite_only
def test_a_tampered_credential_is_refused_by_the_outside_verifier(issuer):
    """Editing the payload (another achievement name, another recipient) breaks the signature."""
    api, web, _ = issuer
    issued = post(api, PASSED).get_json()["credential"]
    token = web.get(f"/credentials/{issued['id']}.jwt").get_data(as_text=True)
    jwks = web.get("/issuer/jwks.json").get_json()

    def rename(payload):  # type: ignore[no-untyped-def]
        payload["credentialSubject"]["achievement"]["name"] = "Senior data scientist"

    def reassign(payload):  # type: ignore[no-untyped-def]
        payload["credentialSubject"]["identifier"][0]["salt"] = "other"

    for change in (rename, reassign):
        with pytest.raises(VerificationFailed):
            verify_vc_jwt(tampered(token, change), jwks)
    assert decoded_payload(token)["jti"] == issued["url"]


@pytest.mark.both_databases
def test_a_learner_without_access_to_the_sku_is_refused_and_nothing_is_recorded(
    engine, database_url, tmp_path
):
    """A learner who bought something else, or whose order was refunded, gets a 400."""
    buy(engine, "MENTOR-1H", "cy@example.com", customer_id=9)
    buy(engine, "ASSESS-DV", "di@example.com", customer_id=10, order_id=777)
    buy(engine, "ASSESS-DV", "di@example.com", customer_id=10, order_id=777, status="refunded")
    api, _ = make_api(engine, credential_settings(database_url, tmp_path))
    for learner in ("cy@example.com", "di@example.com"):
        answer = post(api, {**PASSED, "learner": learner}, key=f"k-{learner}")
        assert answer.status_code == 400
        assert answer.get_json()["field"] == "learner"
        assert "holds no access to ASSESS-DV" in answer.get_json()["error"]
    assert count(engine, OutcomeEvent) == 0
    assert count(engine, Credential) == 0


@pytest.mark.parametrize(
    ("body", "field", "words"),
    [
        ({**PASSED, "sku": "PROJ-DATAVIZ"}, "sku", "is a project offer, not a assessment"),
        ({**PASSED, "kind": "project_accepted"}, "sku", "is a assessment offer, not a project"),
        ({**PASSED, "sku": "MENTOR-1H"}, "sku", "is a mentor hours offer"),
        ({**PASSED, "evidence": "ftp://example.com/x"}, "evidence", "http(s) URL"),
        ({**PASSED, "kind": "interview"}, "evidence", "only for assessment_passed"),
    ],
)
@sqlite_only
def test_an_event_that_cannot_issue_is_a_400_naming_the_field(issuer, engine, body, field, words):
    """Wrong kind of SKU, a bad evidence URL, evidence on another kind: 400, nothing stored."""
    api, _, _ = issuer
    answer = post(api, body)
    assert answer.status_code == 400
    assert answer.get_json()["field"] == field
    assert words in answer.get_json()["error"]
    assert count(engine, OutcomeEvent) == 0


@sqlite_only
def test_without_a_public_url_a_credential_event_is_refused_with_409(
    engine, database_url, tmp_path
):
    """The bridge cannot name its credentials: 409, nothing recorded, other events still work."""
    buy(engine, "ASSESS-DV")
    api, _ = make_api(engine, credential_settings(database_url, tmp_path, web={"public_url": None}))
    answer = post(api, PASSED)
    assert answer.status_code == 409
    assert answer.get_json()["code"] == "credentials_not_configured"
    assert "BRIDGE_PUBLIC_URL" in answer.get_json()["error"]
    assert count(engine, OutcomeEvent) == 0
    other = post(
        api,
        {**PASSED, "kind": "project_submitted", "sku": "ASSESS-DV", "evidence": None},
        key="other",
    )
    assert other.status_code == 201


@pytest.mark.both_databases
def test_a_project_bought_in_a_bundle_earns_its_credential_when_accepted(
    engine, database_url, tmp_path
):
    """The bundle grants access to PROJ-DATAVIZ, so project_accepted issues its credential."""
    buy(engine, "BUNDLE-DV-STACK", order_id=612)
    api, web = make_api(engine, credential_settings(database_url, tmp_path))
    answer = post(api, {**PASSED, "kind": "project_accepted", "sku": "PROJ-DATAVIZ"})
    assert answer.status_code == 201
    issued = answer.get_json()["credential"]
    payload = verify_vc_jwt(
        web.get(f"/credentials/{issued['id']}.jwt").get_data(as_text=True),
        web.get("/issuer/jwks.json").get_json(),
    )
    achievement = payload["credentialSubject"]["achievement"]
    assert achievement["achievementType"] == "Assignment"
    assert "6-week window" in achievement["criteria"]["narrative"]
    assert notes_about_credentials(engine)[0].target_id == 612


@sqlite_only
def test_the_credential_page_shows_what_people_need(issuer):
    """Achievement, issuer, date, verified, an Add to LinkedIn link and both downloads."""
    api, web, _ = issuer
    issued = post(api, PASSED).get_json()["credential"]
    page = web.get(f"/credentials/{issued['id']}", headers={"Accept": "text/html"})
    assert page.status_code == 200
    assert page.mimetype == "text/html"
    html = page.get_data(as_text=True)
    for text in (
        "Data-viz practitioner",
        "Dana Datawright",
        issued["issued_at"][:10],
        "Verified: signed by Dana Datawright",
        "https://www.linkedin.com/profile/add?",
        f"{issued['id']}.jwt",
        f"{issued['id']}.json",
        "Data visualisation",
        "https://github.com/ann/dataviz",
    ):
        assert text in html, text
    assert "ann@example.com" not in html
    assert "default-src 'none'" in page.headers["Content-Security-Policy"]


@sqlite_only
def test_one_url_serves_people_and_machines_by_accept_or_suffix(issuer):
    """text/html the page, application/vc+jwt the JWT, application/json the credential."""
    api, web, _ = issuer
    identity = post(api, PASSED).get_json()["credential"]["id"]
    jwt = web.get(f"/credentials/{identity}", headers={"Accept": "application/vc+jwt"})
    assert jwt.mimetype == "application/vc+jwt"
    assert jwt.get_data(as_text=True).count(".") == 2
    document = web.get(f"/credentials/{identity}", headers={"Accept": "application/json"})
    assert document.mimetype == "application/json"
    assert document.get_json()["id"] == f"{PUBLIC_URL}/credentials/{identity}"
    assert web.get(f"/credentials/{identity}.jwt").get_data() == jwt.get_data()
    download = web.get(f"/credentials/{identity}.json")
    assert download.get_json() == document.get_json()
    assert "attachment" in download.headers["Content-Disposition"]
    assert web.get(f"/credentials/{identity}").mimetype == "text/html"
    assert jwt.headers["Access-Control-Allow-Origin"] == "*"


@pytest.mark.parametrize(
    "ref",
    [
        "nope",
        "00000000-0000-0000-0000-000000000000",
        str(uuid.uuid4()) + ".jwt",
        "7D3B1F8E-2C51-5A0E-9F7C-6B1E0C2D4A91",
        "x" * 500,
        "%00",
        "..%2F..%2Fetc",
        ".json",
        "urn:uuid:" + str(uuid.uuid4()),
        "{}",
    ],
)
@sqlite_only
def test_unknown_or_malformed_credential_ids_are_404_never_5xx(issuer, ref):
    """Whatever the id, the answer is 404 JSON (or HTML for a browser of the page); a NUL,
    which no id holds, is refused at the edge with 400 (tests/web/test_input_matrix.py)."""
    _, web, _ = issuer
    expected = 400 if ref == "%00" else 404
    answer = web.get(f"/credentials/{ref}", headers={"Accept": "application/json"})
    assert answer.status_code == expected
    assert answer.get_json()["error"]
    browser = web.get(f"/credentials/{ref}", headers={"Accept": "text/html"})
    assert browser.status_code == expected


@pytest.mark.parametrize(
    "path",
    [
        "/achievements/NOPE",
        "/achievements/MENTOR-1H",
        "/issuer/keys/nope",
        "/issuer/keys/" + "a" * 300,
        "/credentials/status/2",
        "/credentials/status/x",
    ],
)
@sqlite_only
def test_unknown_achievements_keys_and_lists_are_404(issuer, path):
    """Only SKUs that issue credentials have an achievement; only keys that signed are served."""
    _, web, _ = issuer
    assert web.get(path, headers={"Accept": "application/json"}).status_code == 404


@sqlite_only
def test_without_a_public_url_the_pages_are_404(engine, database_url, tmp_path):
    """Nothing is published by a bridge that does not know its own address."""
    _, web = make_api(engine, credential_settings(database_url, tmp_path, web={"public_url": None}))
    for path in (
        "/issuer",
        "/issuer/jwks.json",
        "/credentials/status/1",
        f"/credentials/{uuid.uuid4()}",
        "/achievements/ASSESS-DV",
    ):
        assert web.get(path).status_code == 404, path


@sqlite_only
def test_issuer_and_achievement_documents_are_published(issuer):
    """The Profile and the Achievement the credential names answer at their ids."""
    _, web, _ = issuer
    profile = web.get("/issuer").get_json()
    assert profile["id"] == f"{PUBLIC_URL}/issuer"
    assert profile["type"] == ["Profile"] and profile["name"] == "Dana Datawright"
    achievement = web.get("/achievements/ASSESS-DV", headers={"Accept": "application/json"})
    assert achievement.get_json()["criteria"]["narrative"].startswith("Pass the assessment")
    page = web.get("/achievements/ASSESS-DV", headers={"Accept": "text/html"})
    assert 'id="data-visualisation"' in page.get_data(as_text=True)


@pytest.mark.both_databases
def test_rotating_the_key_keeps_old_public_keys_so_old_credentials_verify(issuer, engine):
    """After rotation the JWKS lists both keys; old and new credentials verify, the kid of
    each resolves to its key, and the status list is signed with the new one."""
    api, web, settings = issuer
    buy(engine, "ASSESS-DV", "bo@example.com", customer_id=8)
    old = post(api, PASSED).get_json()["credential"]
    with unit_of_work(engine) as session:
        fresh = rotate_key(session, settings)
        session.commit()
    assert stat.S_IMODE(Path(settings.credentials.key_file).stat().st_mode) == 0o600
    new = post(api, {**PASSED, "learner": "bo@example.com"}, key="k-bo").get_json()
    jwks = web.get("/issuer/jwks.json").get_json()
    assert len(jwks["keys"]) == 2
    for identity in (old["id"], new["credential"]["id"]):
        token = web.get(f"/credentials/{identity}.jwt").get_data(as_text=True)
        verify_vc_jwt(token, jwks)
    new_token = web.get(f"/credentials/{new['credential']['id']}.jwt").get_data(as_text=True)
    header = jose_header(new_token)
    assert header["kid"] == f"{PUBLIC_URL}/issuer/keys/{fresh.thumbprint}"
    key = web.get(header["kid"].removeprefix(PUBLIC_URL)).get_json()
    assert key["kid"] == header["kid"] and "d" not in key
    status = web.get("/credentials/status/1").get_data(as_text=True)
    assert jose_header(status)["kid"] == header["kid"]


@pytest.mark.both_databases
def test_concurrent_first_credentials_and_revocations_neither_collide_nor_lose_a_bit(
    issuer, engine
):
    """Six learners pass at once (the first credentials, so the status list is created under
    the race), then four are revoked at once: every request succeeds, each index is unique,
    and the re-signed list holds exactly the four bits."""
    api, web, settings = issuer
    learners = [f"l{n}@example.com" for n in range(6)]
    for number, email in enumerate(learners):
        buy(engine, "ASSESS-DV", email, customer_id=200 + number)
    token = api.token
    start = threading.Barrier(len(learners))

    def passed(email: str) -> int:
        client = ContractClient(api.client.application, token)
        start.wait()
        return post(client, {**PASSED, "learner": email}, key=f"race-{email}").status_code

    with ThreadPoolExecutor(max_workers=len(learners)) as pool:
        assert list(pool.map(passed, learners)) == [201] * len(learners)
    with unit_of_work(engine) as session:
        rows = session.exec(select(Credential)).all()
    assert len({row.status_index for row in rows}) == len(learners)
    signer = Signer(signing_key(settings), PUBLIC_URL)
    revoke_start = threading.Barrier(4)

    def revoke(identity: str) -> bool:
        revoke_start.wait()
        with unit_of_work(engine) as session:
            _, changed = revoke_credential(session, signer, identity, "test")
            session.commit()
        return changed

    with ThreadPoolExecutor(max_workers=4) as pool:
        assert all(pool.map(revoke, [row.uuid for row in rows[:4]]))
    jwks = web.get("/issuer/jwks.json").get_json()
    status = web.get("/credentials/status/1").get_data(as_text=True)
    for number, row in enumerate(rows):
        payload = verify_vc_jwt(
            web.get(f"/credentials/{row.uuid}.jwt").get_data(as_text=True), jwks
        )
        assert revoked_in(status, jwks, payload) is (number < 4)


@pytest.mark.skipif(shutil.which("chromium") is None, reason="no chromium on this machine")
@sqlite_only
def test_a_real_browser_renders_the_credential_page(issuer, engine, database_url, tmp_path):
    """Headless Chromium loads the page from a real server: status, achievement, LinkedIn."""
    api, _, settings = issuer
    identity = post(api, PASSED).get_json()["credential"]["id"]
    app = create_app(settings, engine, handlers={}, background=False)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        dom = subprocess.run(  # noqa: S603 - a fixed browser binary and our own URL
            [
                shutil.which("chromium") or "chromium",
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                f"--user-data-dir={tmp_path / 'chromium'}",
                "--dump-dom",
                f"http://127.0.0.1:{server.server_port}/credentials/{identity}",
            ],
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        ).stdout
    finally:
        server.shutdown()
        thread.join(timeout=5)
    assert "Verified: signed by Dana Datawright" in dom
    assert "<h1>Data-viz practitioner</h1>" in dom
    assert "https://www.linkedin.com/profile/add?startTask=CERTIFICATION_NAME" in dom
    assert f"/credentials/{identity}.jwt" in dom


def test_a_rebuilt_database_gives_the_same_credential_ids(sqlite_template, tmp_path):
    """Ids come from stable facts (the event, the e-mail), not row ids: a keyless CSV line and a
    manual award give the same ids in a database where the learner has another row id."""
    ids = []
    for number, others in enumerate((0, 3)):
        path = tmp_path / f"bridge-{number}.db"
        shutil.copy(sqlite_template, path)
        engine = make_engine(f"sqlite:///{path}")
        for other in range(others):
            buy(engine, "MENTOR-1H", f"x{other}@example.com", customer_id=300 + other)
        buy(engine, "ASSESS-DV")
        buy(engine, "PROJ-DATAVIZ")
        setup = issuing_factory(
            credential_settings(f"sqlite:///{path}", tmp_path), example_catalogue
        )
        result = import_csv(
            engine,
            "kind,learner,sku,occurred_at\n"
            "assessment_passed,ann@example.com,ASSESS-DV,2026-11-30\n",
            "UTC",
            issuing=setup,
        )
        assert result.committed and result.recorded == 1
        with unit_of_work(engine) as session:
            learner = session.exec(select(Learner).where(Learner.email == "ann@example.com")).one()
            issue_credential(
                session,
                setup(),
                learner,
                "PROJ-DATAVIZ",
                source_key=manual_source_key(session, learner, "PROJ-DATAVIZ"),
            )
            session.commit()
            ids.append((learner.id, sorted(session.exec(select(Credential.uuid)).all())))
        engine.dispose()
    assert ids[0][0] != ids[1][0]
    assert ids[0][1] == ids[1][1]
