"""Pathways and their records: progress from issued credentials, and the CLR 2.0 record.

Progress on a pathway is computed from the learner's live (unrevoked) credentials only. When a
pathway completes, the learner gets one ClrCredential (a Comprehensive Learner Record 2.0): an
RS256 VC-JWT like the Open Badges credentials (and, on request, an embedded eddsa-rdfc-2022
proof under it), carrying each credential of the pathway as an object with its own embedded
proof, the achievements and their associations, in the same status list. A partial record of a
pathway in progress is issued on request.

A learner holds at most one live record per pathway. Issuing again replaces it by id (same id,
same status bit, a newer ``validFrom``, ``awardedDate`` kept); revoking a credential it carries
revokes it, and a new record (a new id) is issued without that credential when the pathway
still holds. Use cases take a session and leave the commit to the caller.
"""

from __future__ import annotations

import base64
import json
import logging
import secrets
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from sqlmodel import Session, col, func, select

from bridge.rules.catalogue.catalog import Catalogue, Pathway
from bridge.rules.catalogue.pathways import Earned, Progress, pathway_stats, progress
from bridge.rules.credentials import (
    CONTEXTS,
    Achievement,
    RecordFacts,
    achievement_url,
    build_record,
    credential_url,
    credential_uuid,
    jwt_claims,
    pathway_achievement,
    pathway_url,
    status_list_url,
)
from bridge.rules.words import did_you_mean
from bridge.services.credentials.credentials import (
    STATUS_LIST_ID,
    CredentialRefused,
    CredentialSchemaError,
    CredentialsNotConfigured,
    Issuing,
    _free_index,
    revoke_credential,
    sign_status_list,
)
from bridge.services.credentials.data_integrity import (
    MULTIKEY_CONTEXT,
    ProofKey,
    add_proof,
    ed25519_key,
    ed25519_key_path,
)
from bridge.services.ledger import lock_learner
from bridge.services.writeback import enqueue_credential_note
from bridge.settings import Settings
from bridge.store.bulk import insert_ignore
from bridge.store.models import Access, Credential, CredentialKey, Learner, StatusList, utcnow

log = logging.getLogger(__name__)

RECORD = "record"
ACHIEVEMENT = "achievement"
CLR_SCHEMA_FILE = "data/credentials/clr_v2p0_clrcredential_schema.json"
PATHWAY_PREFIX = "pathway:"


def record_sku(code: str) -> str:
    """What a record stores as its offer_sku: the pathway, never mistaken for a SKU."""
    return f"{PATHWAY_PREFIX}{code}"


def proof_key(settings: Settings, issuer_id: str) -> ProofKey:
    """The Ed25519 key of embedded proofs (kept beside the RS256 key file, made once)."""
    path = ed25519_key_path(Path(settings.credentials.key_file))
    return ProofKey(ed25519_key(path), controller=issuer_id)


def register_proof_key(session: Session, key: ProofKey) -> None:
    """Remember the Ed25519 public key once it signs, so the issuer profile keeps listing it."""
    if session.get(CredentialKey, key.public_multibase) is None:
        raw = key.key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        x = base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")
        insert_ignore(
            session,
            CredentialKey,
            {
                "thumbprint": key.public_multibase,
                "public_jwk": {"kty": "OKP", "crv": "Ed25519", "x": x},
                "created_at": utcnow(),
            },
            ["thumbprint"],
        )


def verification_methods(session: Session, issuer_id: str) -> list[dict[str, Any]]:
    """Every Ed25519 key that signed embedded proofs, as Multikey verification methods."""
    rows = session.exec(select(CredentialKey).order_by(col(CredentialKey.created_at))).all()
    return [
        {
            "id": f"{issuer_id}#{row.thumbprint}",
            "type": "Multikey",
            "controller": issuer_id,
            "publicKeyMultibase": row.thumbprint,
        }
        for row in rows
        if (row.public_jwk or {}).get("crv") == "Ed25519"
    ]


