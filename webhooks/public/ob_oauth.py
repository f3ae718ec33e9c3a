"""OAuth 2.0 for the Open Badges 3.0 API, by Authlib's Flask authorization server: RFC 7591
registration, the authorization code grant with PKCE (S256 only), refresh tokens and RFC 7009
revocation. The bridge supplies only storage (bridge.services.wallets, hashes only) and the
learner's sign-in: their personal page link, then a consent page.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from authlib.integrations.flask_oauth2 import AuthorizationServer, ResourceProtector
from authlib.integrations.flask_oauth2.requests import FlaskOAuth2Payload, FlaskOAuth2Request
from authlib.oauth2.rfc6749 import (
    AuthorizationCodeMixin,
    ClientMixin,
    OAuth2Request,
    TokenMixin,
    grants,
)
from authlib.oauth2.rfc6750 import BearerTokenValidator
from authlib.oauth2.rfc7009 import RevocationEndpoint
from authlib.oauth2.rfc7591 import ClientRegistrationEndpoint, InvalidClientMetadataError
from authlib.oauth2.rfc7636 import CodeChallenge
from flask import Flask, Request, current_app
from flask import request as flask_request

from bridge.rules.wallets import EXTRA_SCOPES, SCOPES
from bridge.services.wallets import (
    ACCESS_LIFETIME,
    claim_code,
    find_client,
    find_token,
    register_client,
    registration_problems,
    revoke_tokens,
    save_code,
    save_token,
    secret_hash,
)
from bridge.store.db import unit_of_work
from bridge.store.models import WalletClient, WalletCode, WalletToken
from webhooks.runtime import runtime

SERVER = "ob_authorization_server"
PROTECTOR = "ob_resource_protector"
GRANT_TYPES = ("authorization_code", "refresh_token")
AUTH_METHOD = "client_secret_basic"


def _now() -> datetime:
    return runtime().clock()


@dataclass
class WalletUser:
    """The learner who approved an app (Authlib's "user")."""

    learner_id: int

    def get_user_id(self) -> int:
        return self.learner_id


@dataclass
class Client(ClientMixin):
    row: WalletClient

    @property
    def redirect_uris(self) -> list[str]:
        return list((self.row.client_metadata or {}).get("redirect_uris") or [])

    def get_client_id(self) -> str:
        return self.row.client_id

    def get_default_redirect_uri(self) -> str | None:
        return self.redirect_uris[0] if self.redirect_uris else None

    def get_allowed_scope(self, scope: str) -> str:
        allowed = set(self.row.scope.split())
        return " ".join(s for s in (scope or "").split() if s in allowed)

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        return redirect_uri in self.redirect_uris

    def check_client_secret(self, client_secret: str) -> bool:
        return hmac.compare_digest(secret_hash(client_secret), self.row.secret_hash)

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        return method == AUTH_METHOD

    def check_response_type(self, response_type: str) -> bool:
        return response_type == "code"

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type in GRANT_TYPES


@dataclass
class Code(AuthorizationCodeMixin):
    row: WalletCode

    @property
    def code_challenge(self) -> str:
        return self.row.code_challenge

    @property
    def code_challenge_method(self) -> str:
        return self.row.code_challenge_method

    def get_redirect_uri(self) -> str:
        return self.row.redirect_uri

    def get_scope(self) -> str:
        return self.row.scope


@dataclass
class Token(TokenMixin):
    row: WalletToken
    client: WalletClient | None

    def check_client(self, client: ClientMixin) -> bool:
        return bool(client.get_client_id() == self.row.client_id)

    def get_scope(self) -> str:
        return self.row.scope

    def get_expires_in(self) -> int:
        return int((self.row.expires_at - self.row.issued_at).total_seconds())

    def is_expired(self) -> bool:
        return self.row.expires_at <= _now()

    def is_revoked(self) -> bool:
        blocked = self.client is None or self.client.blocked_at is not None
        return self.row.revoked_at is not None or blocked


def query_client(client_id: str) -> Client | None:
    """A known, unblocked client (a blocked one is as good as unknown: invalid_client)."""
    with unit_of_work(runtime().engine) as session:
        row = find_client(session, client_id)
    return Client(row) if row is not None and row.blocked_at is None else None


def store_token(token: dict[str, Any], request: OAuth2Request) -> None:
    """Keep the issued pair as hashes; a refreshed pair stays linked to its first code."""
    code = getattr(request, "authorization_code", None)
    refreshed = getattr(request, "refresh_token", None)
    code_id = code.row.id if isinstance(code, Code) else None
    if isinstance(refreshed, Token):
        code_id = refreshed.row.code_id
    with unit_of_work(runtime().engine) as session:
        save_token(
            session,
            token,
            client_id=request.client.get_client_id(),
            learner_id=request.user.learner_id,
            code_id=code_id,
            now=_now(),
        )
        session.commit()


class S256Only(CodeChallenge):
    """PKCE is required and its method must be S256 (OB 3.0): plain or none is refused."""

    SUPPORTED_CODE_CHALLENGE_METHOD = ["S256"]
    DEFAULT_CODE_CHALLENGE_METHOD = "S256"

    def validate_code_challenge(self, grant: Any, redirect_uri: str) -> None:
        from authlib.oauth2.rfc6749 import InvalidRequestError

        if grant.request.payload.data.get("code_challenge_method") != "S256":
            raise InvalidRequestError("code_challenge_method must be S256")
        super().validate_code_challenge(grant, redirect_uri)


class CodeGrant(grants.AuthorizationCodeGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = [AUTH_METHOD]

    def save_authorization_code(self, code: str, request: OAuth2Request) -> None:
        data = request.payload.data
        with unit_of_work(runtime().engine) as session:
            save_code(
                session,
                code,
                client_id=request.client.get_client_id(),
                learner_id=request.user.learner_id,
                redirect_uri=request.payload.redirect_uri,
                scope=request.client.get_allowed_scope(request.payload.scope),
                challenge=data.get("code_challenge", ""),
                method=data.get("code_challenge_method", ""),
                now=_now(),
            )
            session.commit()

    def query_authorization_code(self, code: str, client: ClientMixin) -> Code | None:
        with unit_of_work(runtime().engine) as session:
            row = claim_code(session, code, client.get_client_id(), _now())
            session.commit()
        return Code(row) if row is not None else None

    def delete_authorization_code(self, authorization_code: Code) -> None:
        """Nothing: the code was marked used when it was claimed, and stays to catch reuse."""

    def authenticate_user(self, authorization_code: Code) -> WalletUser:
        return WalletUser(authorization_code.row.learner_id)


class RefreshGrant(grants.RefreshTokenGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = [AUTH_METHOD]
    INCLUDE_NEW_REFRESH_TOKEN = True

    def authenticate_refresh_token(self, refresh_token: str) -> Token | None:
        now = _now()
        with unit_of_work(runtime().engine) as session:
            row = find_token(session, refresh_token, refresh=True)
            if row is None or row.revoked_at is not None:
                return None
            if row.refresh_expires_at is None or row.refresh_expires_at <= now:
                return None
            return Token(row, find_client(session, row.client_id))

    def authenticate_user(self, refresh_token: Token) -> WalletUser:
        return WalletUser(refresh_token.row.learner_id)

    def revoke_old_credential(self, refresh_token: Token) -> None:
        with unit_of_work(runtime().engine) as session:
            revoke_tokens(session, _now(), token_id=refresh_token.row.id)
            session.commit()


class Registration(ClientRegistrationEndpoint):
    """RFC 7591 as OB 3.0 profiles it: open (no initial access token), every required field,
    HTTPS URLs on one host, only the offered scopes."""

    def authenticate_token(self, request: Any) -> bool:
        return True

    def extract_client_metadata(self, request: Any) -> dict[str, Any]:
        data = request.payload.data if isinstance(request.payload.data, dict) else {}
        problems = registration_problems(data)
        if problems:
            raise InvalidClientMetadataError("; ".join(problems))
        metadata: dict[str, Any] = super().extract_client_metadata(request)
        return metadata

    def get_server_metadata(self) -> dict[str, Any]:
        return {
            "scopes_supported": [*SCOPES, *EXTRA_SCOPES],
            "response_types_supported": ["code"],
            "grant_types_supported": list(GRANT_TYPES),
            "token_endpoint_auth_methods_supported": [AUTH_METHOD],
        }

    def save_client(
        self, client_info: dict[str, Any], client_metadata: dict[str, Any], request: Any
    ) -> Client:
        with unit_of_work(runtime().engine) as session:
            row = register_client(
                session,
                client_info["client_id"],
                client_info["client_secret"],
                client_metadata,
                _now(),
            )
            session.commit()
        return Client(row)


class Revocation(RevocationEndpoint):
    CLIENT_AUTH_METHODS = [AUTH_METHOD]

    def query_token(self, token_string: str, token_type_hint: str | None) -> Token | None:
        with unit_of_work(runtime().engine) as session:
            row = None
            if token_type_hint != "refresh_token":  # noqa: S105 (a hint name, no secret)
                row = find_token(session, token_string)
            if row is None and token_type_hint != "access_token":  # noqa: S105
                row = find_token(session, token_string, refresh=True)
            return Token(row, find_client(session, row.client_id)) if row else None

    def revoke_token(self, token: Token, request: Any) -> None:
        with unit_of_work(runtime().engine) as session:
            revoke_tokens(session, _now(), token_id=token.row.id)
            session.commit()


class Bearer(BearerTokenValidator):
    def authenticate_token(self, token_string: str) -> Token | None:
        with unit_of_work(runtime().engine) as session:
            row = find_token(session, token_string)
            return Token(row, find_client(session, row.client_id)) if row else None


def external_url(request: Request) -> str:
    """The URL the client used: https when the proxy in front says so (X-Forwarded-Proto, as
    the console's cookies read it), so Authlib's transport check sees what the client saw."""
    forwarded = request.headers.get("X-Forwarded-Proto", "").split(",")[0].strip().lower()
    url = request.url
    if forwarded == "https" and url.startswith("http://"):
        url = "https://" + url[len("http://") :]
    return url


class ProxiedRequest(FlaskOAuth2Request):
    """Authlib's Flask request with the URL the client used (TLS ends at the proxy)."""

    def __init__(self, request: Request) -> None:
        OAuth2Request.__init__(
            self, method=request.method, uri=external_url(request), headers=request.headers
        )
        self._request = request
        self.payload = FlaskOAuth2Payload(request)


class BridgeAuthorizationServer(AuthorizationServer):
    """Authlib's server, reading requests as the client sent them (see ProxiedRequest)."""

    def create_oauth2_request(self, request: Any) -> OAuth2Request:
        return ProxiedRequest(flask_request)


def init_oauth(app: Flask) -> None:
    """Authlib's authorization server and resource protector, one of each per app."""
    app.config.update(
        OAUTH2_SCOPES_SUPPORTED=[*SCOPES, *EXTRA_SCOPES],
        OAUTH2_REFRESH_TOKEN_GENERATOR=True,
        OAUTH2_TOKEN_EXPIRES_IN={
            grant: int(ACCESS_LIFETIME.total_seconds()) for grant in GRANT_TYPES
        },
    )
    server = BridgeAuthorizationServer(app, query_client=query_client, save_token=store_token)
    server.register_grant(CodeGrant, [S256Only(required=True)])
    server.register_grant(RefreshGrant)
    server.register_endpoint(Registration)
    server.register_endpoint(Revocation)
    protector = ResourceProtector()
    protector.register_token_validator(Bearer())
    app.extensions[SERVER] = server
    app.extensions[PROTECTOR] = protector


def oauth_server() -> AuthorizationServer:
    server: AuthorizationServer = current_app.extensions[SERVER]
    return server


def resource_protector() -> ResourceProtector:
    protector: ResourceProtector = current_app.extensions[PROTECTOR]
    return protector
