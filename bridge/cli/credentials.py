"""`bridge credentials`: issue, list, show and revoke Open Badges 3.0 credentials; rotate the key.

Registered on the ``bridge`` group by bridge.cli.main; shared helpers come from bridge.cli.context.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import click

from bridge.cli.context import AppContext, emit, json_option
from bridge.cli.output import table
from bridge.errors import PermanentError
from bridge.rules.catalogue.catalog import Catalogue
from bridge.rules.credentials import CredentialStatus
from bridge.services.credentials import (
    EVIDENCE,
    CredentialNotFound,
    CredentialRefused,
    Signer,
    credential_summary,
    find_credential,
    issue_credential,
    issuing_factory,
    list_credentials,
    manual_source_key,
    require_public_url,
    revoke_credential,
    rotate_key,
    signing_key,
    verify_token,
)
from bridge.services.learners import require_learner
from bridge.store.db import unit_of_work
from bridge.store.models import utcnow


class CredentialCommandError(PermanentError):
    """A credential command was given something it cannot use."""


def _app(ctx: click.Context) -> AppContext:
    return ctx.find_root().obj


def catalogue_loader(app: AppContext) -> Callable[[], Catalogue]:
    """The current catalogue (file merged with synced products), read when first needed."""
    from bridge.cli.catalog import file_catalogue
    from bridge.services.catalogue import load_catalogue

    return lambda: load_catalogue(app.engine, file_catalogue(app.settings)[0])


@click.group("credentials", invoke_without_command=True)
@json_option
@click.pass_context
def credentials(ctx: click.Context, as_json: bool) -> None:
    """Open Badges 3.0 credentials (verifiable badges).

    For passed assessments and accepted projects: an assessment_passed or project_accepted
    event (POST /api/v1/events, `bridge events import`) issues one; so does `bridge
    credentials issue`. Each is a VC-JWT signed with the
    key in BRIDGE_CREDENTIAL_KEY_FILE, published at BRIDGE_PUBLIC_URL/credentials/<id>.
    Without a command: the list (`bridge credentials list`).
    """
    if ctx.invoked_subcommand is None:
        ctx.invoke(list_command, sku=None, learner_ref=None, as_json=as_json)


@credentials.command("issue")
@click.argument("email", metavar="LEARNER")
@click.argument("sku")
@click.option(
    "--evidence", metavar="URL", multiple=True, help="A URL showing the work (repeat for several)."
)
@json_option
@click.pass_context
def issue_command(
    ctx: click.Context, email: str, sku: str, evidence: tuple[str, ...], as_json: bool
) -> None:
    """Issue a credential by hand.

    Issues LEARNER's (an e-mail, current or former, or a customer id) credential for the
    assessment or project SKU. The learner must hold access to SKU (they bought it) and its
    catalogue entry must name a competency. If they already hold a live credential for SKU,
    that one is shown instead. The learner gets a customer note with the link on the order
    that sold the SKU.
    """
    for url in evidence:
        if not EVIDENCE.fullmatch(url):
            raise CredentialCommandError(f"--evidence {url[:60]!r} is not an http(s) URL")
    app = _app(ctx)
    engine = app.ready_engine()
    setup = issuing_factory(app.settings, catalogue_loader(app))()
    with unit_of_work(engine) as session:
        learner = require_learner(session, email)
        try:
            result = issue_credential(
                session,
                setup,
                learner,
                sku,
                evidence=evidence,
                now=utcnow(),
                source_key=manual_source_key(session, learner, sku),
            )
        except CredentialRefused as exc:
            raise CredentialCommandError(str(exc)) from None
        session.commit()
    data = {
        **credential_summary(result.credential, setup.public_url),
        "learner": learner.email,
        "sku": sku,
        "issued_now": result.created,
    }

    def render(data: dict[str, Any]) -> None:
        verb = "issued" if data["issued_now"] else "already held"
        click.echo(f"{verb}: {data['learner']} {data['sku']} {data['url']}")

    emit(data, as_json, render)


@credentials.command("list")
@click.option("--sku", help="Only this micro-SKU's credentials.")
@click.option(
    "--learner",
    "learner_ref",
    metavar="LEARNER",
    help="Only this learner's (an e-mail or customer id).",
)
@json_option
@click.pass_context
def list_command(
    ctx: click.Context, sku: str | None, learner_ref: str | None, as_json: bool
) -> None:
    """Issued credentials and their status.

    Each with its id, learner, SKU, issue date, status (and revocation reason) and URL.
    """
    app = _app(ctx)
    public_url = require_public_url(app.settings)
    with unit_of_work(app.ready_engine()) as session:
        learner_id = None
        if learner_ref:
            learner_id = require_learner(session, learner_ref).id
        rows = list_credentials(session, public_url, sku=sku, learner_id=learner_id)

    def render(rows: list[dict[str, Any]]) -> None:
        if not rows:
            click.echo("no credentials issued yet")
            return
        cells = [
            [row["id"], row["learner"], row["sku"], row["issued_at"][:10], row["status"]]
            for row in rows
        ]
        for line in table(["id", "learner", "sku", "issued", "status"], cells, shrink=[1]):
            click.echo(line)
        for row in rows:
            if row["reason"]:
                click.echo(f"{row['id']} revoked: {row['reason']}")
        click.echo(
            f"each at {rows[0]['url'].rsplit('/', 1)[0]}/ID; `bridge credentials show "
            "ID` decodes one"
        )

    emit(rows, as_json, render)


@credentials.command("show")
@click.argument("credential_id", metavar="ID")
@json_option
@click.pass_context
def show_command(ctx: click.Context, credential_id: str, as_json: bool) -> None:
    """One credential, decoded.

    The credential ID (its UUID or URL) as signed, its status and whether its signature holds.
    """
    app = _app(ctx)
    public_url = require_public_url(app.settings)
    with unit_of_work(app.ready_engine()) as session:
        row = find_credential(session, credential_id)
        if row is None:
            raise CredentialNotFound(
                f"no credential {credential_id!r}; `bridge credentials list` shows them"
            )
        verified = verify_token(session, row.jwt, public_url) is not None
    data = {
        "id": row.uuid,
        "status": CredentialStatus.REVOKED if row.revoked_at else CredentialStatus.ACTIVE,
        "signature": "valid" if verified else "invalid",
        "credential": row.document,
        "jwt": row.jwt,
    }
    emit(data, as_json, lambda data: click.echo(json.dumps(data, indent=2)))


@credentials.command("revoke")
@click.argument("credential_id", metavar="ID")
@click.option("--reason", required=True, help="Why (kept in the bridge; not published).")
@json_option
@click.pass_context
def revoke_command(ctx: click.Context, credential_id: str, reason: str, as_json: bool) -> None:
    """Revoke a credential.

    Sets the bit of credential ID (its UUID or URL) in the status list and re-signs the list.
    The reason stays in the bridge.
    """
    app = _app(ctx)
    public_url = require_public_url(app.settings)
    signer = Signer(signing_key(app.settings), public_url)
    with unit_of_work(app.ready_engine()) as session:
        try:
            row, changed = revoke_credential(session, signer, credential_id, reason)
        except CredentialRefused as exc:
            raise CredentialCommandError(str(exc)) from None
        session.commit()
    data = {
        "id": row.uuid,
        "revoked_now": changed,
        "status_index": row.status_index,
        "revoked_at": row.revoked_at.strftime("%Y-%m-%dT%H:%M:%SZ") if row.revoked_at else None,
    }

    def render(data: dict[str, Any]) -> None:
        if data["revoked_now"]:
            click.echo(f"revoked {data['id']}; the status list is re-signed")
        else:
            click.echo(f"{data['id']} was already revoked on {data['revoked_at']}")

    emit(data, as_json, render)


@credentials.command("rotate-key")
@json_option
@click.pass_context
def rotate_key_command(ctx: click.Context, as_json: bool) -> None:
    """Replace the signing key.

    A fresh key in BRIDGE_CREDENTIAL_KEY_FILE; every old public key stays in the JWKS, so
    credentials signed before keep verifying.
    """
    app = _app(ctx)
    require_public_url(app.settings)
    with unit_of_work(app.ready_engine()) as session:
        fresh = rotate_key(session, app.settings)
        session.commit()
    data = {"key_file": str(app.settings.credentials.key_file), "thumbprint": fresh.thumbprint}
    emit(
        data,
        as_json,
        lambda data: click.echo(
            f"new signing key {data['thumbprint']} in {data['key_file']}; the old public key stays "
            "in the JWKS"
        ),
    )
