"""The credential signing key: generated once into a file only its owner reads, or a setting.

RS256 (RSA 3072): the 1EdTech validator accepts RS256 and ES256 for VC-JWTs, and RS256 is the
one every verifier must support. The key id is ``${BRIDGE_PUBLIC_URL}/issuer/keys/<thumbprint>``
(RFC 7638), a URL that answers with the public JWK.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import RSAKey

from bridge.errors import PermanentError

ALGORITHM = "RS256"
KEY_BITS = 3072


class SigningKeyError(PermanentError):
    """The signing key cannot be read, created or replaced; the message says how to fix it."""


@dataclass(frozen=True)
class SigningKey:
    """A private signing key and where it came from (a file path, or the setting's name)."""

    key: RSAKey
    source: str

    @property
    def thumbprint(self) -> str:
        return self.key.thumbprint()

    def public_jwk(self) -> dict[str, Any]:
        return {**self.key.as_dict(private=False), "alg": ALGORITHM, "use": "sig"}


def key_id(public_url: str, thumbprint: str) -> str:
    """The ``kid`` of a key: the URL its public JWK is served at."""
    return f"{public_url}/issuer/keys/{thumbprint}"


def _parse(pem: bytes, source: str) -> SigningKey:
    try:
        key = RSAKey.import_key(pem)
    except (ValueError, TypeError, JoseError) as exc:
        raise SigningKeyError(f"{source} is not an RSA private key in PEM ({exc})") from None
    if not key.is_private:
        raise SigningKeyError(f"{source} holds a public key; the signing key must be private")
    return SigningKey(key, source)


def key_from_setting(pem_text: str, variable: str) -> SigningKey:
    """A key given in a setting (PEM; ``\\n`` escapes stand for line breaks)."""
    return _parse(pem_text.replace("\\n", "\n").encode("ascii", "replace"), variable)


def read_key_file(path: Path) -> SigningKey:
    """Read the key file, refusing one that others could read."""
    try:
        mode = path.stat().st_mode
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise SigningKeyError(
                f"{path} is readable by others (mode {stat.filemode(mode)}); run chmod 600 {path}"
            )
        return _parse(path.read_bytes(), str(path))
    except OSError as exc:
        raise SigningKeyError(f"cannot read the signing key {path}: {exc.strerror}") from None


def _write_new(path: Path, key: RSAKey) -> None:
    """Write a key to a file that must not exist yet, readable and writable by its owner only."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(key.as_pem(private=True))
        handle.flush()
        os.fsync(handle.fileno())


def create_key_file(path: Path) -> tuple[SigningKey, bool]:
    """The key in ``path``, generated first if there is none; True when it was generated now."""
    if path.exists():
        return read_key_file(path), False
    key = RSAKey.generate_key(KEY_BITS, private=True)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        _write_new(path, key)
    except FileExistsError:
        # Another process generated it first: use theirs.
        return read_key_file(path), False
    except OSError as exc:
        raise SigningKeyError(f"cannot create the signing key {path}: {exc.strerror}") from None
    return SigningKey(key, str(path)), True


def replace_key_file(path: Path) -> SigningKey:
    """A fresh key in place of the one in ``path`` (written beside it, then renamed over it)."""
    key = RSAKey.generate_key(KEY_BITS, private=True)
    fresh = path.with_name(path.name + ".new")
    try:
        fresh.unlink(missing_ok=True)
        _write_new(fresh, key)
        os.replace(fresh, path)
    except OSError as exc:
        raise SigningKeyError(f"cannot replace the signing key {path}: {exc.strerror}") from None
    return SigningKey(key, str(path))


def sign_jwt(claims: dict[str, Any], signing_key: SigningKey, kid: str) -> str:
    """A compact JWS over the claims: header alg RS256, kid, typ JWT (OB 3.0 allows no other)."""
    header = {"alg": ALGORITHM, "kid": kid, "typ": "JWT"}
    return jwt.encode(header, claims, signing_key.key, algorithms=[ALGORITHM])