def issuer_controller(session: Session, profile: dict[str, Any]) -> dict[str, Any]:
    """The issuer Profile with its verification methods (the controller document of proofs)."""
    methods = verification_methods(session, profile["id"])
    if not methods:
        return profile
    return {
        **profile,
        "@context": [*profile.get("@context", []), MULTIKEY_CONTEXT],
        "verificationMethod": methods,
        "assertionMethod": [method["id"] for method in methods],
    }


@cache
def _clr_validator() -> jsonschema.protocols.Validator:
    text = resources.files("bridge").joinpath(CLR_SCHEMA_FILE).read_text("utf-8")
    return jsonschema.Draft201909Validator(json.loads(text))


def record_schema_problems(document: dict[str, Any]) -> list[str]:
    """Where and why a record fails the official ClrCredential schema (empty: valid)."""
    errors = sorted(_clr_validator().iter_errors(document), key=lambda e: e.json_path)
    return [f"{error.json_path}: {error.message[:200]}" for error in errors]


def require_pathway(catalogue: Catalogue, code: str) -> Pathway:
    pathway = catalogue.pathways.get(code)
    if pathway is None:
        hint = did_you_mean(code, catalogue.pathways)
        known = ", ".join(sorted(catalogue.pathways)) or "none; add [pathways.<code>] to it"
        raise CredentialRefused(
            "pathway",
            f"no pathway {code!r} in the catalogue"
            + (f"; {hint}" if hint else f" (pathways: {known})"),
        )
    return pathway


def _awarded(row: Credential) -> datetime:
    text = (row.document or {}).get("awardedDate")
    if isinstance(text, str):
        try:
            return datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            pass
    return row.issued_at


def _live(session: Session, learner_ids: Sequence[int] | None = None) -> list[Credential]:
    statement = select(Credential).where(
        Credential.kind == ACHIEVEMENT, col(Credential.revoked_at).is_(None)
    )
    if learner_ids is not None:
        statement = statement.where(col(Credential.learner_id).in_(list(learner_ids)))
    return list(session.exec(statement.order_by(col(Credential.id))).all())


def _held(session: Session, learner_id: int) -> set[str]:
    rows = session.exec(
        select(Access.offer_sku).where(
            Access.learner_id == learner_id, col(Access.revoked_at).is_(None)
        )
    ).all()
    return set(rows)


def learner_progress(
    session: Session, catalogue: Catalogue, learner_id: int, code: str | None = None
) -> list[Progress]:
    """The learner's progress on every pathway of the catalogue (or on one)."""
    earned = [
        Earned(row.offer_sku, row.uuid, _awarded(row)) for row in _live(session, [learner_id])
    ]
    held = _held(session, learner_id)
    pathways = [require_pathway(catalogue, code)] if code else list(catalogue.pathways.values())
    return [progress(pathway, catalogue, earned, held) for pathway in pathways]


def pathway_overview(
    session: Session, catalogue: Catalogue, code: str | None = None
) -> list[dict[str, Any]]:
    """Per pathway: how many learners started, reached each step, completed, the median days
    to complete; with ``code``, also each learner's progress on it."""
    by_learner: dict[int, list[Earned]] = {}
    for row in _live(session):
        by_learner.setdefault(row.learner_id, []).append(
            Earned(row.offer_sku, row.uuid, _awarded(row))
        )
    emails = dict(
        session.exec(
            select(Learner.id, Learner.email).where(col(Learner.id).in_(list(by_learner)))
        ).all()
    )
    pathways = [require_pathway(catalogue, code)] if code else list(catalogue.pathways.values())
    overview = []
    for pathway in pathways:
        progresses = {
            learner_id: progress(pathway, catalogue, earned)
            for learner_id, earned in by_learner.items()
        }
        entry = pathway_stats(pathway, list(progresses.values()))
        if code:
            entry["learners"] = [
                {"learner": emails.get(learner_id), **p.as_dict()}
                for learner_id, p in sorted(progresses.items(), key=lambda i: emails.get(i[0], ""))
                if p.started
            ]
        overview.append(entry)
    return overview


