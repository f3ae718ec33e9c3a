"""Data Integrity proofs: ``DataIntegrityProof`` with the ``eddsa-rdfc-2022`` cryptosuite.

A proof signs ``SHA-256(RDFC(proof options)) + SHA-256(RDFC(document without proof))`` with an
Ed25519 key. RDF canonicalisation is pyld's URDNA2015 (the same output as RDFC-1.0 for these
documents; the official CLR test vector reproduces byte for byte). Every JSON-LD context comes
from the files shipped in ``bridge/data/credentials/contexts``: the document loader never fetches,
and a term no context defines is refused rather than silently dropped, so what is signed is
everything the document says.

The Ed25519 key is kept like the RS256 one: a PEM file only its owner reads, generated once,
beside ``BRIDGE_CREDENTIAL_KEY_FILE`` (``<name>-ed25519.pem``). It is published as a Multikey
verification method on the issuer profile, ``<issuer>#<publicKeyMultibase>``.
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
import stat
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import base58
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from bridge.errors import PermanentError
from bridge.rules.credentials import timestamp

CRYPTOSUITE = "eddsa-rdfc-2022"
PROOF_TYPE = "DataIntegrityProof"
MULTIKEY_CONTEXT = "https://w3id.org/security/multikey/v1"
# Multicodec prefix of an Ed25519 public key (0xed, varint-encoded).
ED25519_PUB_PREFIX = b"\xed\x01"
CONTEXT_DIR = "data/credentials/contexts"
# The contexts shipped with the bridge, by URL (the only ones a document may name).
CONTEXT_FILES = {
    "https://www.w3.org/ns/credentials/v2": "credentials-v2.jsonld",
    "https://purl.imsglobal.org/spec/ob/v3p0/context-3.0.3.json": "ob-v3p0-context-3.0.3.json",
    "https://purl.imsglobal.org/spec/ob/v3p0/extensions.json": "ob-v3p0-extensions.json",
    "https://purl.imsglobal.org/spec/clr/v2p0/context-2.0.1.json": "clr-v2p0-context-2.0.1.json",
    "https://purl.imsglobal.org/spec/clr/v2p0/context.json": "clr-v2p0-context.json",
    "https://w3id.org/security/multikey/v1": "multikey-v1.jsonld",
    "https://w3id.org/security/data-integrity/v1": "data-integrity-v1.jsonld",
    "https://www.w3.org/ns/did/v1": "did-v1.jsonld",
}


class DataIntegrityError(PermanentError):
    """A document cannot be canonicalised or signed as it is (an unknown context or term)."""


@cache
def _context(url: str) -> dict[str, Any]:
    name = CONTEXT_FILES.get(url)
    if name is None:
        raise DataIntegrityError(
            f"the JSON-LD context {url[:120]!r} is not shipped with the bridge; it is never fetched"
        )
    text = resources.files("bridge").joinpath(f"{CONTEXT_DIR}/{name}").read_text("utf-8")
    document: dict[str, Any] = json.loads(text)
    return document


def document_loader(url: str, options: Any = None) -> dict[str, Any]:
    """pyld's document loader: the shipped context for a known URL; anything else is refused."""
    return {"contextUrl": None, "documentUrl": url, "document": _context(url)}


def _jsonld() -> Any:
    """pyld, imported on first use: it takes a fifth of a second, which commands that never
    sign an embedded proof should not pay."""
    from pyld import jsonld

    return jsonld


def _check_terms(document: Mapping[str, Any]) -> None:
    """Refuse a document with a term or type no context defines (pyld would drop it unsigned)."""
    jsonld = _jsonld()
    dropped: list[str] = []
    options = {"documentLoader": document_loader, "base": None}
    try:
        jsonld.expand(
            dict(document), options, on_property_dropped=lambda term: dropped.append(str(term))
        )
    except jsonld.JsonLdError as exc:
        raise DataIntegrityError(f"the document is not valid JSON-LD: {_cause(exc)}") from None
    if dropped:
        raise DataIntegrityError(
            "terms no context defines (they would go unsigned): " + ", ".join(sorted(set(dropped)))
        )


def _cause(exc: BaseException) -> str:
    """The innermost reason of a pyld error: ours (an unknown context) when it is one."""
    seen: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in seen:
        seen.append(current)
        if isinstance(current, DataIntegrityError):
            return str(current)
        following = getattr(current, "cause", None) or current.__cause__ or current.__context__
        current = following if isinstance(following, BaseException) else None
    return str(seen[-1])[:200]


def canonical(document: Mapping[str, Any]) -> str:
    """The RDF canonical form (N-Quads) of a JSON-LD document, contexts from the package."""
    _check_terms(document)
    jsonld = _jsonld()
    options = {
        "algorithm": "URDNA2015",
        "format": "application/n-quads",
        "documentLoader": document_loader,
    }
    try:
        result = jsonld.normalize(dict(document), options)
    except jsonld.JsonLdError as exc:
        raise DataIntegrityError(f"cannot canonicalise the document: {_cause(exc)}") from None
    return str(result)


