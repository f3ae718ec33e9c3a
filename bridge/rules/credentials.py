"""Open Badges 3.0 credentials (pure): the JSON structure, the recipient hash, the status list.

Plain data in, plain data out. Signing, keys, schema validation and storage live in
bridge.services; this module only says what a credential is.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from bridge.errors import PermanentError
from bridge.rules.catalogue.catalog import Catalogue, Competency, Offer, Pathway
from bridge.rules.catalogue.pathways import default_criteria, pathway_aligned_tags, step_title

VC_CONTEXT = "https://www.w3.org/ns/credentials/v2"
OB_CONTEXT = "https://purl.imsglobal.org/spec/ob/v3p0/context-3.0.3.json"
# Defines 1EdTechJsonSchemaValidator2019; without it JSON-LD processors drop or refuse that term.
OB_EXTENSIONS_CONTEXT = "https://purl.imsglobal.org/spec/ob/v3p0/extensions.json"
CONTEXTS = (VC_CONTEXT, OB_CONTEXT, OB_EXTENSIONS_CONTEXT)
SCHEMA_URL = (
    "https://purl.imsglobal.org/spec/ob/v3p0/schema/json/ob_v3p0_achievementcredential_schema.json"
)
SCHEMA_TYPE = "1EdTechJsonSchemaValidator2019"
# The W3C minimum: 16 KiB of bits, so one set bit says little about which credential it is.
STATUS_LIST_SIZE = 131_072
# Event kinds that issue a credential, and the offer kind each one is about.
CREDENTIAL_EVENTS = {"assessment_passed": "assessment", "project_accepted": "project"}
ACHIEVEMENT_TYPES = {
    "assessment": "Assessment",
    "project": "Assignment",
    "pathway": "LearningProgram",
}
# Fixed namespace of credential identities (uuid5), so the same facts give the same id anywhere.
CREDENTIAL_NAMESPACE = uuid.UUID("7d3b1f8e-2c51-5a0e-9f7c-6b1e0c2d4a91")


class CredentialStatus(StrEnum):
    """What the API and the CLI say of an issued credential: revoked once ``revoked_at`` is set
    (no column holds it)."""

    ACTIVE = "active"
    REVOKED = "revoked"


class CredentialRuleError(PermanentError):
    """A credential cannot be built from what was given."""


def normalise_email(email: str) -> str:
    """The form of an e-mail the recipient hash is computed over: trimmed, lower-case."""
    return email.strip().lower()


def identity_hash(email: str, salt: str) -> str:
    """OB 3.0 IdentityHash of an e-mail: ``sha256$`` + hex SHA-256 of UTF-8 (email + salt)."""
    digest = hashlib.sha256((normalise_email(email) + salt).encode("utf-8")).hexdigest()
    return f"sha256${digest}"


def credential_uuid(source: str) -> uuid.UUID:
    """The identity of the credential that a source (an event key, a manual award) issues."""
    return uuid.uuid5(CREDENTIAL_NAMESPACE, source)


def subject_id(credential: uuid.UUID) -> str:
    """A pseudonymous subject id, one per credential, so two credentials are not linkable."""
    return "urn:uuid:" + str(uuid.uuid5(CREDENTIAL_NAMESPACE, f"subject:{credential}"))


def timestamp(moment: datetime) -> str:
    """A UTC XML Schema dateTime without fractions, as wallets and verifiers expect."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class Issuer:
    """The issuer Profile: the creator, at ``${BRIDGE_PUBLIC_URL}/issuer``."""

    id: str
    name: str
    url: str | None = None

    def profile(self) -> dict[str, Any]:
        profile: dict[str, Any] = {"id": self.id, "type": ["Profile"], "name": self.name}
        if self.url:
            profile["url"] = self.url
        return profile


@dataclass(frozen=True)
class Alignment:
    """A competency the achievement evidences, as the competency catalogue names it."""

    name: str
    url: str
    description: str = ""
    framework: str = ""
    code: str = ""
    target_type: str = ""  # OB 3.0 AlignmentTargetType, for a public framework's entry

    def as_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "type": ["Alignment"],
            "targetName": self.name,
            "targetUrl": self.url,
        }
        if self.description:
            data["targetDescription"] = self.description
        if self.framework:
            data["targetFramework"] = self.framework
        if self.code:
            data["targetCode"] = self.code
        if self.target_type:
            data["targetType"] = self.target_type
        return data


def framework_alignments(competency: Competency | None) -> list[Alignment]:
    """A competency's alignments to public frameworks (ESCO, O*NET-SOC, ...) as OB entries."""
    if competency is None:
        return []
    return [
        Alignment(
            name=a.name,
            url=a.url,
            description=a.description,
            framework=a.framework,
            code=a.code,
            target_type=a.target_type,
        )
        for a in competency.alignments
    ]