def live_record(session: Session, learner_id: int, code: str) -> Credential | None:
    return session.exec(
        select(Credential)
        .where(
            Credential.learner_id == learner_id,
            Credential.kind == RECORD,
            Credential.offer_sku == record_sku(code),
            col(Credential.revoked_at).is_(None),
        )
        .order_by(col(Credential.id).desc())
    ).first()


def _record_source(session: Session, learner: Learner, code: str) -> str:
    """One record identity per learner (by e-mail) and pathway, and a new one after each
    revocation (a revoked bit cannot be cleared)."""
    revoked = session.exec(
        select(func.count())
        .select_from(Credential)
        .where(
            Credential.learner_id == learner.id,
            Credential.offer_sku == record_sku(code),
            col(Credential.revoked_at).is_not(None),
        )
    ).one()
    return f"record:{code}:{learner.email}:{revoked}"


@dataclass(frozen=True)
class RecordResult:
    """The record, and what this call did: ``issued`` (new), ``replaced`` or neither."""

    credential: Credential
    created: bool
    replaced: bool = False


def issue_record(
    session: Session,
    issuing: Issuing,
    learner: Learner,
    code: str,
    *,
    partial: bool = False,
    embedded_proof: bool = False,
    now: datetime | None = None,
) -> RecordResult:
    """Issue (or replace by id) the learner's record of a pathway.

    Complete pathways only, unless ``partial``: then a pathway in progress gives a record of the
    credentials earned so far. The live record is returned unchanged when it already carries
    exactly these credentials. Raises CredentialRefused without writing anything.
    """
    now = now or utcnow()
    assert learner.id is not None
    pathway = require_pathway(issuing.catalogue, code)
    lock_learner(session, learner.id)
    (state,) = learner_progress(session, issuing.catalogue, learner.id, code)
    if not state.started:
        raise CredentialRefused(
            "pathway", f"{learner.email} holds no credential of the pathway {code} yet"
        )
    if not state.completed and not partial:
        raise CredentialRefused(
            "pathway",
            f"{learner.email} has done {len(state.done)} of the {state.required} steps of "
            f"{code}; a partial record is issued on request (--partial)",
        )
    parts = list(state.credentials())
    is_partial = not state.completed
    live = live_record(session, learner.id, code)
    has_proof = live is not None and "proof" in (live.document or {})
    if (
        live is not None
        and live.parts == parts
        and _is_partial(live) == is_partial
        and (has_proof or not embedded_proof)
    ):
        return RecordResult(live, created=False)
    rows = {
        row.uuid: row
        for row in session.exec(select(Credential).where(col(Credential.uuid).in_(parts))).all()
    }
    key = proof_key(issuing.settings, issuing.issuer.id)
    register_proof_key(session, key)
    inner = [add_proof(rows[part].document or {}, key, now) for part in parts]
    achievement = pathway_achievement(pathway, issuing.catalogue, issuing.public_url)
    precedes = _achievement_order(pathway, state, issuing.public_url)
    embedded = embedded_proof or (live is not None and "proof" in (live.document or {}))
    if live is not None:
        previous = datetime.fromisoformat(
            str((live.document or {})["validFrom"]).replace("Z", "+00:00")
        )
        valid_from = max(now, previous + timedelta(seconds=1))
        facts = _facts(issuing, live.uuid, learner, live.salt, valid_from, live.status_index)
        # awardedDate stays the first award's, unless this completes a partial record.
        completed = state.completed_at if _is_partial(live) and not is_partial else None
        facts = replace(facts, awarded_at=completed or _awarded(live), partial=is_partial)
        document, token = _sign(
            session, issuing, key, achievement, inner, precedes, facts, embedded
        )
        live.document = document
        live.jwt = token
        live.parts = parts
        live.key_thumbprint = issuing.signer.key.thumbprint
        session.add(live)
        session.flush()
        if not is_partial:
            _note(session, issuing, live, pathway, rows, parts, learner)
        log.info("learner record replaced", extra={"credential": live.uuid, "pathway": code})
        return RecordResult(live, created=False, replaced=True)
    source = _record_source(session, learner, code)
    identity = credential_uuid(source)
    salt = secrets.token_hex(16)
    for _attempt in range(8):
        index = _free_index(session)
        facts = _facts(issuing, str(identity), learner, salt, now, index)
        facts = replace(facts, awarded_at=state.completed_at or now, partial=is_partial)
        document, token = _sign(
            session, issuing, key, achievement, inner, precedes, facts, embedded
        )
        order_id = _order_of(rows, parts)
        inserted = insert_ignore(
            session,
            Credential,
            {
                "uuid": str(identity),
                "source_key": source,
                "learner_id": learner.id,
                "offer_sku": record_sku(code),
                "event_key": None,
                "order_id": order_id,
                "status_index": index,
                "salt": salt,
                "document": document,
                "jwt": token,
                "key_thumbprint": issuing.signer.key.thumbprint,
                "issued_at": now,
                "revoked_at": None,
                "revocation_reason": "",
                "kind": RECORD,
                "parts": parts,
            },
            ["status_index"],
        )
        if inserted:
            break
    else:  # pragma: no cover - eight collisions in a list of 131,072 do not happen
        raise CredentialsNotConfigured("the status list has no free index left")
    row = session.exec(select(Credential).where(Credential.source_key == source)).one()
    stored = session.get(StatusList, STATUS_LIST_ID)
    if stored is None or not stored.jwt:
        sign_status_list(session, issuing.signer, now)
    if not is_partial:
        _note(session, issuing, row, pathway, rows, parts, learner)
    log.info(
        "learner record issued",
        extra={"credential": row.uuid, "pathway": code, "learner_id": learner.id},
    )
    return RecordResult(row, created=True)


