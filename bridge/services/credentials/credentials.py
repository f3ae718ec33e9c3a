"""Open Badges 3.0 credentials: issue, revoke, list, and what the public pages show.

A credential is issued once per source (an outcome event's key, or a manual award) and at most
one stays live per learner and micro-SKU. It is built by bridge.rules.credentials, validated
against the official OB 3.0 JSON Schema (bundled, so offline), signed as a VC-JWT and stored
with a random, unique index in the revocation status list; the learner gets a customer note
with its link on the order that sold the SKU. Use cases take a session and leave the commit to
the caller, so a refusal leaves nothing written.
"""

from __future__ import annotations

import json
import logging
import secrets
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet, RSAKey
from sqlmodel import Session, col, func, select

from bridge.errors import PermanentError
from bridge.rules.catalogue.catalog import Catalogue
from bridge.rules.credentials import (
    CONTEXTS,
    STATUS_LIST_SIZE,
    CredentialRuleError,
    CredentialStatus,
    Issuer,
    achievement_for,
    achievement_url,
    build_credential,
    build_status_list,
    credential_url,
    credential_uuid,
    jwt_claims,
    status_list_url,
)
from bridge.rules.credentials import Award as AwardFacts
from bridge.rules.words import did_you_mean
from bridge.rules.writeback.notes import NoteTemplates
from bridge.services.credentials.keys import (
    ALGORITHM,
    SigningKey,
    create_key_file,
    key_from_setting,
    key_id,
    read_key_file,
    replace_key_file,
    sign_jwt,
)
from bridge.services.ledger import lock_learner
from bridge.services.writeback import enqueue_credential_note, note_templates_for
from bridge.settings import Settings
from bridge.store.bulk import insert_ignore
from bridge.store.models import Access, Credential, CredentialKey, Learner, StatusList, utcnow

log = logging.getLogger(__name__)

SCHEMA_FILE = "data/credentials/ob_v3p0_achievementcredential_schema.json"
STATUS_LIST_ID = 1
KEY_SETTING = "BRIDGE_CREDENTIAL_SIGNING_KEY"


class CredentialsNotConfigured(PermanentError):
    """Credentials cannot be issued with these settings (no public URL, no usable key)."""


class CredentialRefused(PermanentError):
    """This learner cannot get a credential for this SKU; ``field`` names what is to blame."""

    def __init__(self, field: str, problem: str) -> None:
        self.field = field
        super().__init__(problem)


class CredentialNotFound(PermanentError):
    """No credential has that id."""


class CredentialSchemaError(PermanentError):
    """A credential failed the official OB 3.0 schema, so it was not signed."""


@dataclass(frozen=True)
class Signer:
    """Signs VC-JWTs with the current key; registers its public key so the JWKS lists it."""

    key: SigningKey
    public_url: str

    @property
    def kid(self) -> str:
        return key_id(self.public_url, self.key.thumbprint)

    def sign(self, session: Session, claims: dict[str, Any]) -> str:
        register_key(session, self.key)
        return sign_jwt(claims, self.key, self.kid)


@dataclass(frozen=True)
class Issuing:
    """Everything issuing needs, built from the settings and the current catalogue."""

    public_url: str
    issuer: Issuer
    signer: Signer
    catalogue: Catalogue
    settings: Settings
    templates: NoteTemplates


@dataclass(frozen=True)
class IssueResult:
    """The credential, and whether this call issued it (False: it existed already)."""

    credential: Credential
    created: bool


def require_public_url(settings: Settings) -> str:
    if not settings.web.public_url:
        raise CredentialsNotConfigured(
            "BRIDGE_PUBLIC_URL is not set; credentials name their issuer, keys and status list "
            "by it, for example BRIDGE_PUBLIC_URL=https://bridge.example.com"
        )
    return settings.web.public_url


