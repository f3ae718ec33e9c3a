"""CLR 2.0 records in tests, checked from the other side: the official ClrCredential schema
(the copy under tests/fixtures), and each embedded eddsa-rdfc-2022 proof verified with pyld's
canonicalisation (contexts from tests/fixtures, never fetched) and cryptography's Ed25519, with
no code of the bridge."""

from __future__ import annotations

import hashlib
import json
from functools import cache
from typing import Any

import base58
import jsonschema
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from pyld import jsonld

from tests.support.paths import FIXTURES

CONTEXTS = FIXTURES / "credentials" / "contexts"
CLR_SCHEMA = FIXTURES / "credentials" / "schema" / "clr_v2p0_clrcredential_schema.json"
VECTOR = FIXTURES / "credentials" / "clr-official"


@cache
def _index() -> dict[str, str]:
    index: dict[str, str] = json.loads((CONTEXTS / "index.json").read_text(encoding="utf-8"))
    return index


def loader(url: str, options: Any = None) -> dict[str, Any]:
    """A pyld document loader over the test copies of the contexts; anything else fails."""
    name = _index().get(url)
    if name is None or not (CONTEXTS / name).exists():
        raise AssertionError(f"a document names the context {url}, which the tests do not hold")
    document = json.loads((CONTEXTS / name).read_text(encoding="utf-8"))
    return {"contextUrl": None, "documentUrl": url, "document": document}


def canonical(document: dict[str, Any]) -> str:
    """RDF canonical N-Quads (URDNA2015), asserting no term was dropped as undefined."""
    dropped: list[Any] = []
    jsonld.expand(
        document,
        {"documentLoader": loader, "base": None},
        on_property_dropped=dropped.append,
    )
    assert not dropped, f"terms no context defines: {dropped}"
    return str(
        jsonld.normalize(
            document,
            {"algorithm": "URDNA2015", "format": "application/n-quads", "documentLoader": loader},
        )
    )


def multikey_public_key(verification_method: str) -> Ed25519PublicKey:
    """The Ed25519 key of a ``<controller>#<publicKeyMultibase>`` verification method."""
    multibase = verification_method.rsplit("#", 1)[1]
    assert multibase.startswith("z")
    raw = base58.b58decode(multibase[1:])
    assert raw[:2] == b"\xed\x01" and len(raw) == 34
    return Ed25519PublicKey.from_public_bytes(raw[2:])


def proof_verifies(document: dict[str, Any], methods: dict[str, Ed25519PublicKey]) -> bool:
    """Whether the document's eddsa-rdfc-2022 proof holds, the key looked up by its method id
    in ``methods`` (what the issuer publishes), never taken from the proof alone."""
    proofs = document.get("proof")
    assert isinstance(proofs, list) and proofs, "no proof array"
    unsigned = {key: value for key, value in document.items() if key != "proof"}
    for proof in proofs:
        assert proof["type"] == "DataIntegrityProof"
        assert proof["cryptosuite"] == "eddsa-rdfc-2022"
        assert proof["proofPurpose"] == "assertionMethod"
        key = methods.get(proof["verificationMethod"])
        if key is None:
            return False
        options = {k: v for k, v in proof.items() if k != "proofValue"}
        options["@context"] = document["@context"]
        data = (
            hashlib.sha256(canonical(options).encode()).digest()
            + hashlib.sha256(canonical(unsigned).encode()).digest()
        )
        try:
            key.verify(base58.b58decode(proof["proofValue"][1:]), data)
        except InvalidSignature:
            return False
    return True


def issuer_methods(profile: dict[str, Any]) -> dict[str, Ed25519PublicKey]:
    """The Multikey verification methods an issuer profile publishes, by id (the controller
    must be the issuer, and each listed as an assertion method)."""
    methods = {}
    for method in profile.get("verificationMethod", []):
        assert method["type"] == "Multikey"
        assert method["controller"] == profile["id"]
        assert method["id"] in profile.get("assertionMethod", [])
        raw = base58.b58decode(method["publicKeyMultibase"][1:])
        assert raw[:2] == b"\xed\x01"
        methods[method["id"]] = Ed25519PublicKey.from_public_bytes(raw[2:])
    return methods


@cache
def _clr_schema() -> dict[str, Any]:
    schema: dict[str, Any] = json.loads(CLR_SCHEMA.read_text(encoding="utf-8"))
    return schema


def clr_schema_errors(record: dict[str, Any]) -> list[str]:
    """Errors of the record (JWT claims removed) against the official ClrCredential schema."""
    document = {k: v for k, v in record.items() if k not in ("iss", "jti", "nbf", "sub", "exp")}
    validator = jsonschema.Draft201909Validator(_clr_schema())
    return [f"{e.json_path}: {e.message}" for e in validator.iter_errors(document)]