def _is_partial(row: Credential) -> bool:
    return bool((row.document or {}).get("partial"))


def _facts(
    issuing: Issuing,
    identity: str,
    learner: Learner,
    salt: str,
    valid_from: datetime,
    index: int,
) -> RecordFacts:
    return RecordFacts(
        id=credential_url(issuing.public_url, uuid.UUID(identity)),
        uuid=uuid.UUID(identity),
        email=learner.email,
        salt=salt,
        valid_from=valid_from,
        awarded_at=valid_from,
        status_index=index,
        status_list_url=status_list_url(issuing.public_url, STATUS_LIST_ID),
        partial=False,
    )


def _achievement_order(pathway: Pathway, state: Progress, public_url: str) -> list[tuple[str, str]]:
    """The pathway's ``precedes`` pairs as the achievement ids of the credentials that did them."""
    done = {step.ref: step.sku for step in state.steps if step.sku}
    return [
        (achievement_url(public_url, done[before]), achievement_url(public_url, done[after]))
        for before, after in pathway.precedes
        if done.get(before) and done.get(after)
    ]


def _sign(
    session: Session,
    issuing: Issuing,
    key: ProofKey,
    achievement: Achievement,
    inner: list[dict[str, Any]],
    precedes: list[tuple[str, str]],
    facts: RecordFacts,
    embedded: bool,
) -> tuple[dict[str, Any], str]:
    """Build, check against the official schema, (embed a proof,) sign as a VC-JWT."""
    document = build_record(issuing.issuer, achievement, inner, precedes, facts)
    problems = record_schema_problems(document)
    if problems:
        raise CredentialSchemaError(
            "the record fails the ClrCredential schema, not signed: " + "; ".join(problems[:3])
        )
    if embedded:
        document = add_proof(document, key, facts.valid_from)
    token = issuing.signer.sign(session, jwt_claims(document))
    return document, token


def _order_of(rows: dict[str, Credential], parts: Sequence[str]) -> int | None:
    """The order the record's note goes on: the latest carried credential's order."""
    for part in reversed(sorted(parts, key=lambda p: _awarded(rows[p]))):
        if rows[part].order_id is not None:
            return int(rows[part].order_id)  # type: ignore[arg-type]
    return None