def signing_key(settings: Settings, *, create: bool = True) -> SigningKey:
    """The signing key: the setting if given, else the key file (generated once if allowed)."""
    if settings.credentials.signing_key:
        return key_from_setting(settings.credentials.signing_key, KEY_SETTING)
    path = Path(settings.credentials.key_file)
    if create:
        key, generated = create_key_file(path)
        if generated:
            log.info("credential signing key generated", extra={"file": str(path)})
        return key
    return read_key_file(path)


def issuer_for(settings: Settings, catalogue: Catalogue | None = None) -> Issuer:
    """The issuer Profile: BRIDGE_ISSUER_NAME, else the catalogue's shop title."""
    public_url = require_public_url(settings)
    name = (
        settings.credentials.issuer_name
        or (catalogue.title if catalogue else "")
        or "creator-bridge"
    )
    url = (catalogue.url if catalogue else "") or public_url
    return Issuer(id=f"{public_url}/issuer", name=name, url=url)


def issuing_for(settings: Settings, catalogue: Catalogue, templates: NoteTemplates) -> Issuing:
    public_url = require_public_url(settings)
    return Issuing(
        public_url=public_url,
        issuer=issuer_for(settings, catalogue),
        signer=Signer(signing_key(settings), public_url),
        catalogue=catalogue,
        settings=settings,
        templates=templates,
    )


def issuing_factory(
    settings: Settings, catalogue: Callable[[], Catalogue]
) -> Callable[[], Issuing]:
    """What issuing needs, built on first use and then kept (one command, one request)."""
    built: list[Issuing] = []

    def build() -> Issuing:
        if not built:
            built.append(issuing_for(settings, catalogue(), note_templates_for(settings)))
        return built[0]

    return build


def register_key(session: Session, key: SigningKey) -> None:
    """Remember a public key that signs, once: the JWKS keeps every key ever used."""
    if session.get(CredentialKey, key.thumbprint) is None:
        insert_ignore(
            session,
            CredentialKey,
            {
                "thumbprint": key.thumbprint,
                "public_jwk": key.public_jwk(),
                "created_at": utcnow(),
            },
            ["thumbprint"],
        )


@lru_cache(maxsize=1)
def _schema_validator() -> jsonschema.protocols.Validator:
    schema = json.loads(resources.files("bridge").joinpath(SCHEMA_FILE).read_text("utf-8"))
    return jsonschema.Draft201909Validator(schema)


def schema_problems(document: dict[str, Any]) -> list[str]:
    """Where and why a document fails the official OpenBadgeCredential schema (empty: valid)."""
    problems = []
    for error in sorted(_schema_validator().iter_errors(document), key=lambda e: e.json_path):
        problems.append(f"{error.json_path}: {error.message[:200]}")
    return problems


def check_schema(document: dict[str, Any]) -> None:
    problems = schema_problems(document)
    if problems:
        raise CredentialSchemaError(
            "the credential fails the OB 3.0 schema, not signed: " + "; ".join(problems[:3])
        )


def _by_source(session: Session, source_key: str) -> Credential | None:
    return session.exec(select(Credential).where(Credential.source_key == source_key)).first()


def live_credential(session: Session, learner_id: int, sku: str) -> Credential | None:
    """The learner's unrevoked credential for a SKU, if any."""
    return session.exec(
        select(Credential)
        .where(
            Credential.learner_id == learner_id,
            Credential.offer_sku == sku,
            col(Credential.revoked_at).is_(None),
        )
        .order_by(col(Credential.id).desc())
    ).first()


def _access(session: Session, learner_id: int, sku: str) -> Access | None:
    """The learner's latest unrevoked access to the SKU (a bundle grants its parts' access)."""
    return session.exec(
        select(Access)
        .where(
            Access.learner_id == learner_id,
            Access.offer_sku == sku,
            col(Access.revoked_at).is_(None),
        )
        .order_by(col(Access.id).desc())
    ).first()


