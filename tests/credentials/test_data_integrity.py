"""eddsa-rdfc-2022 Data Integrity proofs: the official CLR 2.0 test vector reproduces byte for
byte with the bridge's canonicalisation (contexts from the package, never fetched), what the
bridge signs verifies with an independent verifier, and nothing is signed that a context does
not define."""

from __future__ import annotations

import copy
import hashlib
import json
import os
import stat
from datetime import UTC, datetime
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from bridge.services.credentials import DataIntegrityError
from bridge.services.credentials.data_integrity import (
    ProofKey,
    add_proof,
    canonical,
    document_loader,
    ed25519_key,
    ed25519_key_path,
    public_key_from_multikey,
    verify_proof,
)
from tests.support.records import VECTOR, multikey_public_key, proof_verifies

DOCUMENT_HASH = "768d7015ae69e0210e1c2a45194d9c1d15d7a6022e52b946574a2a27f6fa85fe"
PROOF_HASH = "d34009cea0dbc1ca941e09dc01c8c9d3e3ce3c5b853f67ee44698dcea10f5d19"


def vector() -> dict:  # type: ignore[type-arg]
    return json.loads((VECTOR / "ob-impl-testvector-clr-signed.json").read_text("utf-8"))


def test_the_official_clr_test_vector_reproduces_byte_for_byte() -> None:
    """The canonical N-Quads of the unsigned CLR and of its proof options are the published
    files exactly, and their SHA-256 the hashes the implementation guide gives."""
    signed = vector()
    unsigned = {key: value for key, value in signed.items() if key != "proof"}
    document = canonical(unsigned)
    assert document == (VECTOR / "ob-impl-testvector-clr-document-canon.txt").read_text("utf-8")
    assert hashlib.sha256(document.encode()).hexdigest() == DOCUMENT_HASH
    options = {key: value for key, value in signed["proof"][0].items() if key != "proofValue"}
    options["@context"] = signed["@context"]
    proof = canonical(options)
    assert proof == (VECTOR / "ob-impl-testvector-clr-proof-canon.txt").read_text("utf-8")
    assert hashlib.sha256(proof.encode()).hexdigest() == PROOF_HASH


def test_the_vector_proofs_verify_with_the_bridge_and_the_independent_verifier() -> None:
    """The outer and the inner proof of the vector hold for both, with the key in the
    verification method's fragment; a changed name breaks both."""
    signed = vector()
    method = signed["proof"][0]["verificationMethod"]
    key = public_key_from_multikey(method.rsplit("#", 1)[1])
    inner = signed["credentialSubject"]["verifiableCredential"][0]
    assert verify_proof(signed, key) and verify_proof(inner, key)
    methods = {method: multikey_public_key(method)}
    assert proof_verifies(signed, methods) and proof_verifies(inner, methods)
    changed = copy.deepcopy(signed)
    changed["name"] = "Forged Transcript"
    assert not verify_proof(changed, key)
    assert not proof_verifies(changed, methods)


def test_what_the_bridge_signs_verifies_independently_and_tampering_fails() -> None:
    """A credential signed with add_proof verifies with pyld + cryptography in the tests."""
    key = ProofKey(Ed25519PrivateKey.generate(), controller="https://bridge.example.com/issuer")
    document = {
        key_: value
        for key_, value in vector()["credentialSubject"]["verifiableCredential"][0].items()
        if key_ != "proof"
    }
    signed = add_proof(document, key, datetime(2026, 12, 7, 12, 0, tzinfo=UTC))
    proof = signed["proof"][0]
    assert proof["verificationMethod"] == f"{key.controller}#{key.public_multibase}"
    assert proof["created"] == "2026-12-07T12:00:00Z"
    assert key.public_multibase.startswith("z6Mk")
    methods = {key.verification_method: multikey_public_key(key.verification_method)}
    assert proof_verifies(signed, methods)
    tampered = copy.deepcopy(signed)
    tampered["credentialSubject"]["achievement"]["name"] = "Something else"
    assert not proof_verifies(tampered, methods)
    assert "proof" not in document  # the input is not changed


def test_a_term_no_context_defines_is_refused_not_silently_dropped() -> None:
    """pyld would drop an undefined term from the canonical form, so it would go unsigned."""
    document = {k: v for k, v in vector().items() if k != "proof"}
    document["favouriteColour"] = "green"
    with pytest.raises(DataIntegrityError, match="favouriteColour"):
        canonical(document)


def test_contexts_come_from_the_package_and_unknown_ones_are_never_fetched() -> None:
    loaded = document_loader("https://purl.imsglobal.org/spec/clr/v2p0/context-2.0.1.json")
    assert "ClrSubject" in json.dumps(loaded["document"])
    document = {k: v for k, v in vector().items() if k != "proof"}
    document["@context"] = [*document["@context"], "https://example.com/context.json"]
    with pytest.raises(DataIntegrityError, match="never fetched"):
        canonical(document)


def test_the_ed25519_key_is_kept_like_the_rs256_key(tmp_path: Path) -> None:
    """Made once beside the RS256 key file, mode 0600; one others can read is refused."""
    path = ed25519_key_path(tmp_path / "credential-signing-key.pem")
    assert path.name == "credential-signing-key-ed25519.pem"
    first = ed25519_key(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    again = ed25519_key(path)
    assert first.public_key().public_bytes_raw() == again.public_key().public_bytes_raw()
    os.chmod(path, 0o644)
    with pytest.raises(DataIntegrityError, match="chmod 600"):
        ed25519_key(path)
