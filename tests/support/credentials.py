"""Credentials in tests: a learner who bought ASSESS-DV, and a verifier that shares no code
with the bridge (jwcrypto instead of joserfc, the schema copy under tests/fixtures, stdlib
gzip for the status list)."""

from __future__ import annotations

import base64
import dataclasses
import gzip
import hashlib
import itertools
import json
import os
from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any

import jsonschema
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jwcrypto import jwk, jws
from sqlalchemy import Engine

from bridge.rules.catalogue.catalog import Catalogue
from bridge.services.catalogue import read_catalogue_file
from bridge.services.orders import process_order, store_file_catalogue
from bridge.settings import Settings
from tests.support.paths import FIXTURES, ROOT
from tests.support.sample_shop import BINDINGS, make_order

EXAMPLE_CATALOGUE = ROOT / "catalog.example.toml"
PUBLIC_URL = "https://bridge.example.com"
SCHEMA = FIXTURES / "credentials" / "schema" / "ob_v3p0_achievementcredential_schema.json"
_order_ids = itertools.count(9100)


@lru_cache(maxsize=1)
def _test_key_pem() -> bytes:
    """One RSA key for the whole run: generating 3072-bit keys per test is slow."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=3072)
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def write_key(path: Path) -> Path:
    """Put the run's test key at ``path``, readable by its owner only."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(_test_key_pem())
    return path


def credential_settings(
    database_url: str, tmp_path: Path, **changes: Mapping[str, Any]
) -> Settings:
    """Settings that can issue: public URL, issuer name, the example catalogue, a key file.

    ``changes`` as Settings.replace takes them, by group.
    """
    key_file = tmp_path / "credential-signing-key.pem"
    if not key_file.exists():
        write_key(key_file)
    return (
        Settings()
        .replace(
            database={"url": database_url},
            web={"public_url": PUBLIC_URL},
            credentials={"issuer_name": "Dana Datawright", "key_file": key_file},
            catalogue={"file": EXAMPLE_CATALOGUE},
            orders={"complimentary_call_minutes": 0},
        )
        .replace(**changes)
    )


def example_catalogue() -> Catalogue:
    """The example catalogue file, bound to the sample shop's product ids."""
    return dataclasses.replace(read_catalogue_file(EXAMPLE_CATALOGUE), bindings=BINDINGS)


def buy(
    engine: Engine,
    sku: str,
    email: str = "ann@example.com",
    *,
    customer_id: int = 7,
    order_id: int | None = None,
    status: str = "processing",
) -> int:
    """An order for one unit of ``sku`` applied as the shop would send it; returns its id."""
    catalogue = example_catalogue()
    store_file_catalogue(engine, catalogue)
    order_id = order_id or next(_order_ids)
    order = make_order(order_id, [(sku, 1)], email=email, customer_id=customer_id, status=status)
    process_order(
        engine,
        order,
        catalogue=catalogue,
        settings=Settings().replace(orders={"complimentary_call_minutes": 0}),
    )
    return order_id


class VerificationFailed(Exception):
    """The independent verifier refused the credential."""


def _b64(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def verify_vc_jwt(token: str, jwks_document: dict[str, Any]) -> dict[str, Any]:
    """Verify a VC-JWT as an outside verifier would: jwcrypto, the JWKS, the header rules."""
    keys = jwk.JWKSet.from_json(json.dumps(jwks_document))
    signed = jws.JWS()
    try:
        signed.deserialize(token)
        header = signed.jose_header
        if header.get("alg") not in ("RS256", "ES256") or set(header) - {"alg", "kid", "typ"}:
            raise VerificationFailed(f"header not allowed by OB 3.0: {header}")
        key = keys.get_key(header["kid"])
        if key is None:
            raise VerificationFailed(f"kid {header['kid']} is not in the JWKS")
        signed.verify(key, alg=header["alg"])
    except (jws.InvalidJWSSignature, jws.InvalidJWSObject, ValueError) as exc:
        raise VerificationFailed(str(exc)) from None
    payload = json.loads(signed.payload)
    issuer = payload["issuer"]["id"] if isinstance(payload["issuer"], dict) else payload["issuer"]
    if payload.get("jti") != payload.get("id") or payload.get("iss") != issuer:
        raise VerificationFailed("jti/iss do not match the credential")
    return payload


@lru_cache(maxsize=1)
def _schema() -> dict[str, Any]:
    return json.loads(SCHEMA.read_text(encoding="utf-8"))


def schema_errors(credential: dict[str, Any]) -> list[str]:
    """Errors of the credential (JWT claims removed) against the official schema copy."""
    document = {k: v for k, v in credential.items() if k not in ("iss", "jti", "nbf", "sub")}
    validator = jsonschema.Draft201909Validator(_schema())
    return [f"{e.json_path}: {e.message}" for e in validator.iter_errors(document)]


def is_recipient(credential: dict[str, Any], email: str) -> bool:
    """Recompute the OB 3.0 IdentityHash for an e-mail learned out of band."""
    for identity in credential["credentialSubject"].get("identifier", []):
        if identity.get("identityType") != "emailAddress" or not identity.get("hashed"):
            continue
        algorithm, _, digest = identity["identityHash"].partition("$")
        salted = (email.strip().lower() + identity.get("salt", "")).encode("utf-8")
        if algorithm == "sha256" and hashlib.sha256(salted).hexdigest() == digest.lower():
            return True
    return False


def revoked_in(
    status_token: str, jwks_document: dict[str, Any], credential: dict[str, Any]
) -> bool:
    """Whether the credential's bit is set in the signed status list (MSB first)."""
    status_list = verify_vc_jwt(status_token, jwks_document)
    entry = credential["credentialStatus"]
    assert entry["type"] == "BitstringStatusListEntry"
    assert status_list["id"] == entry["statusListCredential"]
    encoded = status_list["credentialSubject"]["encodedList"]
    assert encoded.startswith("u")
    bits = gzip.decompress(_b64(encoded[1:]))
    assert len(bits) * 8 >= 131_072
    index = int(entry["statusListIndex"])
    return bool(bits[index // 8] & (0x80 >> (index % 8)))


def jose_header(token: str) -> dict[str, Any]:
    return json.loads(_b64(token.split(".")[0]))


def decoded_payload(token: str) -> dict[str, Any]:
    """The payload of a JWS without verifying it (to show what a tamperer would edit)."""
    return json.loads(_b64(token.split(".")[1]))


def tampered(token: str, change: Any) -> str:
    """The same JWS with its payload edited by ``change(payload)`` and the signature kept."""
    header, payload, signature = token.split(".")
    edited = json.loads(_b64(payload))
    change(edited)
    body = base64.urlsafe_b64encode(json.dumps(edited).encode()).decode().rstrip("=")
    return ".".join([header, body, signature])