def check_offer(catalogue: Catalogue, sku: str, public_url: str, kind: str | None = None) -> None:
    """Refuse early what can never issue: an unknown SKU, another kind, no competency."""
    offer = catalogue.offers.get(sku)
    if offer is None:
        hint = did_you_mean(sku, catalogue.offers)
        raise CredentialRefused(
            "sku", f"no micro-SKU {sku!r} is in the catalogue" + (f"; {hint}" if hint else "")
        )
    if kind is not None and offer.kind != kind:
        raise CredentialRefused(
            "sku", f"{sku} is a {offer.kind.replace('_', ' ')} offer, not a {kind}"
        )
    try:
        achievement_for(offer, catalogue, public_url)
    except CredentialRuleError as exc:
        raise CredentialRefused("sku", str(exc)) from None


def issue_credential(
    session: Session,
    issuing: Issuing,
    learner: Learner,
    sku: str,
    *,
    source_key: str,
    event_key: str | None = None,
    evidence: Sequence[str] = (),
    awarded_at: datetime | None = None,
    now: datetime | None = None,
) -> IssueResult:
    """Issue the learner's credential for a SKU, or return the one this source (or a live one
    for the same SKU) already issued. Raises CredentialRefused without writing anything.
    """
    now = now or utcnow()
    assert learner.id is not None
    existing = _by_source(session, source_key)
    if existing is not None:
        return IssueResult(existing, created=False)
    check_offer(issuing.catalogue, sku, issuing.public_url)
    offer = issuing.catalogue.offers[sku]
    lock_learner(session, learner.id)
    live = live_credential(session, learner.id, sku)
    if live is not None:
        return IssueResult(live, created=False)
    access = _access(session, learner.id, sku)
    if access is None:
        raise CredentialRefused(
            "learner",
            f"{learner.email} holds no access to {sku}: only a "
            "learner who bought it can earn its credential",
        )
    identity = credential_uuid(source_key)
    salt = secrets.token_hex(16)
    achievement = achievement_for(offer, issuing.catalogue, issuing.public_url)
    for _attempt in range(8):
        index = _free_index(session)
        facts = AwardFacts(
            id=credential_url(issuing.public_url, identity),
            uuid=identity,
            email=learner.email,
            salt=salt,
            valid_from=now,
            awarded_at=awarded_at or now,
            status_index=index,
            status_list_url=status_list_url(issuing.public_url, STATUS_LIST_ID),
            evidence=tuple(evidence),
        )
        document = build_credential(issuing.issuer, achievement, facts)
        check_schema(document)
        token = issuing.signer.sign(session, jwt_claims(document))
        inserted = insert_ignore(
            session,
            Credential,
            {
                "uuid": str(identity),
                "source_key": source_key,
                "learner_id": learner.id,
                "offer_sku": sku,
                "event_key": event_key,
                "order_id": access.order_id,
                "status_index": index,
                "salt": salt,
                "document": document,
                "jwt": token,
                "key_thumbprint": issuing.signer.key.thumbprint,
                "issued_at": now,
                "revoked_at": None,
                "revocation_reason": "",
            },
            ["status_index"],
        )
        if inserted:
            break
    else:  # pragma: no cover - eight collisions in a list of 131,072 do not happen
        raise CredentialsNotConfigured("the status list has no free index left")
    row = _by_source(session, source_key)
    assert row is not None
    stored = session.get(StatusList, STATUS_LIST_ID)
    if stored is None or not stored.jwt:
        sign_status_list(session, issuing.signer, now)
    if access.order_id is not None:
        enqueue_credential_note(
            session,
            int(access.order_id),
            row.uuid,
            {
                "achievement": achievement.name,
                "offer": offer.title or sku,
                "sku": sku,
                "url": credential_url(issuing.public_url, identity),
            },
            issuing.settings,
            issuing.templates,
            learner_id=learner.id,
        )
    log.info(
        "credential issued", extra={"credential": row.uuid, "sku": sku, "learner_id": learner.id}
    )
    return IssueResult(row, created=True)


def manual_source_key(session: Session, learner: Learner, sku: str) -> str:
    """The source of a manual award: one per learner (by e-mail, a stable fact, not a row id)
    and SKU, and one more after each revocation."""
    revoked = session.exec(
        select(func.count())
        .select_from(Credential)
        .where(
            Credential.learner_id == learner.id,
            Credential.offer_sku == sku,
            col(Credential.revoked_at).is_not(None),
        )
    ).one()
    return f"manual:{sku}:{learner.email}:{revoked}"