def signing_input(document: Mapping[str, Any], proof: Mapping[str, Any]) -> bytes:
    """What eddsa-rdfc-2022 signs: hash of the proof options (with the document's context),
    then hash of the document without its proof."""
    options = {key: value for key, value in proof.items() if key != "proofValue"}
    options["@context"] = document["@context"]
    unsigned = {key: value for key, value in document.items() if key != "proof"}
    proof_hash = hashlib.sha256(canonical(options).encode("utf-8")).digest()
    document_hash = hashlib.sha256(canonical(unsigned).encode("utf-8")).digest()
    return proof_hash + document_hash


def multikey(public_key: Ed25519PublicKey) -> str:
    """``publicKeyMultibase`` of an Ed25519 key: base58btc (``z``) of 0xed01 + the raw key."""
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return "z" + base58.b58encode(ED25519_PUB_PREFIX + raw).decode("ascii")


def public_key_from_multikey(value: str) -> Ed25519PublicKey:
    if not value.startswith("z"):
        raise DataIntegrityError("a publicKeyMultibase is base58btc, starting with z")
    raw = base58.b58decode(value[1:])
    if not raw.startswith(ED25519_PUB_PREFIX) or len(raw) != 34:
        raise DataIntegrityError("not an Ed25519 Multikey")
    return Ed25519PublicKey.from_public_bytes(raw[2:])


@dataclass(frozen=True)
class ProofKey:
    """The Ed25519 key that signs embedded proofs, and its verification method's id."""

    key: Ed25519PrivateKey
    controller: str  # the issuer's id

    @property
    def public_multibase(self) -> str:
        return multikey(self.key.public_key())

    @property
    def verification_method(self) -> str:
        return f"{self.controller}#{self.public_multibase}"

    def method_document(self) -> dict[str, Any]:
        """The Multikey verification method as the issuer profile lists it."""
        return {
            "id": self.verification_method,
            "type": "Multikey",
            "controller": self.controller,
            "publicKeyMultibase": self.public_multibase,
        }


def add_proof(document: Mapping[str, Any], key: ProofKey, created: datetime) -> dict[str, Any]:
    """The document with an eddsa-rdfc-2022 proof appended to its ``proof`` array."""
    signed = copy.deepcopy(dict(document))
    proof: dict[str, Any] = {
        "type": PROOF_TYPE,
        "cryptosuite": CRYPTOSUITE,
        "created": timestamp(created),
        "verificationMethod": key.verification_method,
        "proofPurpose": "assertionMethod",
    }
    unsigned = {k: v for k, v in signed.items() if k != "proof"}
    signature = key.key.sign(signing_input(unsigned, proof))
    proof["proofValue"] = "z" + base58.b58encode(signature).decode("ascii")
    signed["proof"] = [*(signed.get("proof") or []), proof]
    return signed


def verify_proof(document: Mapping[str, Any], public_key: Ed25519PublicKey) -> bool:
    """True when one of the document's eddsa-rdfc-2022 proofs verifies with the key."""
    proofs = document.get("proof") or []
    if isinstance(proofs, Mapping):
        proofs = [proofs]
    unsigned = {k: v for k, v in document.items() if k != "proof"}
    for proof in proofs:
        if proof.get("cryptosuite") != CRYPTOSUITE or not proof.get("proofValue"):
            continue
        try:
            signature = base58.b58decode(str(proof["proofValue"])[1:])
            public_key.verify(signature, signing_input(unsigned, proof))
        except (InvalidSignature, ValueError, DataIntegrityError):
            continue
        return True
    return False


def ed25519_key_path(rsa_key_file: Path) -> Path:
    """Where the Ed25519 key is kept: beside the RS256 key file."""
    return rsa_key_file.with_name(f"{rsa_key_file.stem}-ed25519.pem")


def _read_ed25519(path: Path) -> Ed25519PrivateKey:
    try:
        mode = path.stat().st_mode
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise DataIntegrityError(
                f"{path} is readable by others (mode {stat.filemode(mode)}); run chmod 600 {path}"
            )
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except OSError as exc:
        raise DataIntegrityError(f"cannot read the Ed25519 key {path}: {exc.strerror}") from None
    except ValueError as exc:
        raise DataIntegrityError(f"{path} is not a private key in PEM ({exc})") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise DataIntegrityError(f"{path} holds no Ed25519 private key")
    return key


def ed25519_key(path: Path) -> Ed25519PrivateKey:
    """The Ed25519 key in ``path``, generated first (mode 0600) if there is none."""
    if path.exists():
        return _read_ed25519(path)
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(pem)
            handle.flush()
            os.fsync(handle.fileno())
    except FileExistsError:
        return _read_ed25519(path)  # another process generated it first: use theirs
    except OSError as exc:
        raise DataIntegrityError(f"cannot create the Ed25519 key {path}: {exc.strerror}") from None
    return key
