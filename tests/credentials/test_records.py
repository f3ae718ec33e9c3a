"""Pathways and their learner records (CLR 2.0) end to end, verified from the other side: the
outer VC-JWT with jwcrypto, the official ClrCredential schema with jsonschema, and each inner
credential's eddsa-rdfc-2022 proof with pyld + cryptography, against the Multikeys the issuer
profile publishes; none of it with the bridge's own code."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from sqlmodel import select

from bridge.services.credentials import issue_record, issuing_factory, revoke_with_records
from bridge.store.db import unit_of_work
from bridge.store.models import Credential, Learner, OutboxItem
from tests.support.credentials import (
    PUBLIC_URL,
    buy,
    credential_settings,
    example_catalogue,
    is_recipient,
    revoked_in,
    schema_errors,
    verify_vc_jwt,
)
from tests.support.records import clr_schema_errors, issuer_methods, proof_verifies
from tests.support.redemptions import ContractClient, make_token
from webhooks import create_app

PROJECT = {
    "kind": "project_accepted",
    "learner": "ann@example.com",
    "sku": "PROJ-DATAVIZ",
    "occurred_at": "2026-11-20T10:00:00Z",
    "evidence": "https://github.com/ann/portfolio",
}
ASSESSMENT = {
    "kind": "assessment_passed",
    "learner": "ann@example.com",
    "sku": "ASSESS-DV",
    "occurred_at": "2026-11-30T10:00:00Z",
}
PATHWAY = "data-viz-practitioner"


@pytest.fixture
def stack(engine, database_url, tmp_path):  # type: ignore[no-untyped-def]
    """Ann bought the data-viz project and the assessment; an API client and a web client."""
    buy(engine, "PROJ-DATAVIZ", order_id=601)
    buy(engine, "ASSESS-DV", order_id=602)
    settings = credential_settings(database_url, tmp_path)
    app = create_app(settings, engine, handlers={}, background=False)
    api = ContractClient(app, make_token(engine, "lms", "write"))
    return api, app.test_client(), settings


def post(api: ContractClient, body: dict[str, Any], key: str):  # type: ignore[no-untyped-def]
    answer = api.request("POST", "/api/v1/events", json=body, headers={"Idempotency-Key": key})
    assert answer.status_code == 201, answer.get_json()
    return answer.get_json()


def records(engine) -> list[Credential]:  # type: ignore[no-untyped-def]
    with unit_of_work(engine) as session:
        return list(
            session.exec(
                select(Credential).where(Credential.kind == "record").order_by(Credential.id)
            ).all()
        )


def verified_record(web, record_id: str) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    """The record as an outside verifier reads it: the JWS, the schema, every inner proof."""
    token = web.get(f"/credentials/{record_id}.jwt").get_data(as_text=True)
    jwks = web.get("/issuer/jwks.json").get_json()
    payload = verify_vc_jwt(token, jwks)
    assert clr_schema_errors(payload) == []
    methods = issuer_methods(web.get("/issuer").get_json())
    assert methods, "the issuer profile publishes no Multikey"
    for inner in payload["credentialSubject"]["verifiableCredential"]:
        assert proof_verifies(inner, methods), inner["id"]
        assert schema_errors(inner) == []
    return payload


@pytest.mark.both_databases
def test_passing_the_steps_issues_a_record_that_verifies_from_the_other_side(stack, engine):  # type: ignore[no-untyped-def]
    """Project accepted, then assessment passed: one ClrCredential carrying both credentials,
    each with its own proof; outer JWS, official schema and inner proofs all verify."""
    api, web, _ = stack
    post(api, PROJECT, "pj-1")
    assert records(engine) == []  # one step of two: no record by itself
    answer = post(api, ASSESSMENT, "as-1")
    (row,) = records(engine)
    payload = verified_record(web, row.uuid)
    assert payload["type"] == ["VerifiableCredential", "ClrCredential"]
    assert payload["@context"][:3] == [
        "https://www.w3.org/ns/credentials/v2",
        "https://purl.imsglobal.org/spec/clr/v2p0/context-2.0.1.json",
        "https://purl.imsglobal.org/spec/ob/v3p0/context-3.0.3.json",
    ]
    assert "partial" not in payload
    assert payload["awardedDate"] == ASSESSMENT["occurred_at"]  # when the pathway completed
    subject = payload["credentialSubject"]
    assert subject["type"] == ["ClrSubject"]
    assert is_recipient(payload, "ann@example.com")
    assert not is_recipient(payload, "bo@example.com")
    assert "ann@example.com" not in str(payload)
    inner_ids = [inner["id"] for inner in subject["verifiableCredential"]]
    assert answer["credential"]["url"] in inner_ids
    assert len(inner_ids) == 2
    pathway_id = f"{PUBLIC_URL}/pathways/{PATHWAY}"
    project_id = f"{PUBLIC_URL}/achievements/PROJ-DATAVIZ"
    assess_id = f"{PUBLIC_URL}/achievements/ASSESS-DV"
    assert [a["id"] for a in subject["achievement"]] == [pathway_id, project_id, assess_id]
    assert subject["achievement"][0]["achievementType"] == "LearningProgram"
    assert subject["achievement"][0]["alignment"][0]["targetName"] == "Data visualisation"
    associations = {
        (a["associationType"], a["sourceId"], a["targetId"]) for a in subject["association"]
    }
    assert associations == {
        ("isParentOf", pathway_id, project_id),
        ("isParentOf", pathway_id, assess_id),
        ("precedes", project_id, assess_id),
    }
    assert payload["credentialSchema"][0]["id"].endswith("clr_v2p0_clrcredential_schema.json")
    status = web.get("/credentials/status/1").get_data(as_text=True)
    assert not revoked_in(status, web.get("/issuer/jwks.json").get_json(), payload)
    assert web.get(f"/pathways/{PATHWAY}").get_json()["id"] == pathway_id
    page = web.get(f"/credentials/{row.uuid}", headers={"Accept": "text/html"})
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert "Data-viz practitioner pathway" in text and "Comprehensive Learner Record" in text


@pytest.mark.both_databases
def test_a_partial_record_on_request_then_the_complete_one_replaces_it_by_id(stack, engine):  # type: ignore[no-untyped-def]
    """Before the pathway completes a partial record is issued on request (partial: true);
    completing it replaces that record by id with a newer validFrom."""
    api, web, settings = stack
    post(api, PROJECT, "pj-1")
    setup = issuing_factory(settings, example_catalogue)()
    with unit_of_work(engine) as session:
        ann = session.exec(select(Learner).where(Learner.email == "ann@example.com")).one()
        with pytest.raises(Exception, match="partial record is issued on request"):
            issue_record(session, setup, ann, PATHWAY)
        partial = issue_record(session, setup, ann, PATHWAY, partial=True)
        session.commit()
        partial_id = partial.credential.uuid
    first = verified_record(web, partial_id)
    assert first["partial"] is True
    assert len(first["credentialSubject"]["verifiableCredential"]) == 1
    post(api, ASSESSMENT, "as-1")
    (row,) = records(engine)
    assert row.uuid == partial_id
    complete = verified_record(web, row.uuid)
    assert "partial" not in complete
    assert complete["id"] == first["id"]
    assert complete["validFrom"] > first["validFrom"]
    assert complete["awardedDate"] == ASSESSMENT["occurred_at"]  # when the pathway completed
    assert len(complete["credentialSubject"]["verifiableCredential"]) == 2


@pytest.mark.both_databases
def test_revoking_an_inner_credential_revokes_the_records_that_carry_it(stack, engine):  # type: ignore[no-untyped-def]
    """The revoked credential's bit and its record's bit are set in the status list; the
    pathway no longer holds, so no new record is issued."""
    api, web, settings = stack
    post(api, PROJECT, "pj-1")
    assessed = post(api, ASSESSMENT, "as-1")["credential"]
    (record,) = records(engine)
    setup = issuing_factory(settings, example_catalogue)()
    with unit_of_work(engine) as session:
        done = revoke_with_records(session, setup, assessed["id"], "exam fraud")
        session.commit()
    assert done.records_revoked == (record.uuid,)
    assert done.records_issued == ()
    jwks = web.get("/issuer/jwks.json").get_json()
    status = web.get("/credentials/status/1").get_data(as_text=True)
    record_payload = verify_vc_jwt(
        web.get(f"/credentials/{record.uuid}.jwt").get_data(as_text=True), jwks
    )
    assert revoked_in(status, jwks, record_payload)
    assessed_payload = verify_vc_jwt(
        web.get(f"/credentials/{assessed['id']}.jwt").get_data(as_text=True), jwks
    )
    assert revoked_in(status, jwks, assessed_payload)
    assert [r.revoked_at is not None for r in records(engine)] == [True]


def test_notes_say_once_that_the_record_was_issued(stack, engine):  # type: ignore[no-untyped-def]
    """The record's credential_issued note goes on the order of its latest credential, once."""
    api, _, _ = stack
    post(api, PROJECT, "pj-1")
    post(api, ASSESSMENT, "as-1")
    post(api, ASSESSMENT, "as-1")
    (record,) = records(engine)
    with unit_of_work(engine) as session:
        notes = [
            row
            for row in session.exec(select(OutboxItem).where(OutboxItem.resource == "order_note"))
            if (row.payload or {}).get("event") == "credential_issued"
        ]
    about_record = [n for n in notes if record.uuid in n.payload["data"]["note"]]
    assert len(about_record) == 1
    assert about_record[0].target_id == 602
    assert "learner record" in about_record[0].payload["data"]["note"]