def _free_index(session: Session) -> int:
    """A random index no credential holds yet (the list is sparse, so this ends at once)."""
    while True:
        index = secrets.randbelow(STATUS_LIST_SIZE)
        taken = session.exec(select(Credential.id).where(Credential.status_index == index)).first()
        if taken is None:
            return index


def sign_status_list(session: Session, signer: Signer, now: datetime | None = None) -> StatusList:
    """Build and sign the revocation list from the revoked credentials, and store it."""
    now = now or utcnow()
    # The row first, then its lock: two first credentials at once must not both create it,
    # and two revocations at once re-sign one after the other, each seeing the other's bit.
    insert_ignore(
        session,
        StatusList,
        {
            "id": STATUS_LIST_ID,
            "size": STATUS_LIST_SIZE,
            "encoded": "",
            "jwt": "",
            "revoked": 0,
            "updated_at": now,
        },
        ["id"],
    )
    row = session.exec(
        select(StatusList)
        .where(StatusList.id == STATUS_LIST_ID)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).one()
    revoked = sorted(
        session.exec(
            select(Credential.status_index).where(col(Credential.revoked_at).is_not(None))
        ).all()
    )
    url = status_list_url(signer.public_url, STATUS_LIST_ID)
    document = build_status_list(url, f"{signer.public_url}/issuer", revoked, now)
    token = signer.sign(session, jwt_claims(document))
    row.encoded = document["credentialSubject"]["encodedList"]
    row.jwt = token
    row.revoked = len(revoked)
    row.updated_at = now
    session.flush()
    return row


def parse_credential_id(ref: str) -> uuid.UUID | None:
    """A credential's UUID from its id, its URL or ``urn:uuid:``; None when it is no UUID."""
    text = ref.strip().rstrip("/").rsplit("/", 1)[-1].removeprefix("urn:uuid:")
    for suffix in (".jwt", ".json"):
        text = text.removesuffix(suffix)
    try:
        value = uuid.UUID(text)
    except ValueError:
        return None
    return value if str(value) == text.lower() else None


def find_credential(session: Session, ref: str) -> Credential | None:
    identity = parse_credential_id(ref)
    if identity is None:
        return None
    return session.exec(select(Credential).where(Credential.uuid == str(identity))).first()


def revoke_credential(
    session: Session, signer: Signer, ref: str, reason: str, now: datetime | None = None
) -> tuple[Credential, bool]:
    """Revoke a credential and re-sign the status list; True when this call revoked it."""
    reason = " ".join(reason.split())
    if not reason:
        raise CredentialRefused("reason", "a revocation needs a reason")
    row = find_credential(session, ref)
    if row is None:
        raise CredentialNotFound(f"no credential {ref!r}; `bridge credentials list` shows them")
    if row.revoked_at is not None:
        return row, False
    row.revoked_at = now or utcnow()
    row.revocation_reason = reason[:500]
    session.add(row)
    session.flush()
    sign_status_list(session, signer, row.revoked_at)
    log.info("credential revoked", extra={"credential": row.uuid})
    return row, True


def rotate_key(session: Session, settings: Settings, now: datetime | None = None) -> SigningKey:
    """Replace the key file with a fresh key; the old public key stays in the JWKS."""
    if settings.credentials.signing_key:
        raise CredentialsNotConfigured(
            f"the signing key comes from {KEY_SETTING}: put a new key there to rotate it "
            "(the old public key stays in the JWKS once it has signed)"
        )
    public_url = require_public_url(settings)
    path = Path(settings.credentials.key_file)
    old = signing_key(settings)
    register_key(session, old)
    retired = session.get(CredentialKey, old.thumbprint)
    if retired is not None and retired.retired_at is None:
        retired.retired_at = now or utcnow()
    session.flush()
    fresh = replace_key_file(path)
    register_key(session, fresh)
    # The status list is re-signed with the new key so it verifies with the current one.
    if session.get(StatusList, STATUS_LIST_ID) is not None:
        sign_status_list(session, Signer(fresh, public_url), now)
    return fresh