@dataclass(frozen=True)
class Achievement:
    """What one micro-SKU certifies, at ``${BRIDGE_PUBLIC_URL}/achievements/<sku>``."""

    id: str
    sku: str
    kind: str  # assessment or project
    name: str
    description: str
    criteria: str
    alignments: tuple[Alignment, ...] = ()
    tags: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "id": self.id,
            "type": ["Achievement"],
            "achievementType": ACHIEVEMENT_TYPES.get(self.kind, "Achievement"),
            "name": self.name,
            "description": self.description,
            "criteria": {"narrative": self.criteria},
            "humanCode": self.sku,
        }
        if self.alignments:
            data["alignment"] = [alignment.as_dict() for alignment in self.alignments]
        if self.tags:
            data["tag"] = list(self.tags)
        return data


@dataclass(frozen=True)
class Award:
    """One learner's credential: who, what, when, and where its status bit is."""

    id: str  # the credential's URL
    uuid: uuid.UUID
    email: str
    salt: str
    valid_from: datetime
    awarded_at: datetime
    status_index: int
    status_list_url: str
    evidence: tuple[str, ...] = field(default_factory=tuple)


def build_credential(issuer: Issuer, achievement: Achievement, award: Award) -> dict[str, Any]:
    """The OpenBadgeCredential (VC 2.0 data model), unsigned."""
    if not 0 <= award.status_index < STATUS_LIST_SIZE:
        raise CredentialRuleError(f"status index {award.status_index} is outside the list")
    subject: dict[str, Any] = {
        "id": subject_id(award.uuid),
        "type": ["AchievementSubject"],
        "identifier": [
            {
                "type": "IdentityObject",
                "identityType": "emailAddress",
                "hashed": True,
                "identityHash": identity_hash(award.email, award.salt),
                "salt": award.salt,
            }
        ],
        "achievement": achievement.as_dict(),
    }
    credential: dict[str, Any] = {
        "@context": list(CONTEXTS),
        "id": award.id,
        "type": ["VerifiableCredential", "OpenBadgeCredential"],
        "name": achievement.name,
        "issuer": issuer.profile(),
        "validFrom": timestamp(award.valid_from),
        "awardedDate": timestamp(award.awarded_at),
        "credentialSubject": subject,
        "credentialSchema": [{"id": SCHEMA_URL, "type": SCHEMA_TYPE}],
        "credentialStatus": {
            "id": f"{award.status_list_url}#{award.status_index}",
            "type": "BitstringStatusListEntry",
            "statusPurpose": "revocation",
            "statusListIndex": str(award.status_index),
            "statusListCredential": award.status_list_url,
        },
    }
    if award.evidence:
        credential["evidence"] = [
            {"id": url, "type": ["Evidence"], "name": "Evidence"} for url in award.evidence
        ]
    return credential


def jwt_claims(credential: Mapping[str, Any]) -> dict[str, Any]:
    """The VC-JWT payload: the credential itself, with iss, jti, nbf (and sub) added on top."""
    issuer = credential["issuer"]
    claims = dict(credential)
    claims["iss"] = issuer["id"] if isinstance(issuer, Mapping) else issuer
    claims["jti"] = credential["id"]
    claims["nbf"] = int(_parse_timestamp(credential["validFrom"]).timestamp())
    subject = credential.get("credentialSubject")
    if isinstance(subject, Mapping) and subject.get("id"):
        claims["sub"] = subject["id"]
    if credential.get("validUntil"):
        claims["exp"] = int(_parse_timestamp(credential["validUntil"]).timestamp())
    return claims