@pytest.mark.both_databases
def test_a_record_is_issued_again_without_a_revoked_credential_when_the_pathway_holds(  # type: ignore[no-untyped-def]
    stack, engine
):
    """With one step of two required, revoking the project credential revokes the record that
    carried both and issues a new one (a new id, a new status bit) carrying the assessment."""
    api, web, settings = stack
    project = post(api, PROJECT, "pj-1")["credential"]
    assessed = post(api, ASSESSMENT, "as-1")["credential"]
    (first,) = records(engine)
    example = example_catalogue()
    lenient = dataclasses.replace(
        example,
        pathways={
            PATHWAY: dataclasses.replace(example.pathways[PATHWAY], required=1),
        },
    )
    setup = issuing_factory(settings, lambda: lenient)()
    with unit_of_work(engine) as session:
        done = revoke_with_records(session, setup, project["id"], "plagiarism")
        session.commit()
    assert done.records_revoked == (first.uuid,)
    (fresh,) = done.records_issued
    assert fresh != first.uuid
    payload = verified_record(web, fresh)
    carried = [inner["id"] for inner in payload["credentialSubject"]["verifiableCredential"]]
    assert carried == [assessed["url"]]
    jwks = web.get("/issuer/jwks.json").get_json()
    status = web.get("/credentials/status/1").get_data(as_text=True)
    old = verify_vc_jwt(web.get(f"/credentials/{first.uuid}.jwt").get_data(as_text=True), jwks)
    assert revoked_in(status, jwks, old) and not revoked_in(status, jwks, payload)