def jwks(session: Session, public_url: str) -> dict[str, Any]:
    """Every public key the issuer has signed with, newest first, each with its kid."""
    rows = session.exec(select(CredentialKey).order_by(col(CredentialKey.created_at).desc())).all()
    return {
        "keys": [
            {**(row.public_jwk or {}), "kid": key_id(public_url, row.thumbprint)}
            for row in rows
            # Ed25519 keys sign embedded proofs; the issuer profile lists them as Multikeys.
            if (row.public_jwk or {}).get("kty") == "RSA"
        ]
    }


def public_key(session: Session, public_url: str, thumbprint: str) -> dict[str, Any] | None:
    row = session.get(CredentialKey, thumbprint) if len(thumbprint) <= 64 else None
    if row is None:
        return None
    return {**(row.public_jwk or {}), "kid": key_id(public_url, row.thumbprint)}


def verify_token(session: Session, token: str, public_url: str) -> dict[str, Any] | None:
    """The claims of a VC-JWT signed by one of the issuer's keys; None if it does not verify."""
    try:
        keys = KeySet([RSAKey.import_key(key) for key in jwks(session, public_url)["keys"]])
        claims = jwt.decode(token, keys, algorithms=[ALGORITHM]).claims
    except (JoseError, ValueError, TypeError):
        return None
    return dict(claims)


def status_list(session: Session, signer_for: Callable[[], Signer]) -> StatusList:
    """The stored status list, signed now (the caller commits) if none was issued yet."""
    row = session.get(StatusList, STATUS_LIST_ID)
    if row is None or not row.jwt:
        row = sign_status_list(session, signer_for())
    return row


def credential_view(row: Credential, learner_email: str | None, public_url: str) -> dict[str, Any]:
    """A credential as `bridge credentials list` shows it."""
    return {
        "id": row.uuid,
        "url": credential_url(public_url, uuid.UUID(row.uuid)),
        "learner": learner_email,
        "sku": row.offer_sku,
        "issued_at": row.issued_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "status": CredentialStatus.REVOKED if row.revoked_at else CredentialStatus.ACTIVE,
        "revoked_at": row.revoked_at.strftime("%Y-%m-%dT%H:%M:%SZ") if row.revoked_at else None,
        "reason": row.revocation_reason or None,
        "status_index": row.status_index,
        "order_id": row.order_id,
        "event_key": row.event_key,
        "kind": row.kind,
    }


def list_credentials(
    session: Session, public_url: str, *, sku: str | None = None, learner_id: int | None = None
) -> list[dict[str, Any]]:
    statement = select(Credential, Learner.email).join(
        Learner, col(Learner.id) == col(Credential.learner_id)
    )
    if sku:
        statement = statement.where(Credential.offer_sku == sku)
    if learner_id is not None:
        statement = statement.where(Credential.learner_id == learner_id)
    rows = session.exec(statement.order_by(col(Credential.id))).all()
    return [credential_view(row, email, public_url) for row, email in rows]


def achievement_document(catalogue: Catalogue, public_url: str, sku: str) -> dict[str, Any] | None:
    """The Achievement published for a SKU, or None when the SKU issues no credential."""
    offer = catalogue.offers.get(sku)
    if offer is None:
        return None
    try:
        achievement = achievement_for(offer, catalogue, public_url)
    except CredentialRuleError:
        return None
    return {"@context": list(CONTEXTS), **achievement.as_dict()}


def achievement_links(catalogue: Catalogue, public_url: str | None) -> dict[str, str]:
    """SKU -> its achievement URL, for every SKU that issues credentials."""
    if not public_url:
        return {}
    links = {}
    for sku, offer in catalogue.offers.items():
        try:
            achievement_for(offer, catalogue, public_url)
        except CredentialRuleError:
            continue
        links[sku] = achievement_url(public_url, sku)
    return links
