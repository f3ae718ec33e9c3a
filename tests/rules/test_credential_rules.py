"""The pure credential rules: the recipient hash, identities, the status-list bitstring, the
credential's structure against the official schema, and what the catalogue says."""

from __future__ import annotations

import base64
import gzip
import uuid
from datetime import UTC, datetime

import pytest

from bridge.rules.catalogue.catalog import Offer
from bridge.rules.credentials import (
    STATUS_LIST_SIZE,
    Award,
    CredentialRuleError,
    Issuer,
    achievement_for,
    build_credential,
    build_status_list,
    credential_uuid,
    decode_status_list,
    encode_status_list,
    identity_hash,
    jwt_claims,
    path_segment,
    status_bit,
)
from tests.support.credentials import PUBLIC_URL, example_catalogue, schema_errors

ISSUER = Issuer(f"{PUBLIC_URL}/issuer", "Dana Datawright", "https://shop.example.com")
NOW = datetime(2026, 12, 2, 9, 30, tzinfo=UTC)


def award(**changes):  # type: ignore[no-untyped-def]
    identity = credential_uuid("event:lms-1")
    values = dict(
        id=f"{PUBLIC_URL}/credentials/{identity}",
        uuid=identity,
        email="Ann@Example.com",
        salt="c0ffee",
        valid_from=NOW,
        awarded_at=NOW,
        status_index=42,
        status_list_url=f"{PUBLIC_URL}/credentials/status/1",
    )
    values.update(changes)
    return Award(**values)


def credential(**changes):  # type: ignore[no-untyped-def]
    catalogue = example_catalogue()
    achievement = achievement_for(catalogue.offers["ASSESS-DV"], catalogue, PUBLIC_URL)
    return build_credential(ISSUER, achievement, award(**changes))


def test_the_recipient_hash_is_the_specs_own_example():
    """sha256 over e-mail + salt, as OB 3.0's IdentityHash example ('a@example.com', 'Kosher')."""
    assert identity_hash("a@example.com", "Kosher") == (
        "sha256$b5809d8a92f8858436d7e6b87c12ebc0ae1eac4baecc2c0b913aee2c922ef399"
    )
    assert identity_hash(" A@Example.COM ", "Kosher") == identity_hash("a@example.com", "Kosher")


def test_a_credential_passes_the_official_schema_and_never_carries_the_email():
    """Arrays where the raw schema wants them; the e-mail only as a salted hash."""
    document = credential(evidence=("https://github.com/ann/dataviz",))
    assert schema_errors(document) == []
    assert "ann@example.com" not in str(document).lower()
    identifier = document["credentialSubject"]["identifier"][0]
    assert identifier == {
        "type": "IdentityObject",
        "identityType": "emailAddress",
        "hashed": True,
        "identityHash": identity_hash("ann@example.com", "c0ffee"),
        "salt": "c0ffee",
    }
    assert document["credentialSchema"] == [
        {
            "id": "https://purl.imsglobal.org/spec/ob/v3p0/schema/json/"
            "ob_v3p0_achievementcredential_schema.json",
            "type": "1EdTechJsonSchemaValidator2019",
        }
    ]
    assert document["@context"][2] == "https://purl.imsglobal.org/spec/ob/v3p0/extensions.json"


def test_the_jwt_claims_are_the_credential_plus_iss_jti_nbf_and_sub():
    """No ``vc`` wrapper: the VC 2.0 form, with the registered claims on top."""
    document = credential()
    claims = jwt_claims(document)
    assert claims["iss"] == ISSUER.id
    assert claims["jti"] == document["id"]
    assert claims["nbf"] == int(NOW.timestamp())
    assert claims["sub"] == document["credentialSubject"]["id"]
    assert "vc" not in claims and "exp" not in claims


def test_identities_are_uuid5_of_the_source_and_subjects_are_unlinkable():
    """The same source gives the same id; two credentials of one learner share no subject id."""
    assert credential_uuid("event:a") == credential_uuid("event:a")
    assert credential_uuid("event:a") != credential_uuid("event:b")
    assert credential_uuid("event:a").version == 5
    one = credential()["credentialSubject"]["id"]
    other_id = credential_uuid("event:lms-2")
    two = credential(uuid=other_id, id=str(other_id))["credentialSubject"]["id"]
    assert one != two and one.startswith("urn:uuid:")


def test_the_status_list_is_131072_bits_gzipped_msb_first():
    """Bit 0 is the high bit of byte 0; an empty list is about 70 characters and stable."""
    encoded = encode_status_list([0, 42, STATUS_LIST_SIZE - 1])
    assert encoded.startswith("u")
    body = encoded[1:]
    raw = gzip.decompress(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    assert len(raw) == STATUS_LIST_SIZE // 8
    assert raw[0] == 0x80 and raw[5] == 0x20 and raw[-1] == 0x01
    bits = decode_status_list(encoded)
    assert [status_bit(bits, i) for i in (0, 1, 41, 42, 43, STATUS_LIST_SIZE - 1)] == [
        True,
        False,
        False,
        True,
        False,
        True,
    ]
    assert len(encode_status_list([])) < 100
    assert encode_status_list([]) == encode_status_list([])
    with pytest.raises(CredentialRuleError):
        encode_status_list([STATUS_LIST_SIZE])
    with pytest.raises(CredentialRuleError):
        decode_status_list("zNotBase64url")


def test_the_status_list_credential_is_a_revocation_bitstring_status_list():
    """Type, purpose and the encoded list, under the VC 2.0 context alone."""
    document = build_status_list(f"{PUBLIC_URL}/credentials/status/1", ISSUER.id, [7], NOW)
    assert document["type"] == ["VerifiableCredential", "BitstringStatusListCredential"]
    subject = document["credentialSubject"]
    assert subject["type"] == "BitstringStatusList"
    assert subject["statusPurpose"] == "revocation"
    assert status_bit(decode_status_list(subject["encodedList"]), 7)


def test_the_achievement_is_worded_from_the_catalogue():
    """Name from the badge, description and alignment from the competency table."""
    catalogue = example_catalogue()
    achievement = achievement_for(catalogue.offers["ASSESS-DV"], catalogue, PUBLIC_URL)
    assert achievement.name == "Data-viz practitioner"
    assert "Turning data into charts" in achievement.description
    alignment = achievement.alignments[0]
    assert alignment.url == f"{PUBLIC_URL}/achievements/ASSESS-DV#data-visualisation"
    assert achievement.as_dict()["achievementType"] == "Assessment"


@pytest.mark.parametrize(
    ("offer", "words"),
    [
        (Offer("MENTOR-1H", "mentor_hours", "Mentor hour"), "credentials are for assessments"),
        (Offer("ASSESS-X", "assessment", "Quiz"), "names no competency"),
    ],
)
def test_offers_that_certify_nothing_have_no_achievement(offer, words):
    """Mentor hours, cohorts and the like, or an assessment naming no competency: refused."""
    with pytest.raises(CredentialRuleError, match=words):
        achievement_for(offer, example_catalogue(), PUBLIC_URL)


def test_a_sku_is_percent_encoded_in_its_achievement_url():
    """Any non-space character may be in a SKU; the URL path segment stays one segment."""
    assert path_segment("ASSESS-DV") == "ASSESS-DV"
    assert path_segment("A/B#ü") == "A%2FB%23%C3%BC"
    assert uuid.UUID(str(credential_uuid("x")))