def test_the_issuer_profile_publishes_the_multikey_of_embedded_proofs(stack):  # type: ignore[no-untyped-def]
    """Once a proof is signed, /issuer lists its Ed25519 key as a Multikey verification method
    controlled by the issuer and named in assertionMethod; the JWKS keeps only RSA keys."""
    api, web, _ = stack
    assert "verificationMethod" not in web.get("/issuer").get_json()
    post(api, PROJECT, "pj-1")
    post(api, ASSESSMENT, "as-1")
    profile = web.get("/issuer").get_json()
    (method,) = profile["verificationMethod"]
    assert method["type"] == "Multikey" and method["controller"] == f"{PUBLIC_URL}/issuer"
    assert method["id"] == f"{PUBLIC_URL}/issuer#{method['publicKeyMultibase']}"
    assert profile["assertionMethod"] == [method["id"]]
    assert "https://w3id.org/security/multikey/v1" in profile["@context"]
    assert {key["kty"] for key in web.get("/issuer/jwks.json").get_json()["keys"]} == {"RSA"}


def test_an_embedded_proof_on_the_record_itself_on_request(stack, engine):  # type: ignore[no-untyped-def]
    """Asked for, the record carries its own eddsa-rdfc-2022 proof too (the VC-JWT wraps it);
    it replaces the record by id, and the outside verifier accepts both proofs."""
    api, web, settings = stack
    post(api, PROJECT, "pj-1")
    post(api, ASSESSMENT, "as-1")
    (row,) = records(engine)
    setup = issuing_factory(settings, example_catalogue)()
    with unit_of_work(engine) as session:
        ann = session.exec(select(Learner).where(Learner.email == "ann@example.com")).one()
        result = issue_record(session, setup, ann, PATHWAY, embedded_proof=True)
        session.commit()
    assert result.replaced and result.credential.uuid == row.uuid
    payload = verified_record(web, row.uuid)
    document = web.get(f"/credentials/{row.uuid}.json").get_json()
    methods = issuer_methods(web.get("/issuer").get_json())
    assert proof_verifies(document, methods)
    assert payload["proof"] == document["proof"]