def _parse_timestamp(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def encode_status_list(set_bits: Iterable[int], size: int = STATUS_LIST_SIZE) -> str:
    """The Bitstring Status List ``encodedList``: multibase ``u`` + base64url(gzip(bits)).

    Bit 0 is the most significant bit of the first byte. gzip's timestamp is zero, so the same
    bits always encode to the same text.
    """
    if size % 8 or size < STATUS_LIST_SIZE:
        raise CredentialRuleError(
            f"a status list holds at least {STATUS_LIST_SIZE} bits, a multiple of 8"
        )
    bits = bytearray(size // 8)
    for index in set_bits:
        if not 0 <= index < size:
            raise CredentialRuleError(f"status index {index} is outside the list")
        bits[index // 8] |= 0x80 >> (index % 8)
    packed = gzip.compress(bytes(bits), mtime=0)
    return "u" + base64.urlsafe_b64encode(packed).decode("ascii").rstrip("=")


def decode_status_list(encoded: str) -> bytes:
    """The bits of an ``encodedList`` (the inverse of encode_status_list)."""
    if not encoded.startswith("u"):
        raise CredentialRuleError("encodedList must be multibase base64url (starting with u)")
    body = encoded[1:]
    try:
        return gzip.decompress(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    except (ValueError, OSError, EOFError) as exc:
        raise CredentialRuleError(f"encodedList is not gzip in base64url: {exc}") from None


def status_bit(bits: bytes, index: int) -> bool:
    """Whether bit ``index`` (MSB first) is set."""
    if not 0 <= index < len(bits) * 8:
        raise CredentialRuleError(f"status index {index} is outside the list")
    return bool(bits[index // 8] & (0x80 >> (index % 8)))


def build_status_list(
    list_url: str, issuer: str, revoked: Sequence[int], valid_from: datetime
) -> dict[str, Any]:
    """The BitstringStatusListCredential for revocation, unsigned."""
    return {
        "@context": [VC_CONTEXT],
        "id": list_url,
        "type": ["VerifiableCredential", "BitstringStatusListCredential"],
        "issuer": issuer,
        "validFrom": timestamp(valid_from),
        "credentialSubject": {
            "id": f"{list_url}#list",
            "type": "BitstringStatusList",
            "statusPurpose": "revocation",
            "encodedList": encode_status_list(revoked),
        },
    }


def achievement_url(public_url: str, sku: str) -> str:
    """Where the Achievement of a micro-SKU is published."""
    return f"{public_url}/achievements/{path_segment(sku)}"


def credential_url(public_url: str, credential: uuid.UUID) -> str:
    """The credential's id: the page that shows it, and serves it as VC-JWT or JSON."""
    return f"{public_url}/credentials/{credential}"


def status_list_url(public_url: str, number: int = 1) -> str:
    return f"{public_url}/credentials/status/{number}"


_UNRESERVED = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")


def path_segment(text: str) -> str:
    """Percent-encode a micro-SKU for one URL path segment (RFC 3986 unreserved kept)."""
    return "".join(
        chr(byte) if byte in _UNRESERVED else f"%{byte:02X}" for byte in text.encode("utf-8")
    )


def achievement_for(offer: Offer, catalogue: Catalogue, public_url: str) -> Achievement:
    """The Achievement one assessment or project micro-SKU certifies, worded from the catalogue.

    Raises CredentialRuleError when the offer is of another kind or names no competency.
    """
    if offer.kind not in ACHIEVEMENT_TYPES:
        raise CredentialRuleError(
            f"{offer.sku} is a {offer.kind.replace('_', ' ')} offer; "
            "credentials are for assessments and projects"
        )
    if not offer.competencies:
        raise CredentialRuleError(
            f"{offer.sku} names no competency; add competencies to its "
            "catalogue entry to issue credentials for it"
        )
    url = achievement_url(public_url, offer.sku)
    title = offer.title or offer.sku
    alignments = []
    for tag in offer.competencies:
        known = catalogue.competencies.get(tag)
        alignments.append(
            Alignment(
                name=known.title if known and known.title else tag,
                url=(known.url if known and known.url else f"{url}#{tag}"),
                description=known.description if known else "",
                framework=catalogue.title,
                code=tag,
            )
        )
        alignments.extend(framework_alignments(known))
    competencies = "; ".join(
        f"{a.name} ({a.description.rstrip('.')})" if a.description else a.name for a in alignments
    )
    if offer.kind == "assessment":
        done = f'passing the assessment "{title}" ({offer.sku})'
        criteria = (
            f'Pass the assessment "{title}" ({offer.sku}), marked by the creator or a mentor.'
        )
    else:
        weeks = f" within its {offer.access_weeks}-week window" if offer.access_weeks else ""
        done = f'completing the project "{title}" ({offer.sku}) and having it accepted'
        criteria = (
            f'Complete the project "{title}" ({offer.sku}){weeks} and have it accepted '
            "by the creator or a mentor."
        )
    description = f"Awarded for {done}. Competencies: {competencies}."
    return Achievement(
        id=url,
        sku=offer.sku,
        kind=offer.kind,
        name=offer.badge or title,
        description=description,
        criteria=criteria,
        alignments=tuple(alignments),
        tags=offer.competencies,
    )


# Comprehensive Learner Record 2.0: the record of a pathway, carrying its credentials.
CLR_CONTEXT = "https://purl.imsglobal.org/spec/clr/v2p0/context-2.0.1.json"
CLR_CONTEXTS = (VC_CONTEXT, CLR_CONTEXT, OB_CONTEXT, OB_EXTENSIONS_CONTEXT)
CLR_SCHEMA_URL = (
    "https://purl.imsglobal.org/spec/clr/v2p0/schema/json/clr_v2p0_clrcredential_schema.json"
)


def pathway_url(public_url: str, code: str) -> str:
    """Where the achievement a pathway leads to is published."""
    return f"{public_url}/pathways/{path_segment(code)}"


def pathway_achievement(pathway: Pathway, catalogue: Catalogue, public_url: str) -> Achievement:
    """The Achievement a pathway leads to: its title, criteria and the competencies it aligns to."""
    url = pathway_url(public_url, pathway.code)
    alignments = []
    for tag in pathway_aligned_tags(pathway, catalogue):
        known = catalogue.competencies.get(tag)
        alignments.append(
            Alignment(
                name=known.title if known and known.title else tag,
                url=(known.url if known and known.url else f"{url}#{tag}"),
                description=known.description if known else "",
                framework=catalogue.title,
                code=tag,
            )
        )
        alignments.extend(framework_alignments(known))
    steps = "; ".join(step_title(step, catalogue) for step in pathway.steps)
    description = pathway.description or f"The skill stack {pathway.title}: {steps}."
    return Achievement(
        id=url,
        sku=pathway.code,
        kind="pathway",
        name=pathway.title,
        description=description,
        criteria=pathway.criteria or default_criteria(pathway, catalogue),
        alignments=tuple(alignments),
        tags=tuple(pathway_aligned_tags(pathway, catalogue)),
    )


@dataclass(frozen=True)
class RecordFacts:
    """One learner's record of a pathway: who, when, its status bit, whether it is partial."""

    id: str  # the record's URL
    uuid: uuid.UUID
    email: str
    salt: str
    valid_from: datetime
    awarded_at: datetime
    status_index: int
    status_list_url: str
    partial: bool


def build_record(
    issuer: Issuer,
    pathway: Achievement,
    credentials: Sequence[Mapping[str, Any]],
    precedes: Sequence[tuple[str, str]],
    facts: RecordFacts,
) -> dict[str, Any]:
    """The ClrCredential (CLR 2.0, VC 2.0 data model), unsigned.

    ``credentials`` are the AchievementCredentials the record carries, each with its own
    embedded proof; the achievement list is the pathway's and theirs, the pathway ``isParentOf``
    each of them, and ``precedes`` pairs (achievement ids) keep the pathway's order.
    """
    if not credentials:
        raise CredentialRuleError("a record carries at least one credential")
    if not 0 <= facts.status_index < STATUS_LIST_SIZE:
        raise CredentialRuleError(f"status index {facts.status_index} is outside the list")
    achievements: dict[str, dict[str, Any]] = {pathway.id: pathway.as_dict()}
    for credential in credentials:
        achievement = credential["credentialSubject"]["achievement"]
        achievements.setdefault(achievement["id"], dict(achievement))
    associations = [
        {
            "type": "Association",
            "associationType": "isParentOf",
            "sourceId": pathway.id,
            "targetId": target,
        }
        for target in achievements
        if target != pathway.id
    ]
    associations += [
        {"type": "Association", "associationType": "precedes", "sourceId": a, "targetId": b}
        for a, b in precedes
        if a in achievements and b in achievements
    ]
    subject: dict[str, Any] = {
        "id": subject_id(facts.uuid),
        "type": ["ClrSubject"],
        "identifier": [
            {
                "type": "IdentityObject",
                "identityType": "emailAddress",
                "hashed": True,
                "identityHash": identity_hash(facts.email, facts.salt),
                "salt": facts.salt,
            }
        ],
        "verifiableCredential": [dict(credential) for credential in credentials],
        "achievement": list(achievements.values()),
        "association": associations,
    }
    record: dict[str, Any] = {
        "@context": list(CLR_CONTEXTS),
        "id": facts.id,
        "type": ["VerifiableCredential", "ClrCredential"],
        "name": f"{pathway.name}: learner record",
        "description": (
            f"Partial record of the pathway {pathway.name}: the credentials earned so far."
            if facts.partial
            else f"Record of the completed pathway {pathway.name} and the credentials it holds."
        ),
        "issuer": issuer.profile(),
        "validFrom": timestamp(facts.valid_from),
        "awardedDate": timestamp(facts.awarded_at),
        "credentialSubject": subject,
        "credentialSchema": [{"id": CLR_SCHEMA_URL, "type": SCHEMA_TYPE}],
        "credentialStatus": {
            "id": f"{facts.status_list_url}#{facts.status_index}",
            "type": "BitstringStatusListEntry",
            "statusPurpose": "revocation",
            "statusListIndex": str(facts.status_index),
            "statusListCredential": facts.status_list_url,
        },
    }
    if facts.partial:
        record["partial"] = True
    return record