def _note(
    session: Session,
    issuing: Issuing,
    row: Credential,
    pathway: Pathway,
    rows: dict[str, Credential],
    parts: Sequence[str],
    learner: Learner,
) -> None:
    order_id = row.order_id or _order_of(rows, parts)
    if order_id is None:
        return
    enqueue_credential_note(
        session,
        int(order_id),
        row.uuid,
        {
            "achievement": "learner record (CLR)",
            "offer": f'the pathway "{pathway.title}"',
            "sku": pathway.code,
            "url": credential_url(issuing.public_url, uuid.UUID(row.uuid)),
        },
        issuing.settings,
        issuing.templates,
        learner_id=learner.id,
    )


def complete_pathways(
    session: Session, issuing: Issuing, learner: Learner, now: datetime | None = None
) -> list[RecordResult]:
    """After a credential is issued: the record of every pathway it completes (or changes)."""
    assert learner.id is not None
    results = []
    for state in learner_progress(session, issuing.catalogue, learner.id):
        if not state.completed:
            continue
        live = live_record(session, learner.id, state.pathway)
        if live is not None and live.parts == list(state.credentials()) and not _is_partial(live):
            continue
        results.append(issue_record(session, issuing, learner, state.pathway, now=now))
    return results


@dataclass(frozen=True)
class Revocation:
    """A revoked credential, the records revoked with it and those issued again without it."""

    credential: Credential
    changed: bool
    records_revoked: tuple[str, ...] = ()
    records_issued: tuple[str, ...] = ()


def revoke_with_records(
    session: Session, issuing: Issuing, ref: str, reason: str, now: datetime | None = None
) -> Revocation:
    """Revoke a credential; the live records carrying it are revoked too, and each pathway that
    still holds without it gets a new record."""
    now = now or utcnow()
    row, changed = revoke_credential(session, issuing.signer, ref, reason, now)
    if not changed or row.kind == RECORD:
        return Revocation(row, changed)
    carriers = session.exec(
        select(Credential).where(
            Credential.learner_id == row.learner_id,
            Credential.kind == RECORD,
            col(Credential.revoked_at).is_(None),
        )
    ).all()
    revoked, issued = [], []
    learner = session.get(Learner, row.learner_id)
    assert learner is not None
    for record in carriers:
        if row.uuid not in (record.parts or []):
            continue
        revoke_credential(
            session, issuing.signer, record.uuid, f"carried revoked credential {row.uuid}", now
        )
        revoked.append(record.uuid)
        code = record.offer_sku.removeprefix(PATHWAY_PREFIX)
        if code not in issuing.catalogue.pathways:
            continue
        (state,) = learner_progress(session, issuing.catalogue, row.learner_id, code)
        if state.completed:
            issued.append(issue_record(session, issuing, learner, code, now=now).credential.uuid)
    return Revocation(row, changed, tuple(revoked), tuple(issued))


def pathway_document(catalogue: Catalogue, public_url: str, code: str) -> dict[str, Any] | None:
    """The Achievement a pathway leads to, as published; None for an unknown pathway."""
    pathway = catalogue.pathways.get(code)
    if pathway is None:
        return None
    achievement = pathway_achievement(pathway, catalogue, public_url)
    return {"@context": list(CONTEXTS), **achievement.as_dict()}


def record_view(row: Credential) -> dict[str, Any]:
    """What a record carries, for the CLI and the pages: pathway, partial, inner credentials."""
    document = row.document or {}
    subject = document.get("credentialSubject") or {}
    return {
        "pathway": row.offer_sku.removeprefix(PATHWAY_PREFIX),
        "partial": bool(document.get("partial")),
        "valid_from": document.get("validFrom"),
        "awarded": document.get("awardedDate"),
        "credentials": [
            {"id": inner.get("id"), "name": inner.get("name")}
            for inner in subject.get("verifiableCredential") or []
        ],
        "embedded_proof": "proof" in document,
    }


def pathway_links(catalogue: Catalogue, public_url: str | None) -> dict[str, str]:
    """Pathway code -> the URL of the achievement it leads to (none without a public URL)."""
    if not public_url:
        return {}
    return {code: pathway_url(public_url, code) for code in catalogue.pathways}
