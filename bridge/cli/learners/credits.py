"""`bridge tokens` (API bearer tokens) and `bridge credits redeem|refund`.

Registered on the ``bridge`` group by bridge.cli.main; shared helpers come from bridge.cli.context.
``credits`` is the group other modules attach further credit commands to.
"""

from __future__ import annotations

import hashlib
from typing import Any

import click

from bridge.cli.audited import audit_cli
from bridge.cli.context import AppContext, emit, json_option
from bridge.errors import PermanentError
from bridge.rules.words import amount_text, credit_text
from bridge.services.bookings import (
    IDEMPOTENCY_KEY,
    IdempotencyKeyReused,
    redeem_in_transaction,
    refund_in_transaction,
)
from bridge.services.learners import unknown_learner
from bridge.services.ledger import UnknownLearner
from bridge.services.operations import (
    SCOPES,
    TokenError,
    create_token,
    list_tokens,
    parse_scopes,
    revoke_token,
    scope_names,
)
from bridge.store.db import unit_of_work
from bridge.store.models import ApiToken


def _app(ctx: click.Context) -> AppContext:
    return ctx.find_root().obj


def _token_data(row: ApiToken) -> dict[str, Any]:
    return {
        "name": row.name,
        "scope": row.scope,
        "scopes": scope_names(row.scope),
        "created_at": row.created_at.isoformat(),
        "last_used_at": row.last_used_at.isoformat() if row.last_used_at else None,
        "revoked_at": row.revoked_at.isoformat() if row.revoked_at else None,
    }


def _when(value: str | None) -> str:
    return value[:16].replace("T", " ") if value else "never"


@click.group("tokens", invoke_without_command=True)
@json_option
@click.pass_context
def tokens(ctx: click.Context, as_json: bool) -> None:
    """API bearer tokens: create, list (the default), revoke."""
    if ctx.invoked_subcommand is None:
        ctx.invoke(tokens_list, as_json=as_json)


def _scopes(ctx: click.Context, param: click.Parameter, values: tuple[str, ...]) -> str:
    try:
        return parse_scopes(values)
    except TokenError as exc:
        raise click.BadParameter(str(exc)) from None


SCOPE_HELP = "; ".join(f"{name}: {what}" for name, what in SCOPES.items())


@tokens.command("create")
@click.argument("name")
@click.option(
    "--scope",
    "scope",
    multiple=True,
    required=True,
    callback=_scopes,
    metavar="SCOPE[,SCOPE]",
    help="What the token may do; repeat it or give a comma list. " + SCOPE_HELP + ".",
)
@json_option
@click.pass_context
def tokens_create(ctx: click.Context, name: str, scope: str, as_json: bool) -> None:
    """Make token NAME with the least scope it needs (shown once).

    The token is printed once and stored as a hash. A booking tool: --scope redeem,refunds.
    A project platform: --scope events. A phone that opens the report: --scope read.
    """
    with unit_of_work(_app(ctx).ready_engine()) as session:
        row, plain = create_token(session, name, scope)
        session.commit()
    audit_cli(_app(ctx), "token.create", f"token:{row.name}", details={"scope": row.scope})
    data = {**_token_data(row), "token": plain}

    def render(data: dict[str, Any]) -> None:
        click.echo(f"token {data['name']} (scope {data['scope']}):")
        click.echo(data["token"])
        click.echo(
            "store it now: it is not shown again. Send it as 'Authorization: Bearer <token>'.",
            err=True,
        )

    emit(data, as_json, render)


@tokens.command("list")
@json_option
@click.pass_context
def tokens_list(ctx: click.Context, as_json: bool) -> None:
    """List tokens, revoked ones too (never their values)."""
    with unit_of_work(_app(ctx).ready_engine()) as session:
        rows = [_token_data(row) for row in list_tokens(session)]

    def render(rows: list[dict[str, Any]]) -> None:
        if not rows:
            click.echo(
                "no tokens; make one with `bridge tokens create NAME --scope "
                "redeem,refunds` (scopes: " + ", ".join(SCOPES) + ")"
            )
            return
        width = max(len(row["name"]) for row in rows)
        scopes = max(len(row["scope"]) for row in rows)
        for row in rows:
            state = f"revoked {_when(row['revoked_at'])}" if row["revoked_at"] else "active"
            used = _when(row["last_used_at"])
            click.echo(
                f"{row['name']:<{width}}  {row['scope']:<{scopes}}  {state:<24}  "
                f"created {_when(row['created_at'])}  last used {used}"
            )

    emit(rows, as_json, render)


@tokens.command("revoke")
@click.argument("name")
@json_option
@click.pass_context
def tokens_revoke(ctx: click.Context, name: str, as_json: bool) -> None:
    """Revoke the active token NAME; it gets 401 from now on."""
    with unit_of_work(_app(ctx).ready_engine()) as session:
        row = revoke_token(session, name)
        session.commit()
    audit_cli(_app(ctx), "token.revoke", f"token:{row.name}")
    emit(_token_data(row), as_json, lambda data: click.echo(f"revoked token {data['name']}"))


# What each field of a redemption is called on the command line.
REDEEM_FLAGS = {
    "learner": "LEARNER",
    "credit_type": "--type",
    "amount": "--amount",
    "reference": "--reference",
    "mentor": "--mentor",
}


def _default_key(reference: str) -> str:
    """cli:REFERENCE, or a hash of it when it would not make a valid Idempotency-Key."""
    key = f"cli:{reference.strip()}"
    if IDEMPOTENCY_KEY.match(key):
        return key
    return "cli:sha256:" + hashlib.sha256(reference.strip().encode()).hexdigest()


@click.group("credits")
def credits() -> None:
    """Grant, revoke, redeem and refund learners' credits.

    grant and revoke adjust by hand (audited ledger rows); redeem spends on a booking and
    refund credits a redemption back, by the same rules as the API.
    """


@credits.command("redeem")
@click.argument("learner")
@click.option("--type", "credit_type", required=True, help="Credit type, e.g. mentor_minutes.")
@click.option("--amount", required=True, type=int, help="How many to spend (more than 0).")
@click.option("--reference", required=True, help="The booking this pays for.")
@click.option("--mentor", default=None, help="Who gives the session.")
@click.option(
    "--idempotency-key",
    default=None,
    help="Repeat-safe key; defaults to cli:REFERENCE, so re-running the same booking "
    "reports the first redemption instead of spending twice.",
)
@json_option
@click.pass_context
def credits_redeem(
    ctx: click.Context,
    learner: str,
    credit_type: str,
    amount: int,
    reference: str,
    mentor: str | None,
    idempotency_key: str | None,
    as_json: bool,
) -> None:
    """Spend a learner's credits on a booking.

    LEARNER is an e-mail (current or former) or a customer id. Same rules as the API.
    """
    body = {
        "learner": learner,
        "credit_type": credit_type,
        "amount": amount,
        "reference": reference,
        "mentor": mentor,
    }
    key = idempotency_key or _default_key(reference)
    engine = _app(ctx).ready_engine()
    try:
        result = redeem_in_transaction(engine, body, key)
    except UnknownLearner:
        with unit_of_work(engine) as session:
            raise unknown_learner(session, learner) from None
    except IdempotencyKeyReused as exc:
        if not exc.differences:
            raise
        which = (
            f"--idempotency-key {idempotency_key}"
            if idempotency_key
            else f"--reference {reference.strip()}"
        )
        what = ", ".join(
            f"{REDEEM_FLAGS[name]} {first or 'none'} (now {now or 'none'})"
            for name, (first, now) in sorted(exc.differences.items())
        )
        raise PermanentError(
            f"{which} was redeemed before (redemption {exc.first_id}) with {what}; a different "
            "booking needs its own --reference, a repeat the same flags"
        ) from None
    data = {**result.body, "replayed": result.replayed}

    def render(data: dict[str, Any]) -> None:
        if data["replayed"]:
            same = f"key {key}" if idempotency_key else f"reference {reference.strip()}"
            click.echo(
                f"already redeemed with the same {same}: redemption {data['id']}; "
                "nothing spent again"
            )
            return
        click.echo(
            f"redeemed {credit_text(data['amount'], data['credit_type'])} of "
            f"{data['learner']['email']} for {data['reference']} "
            f"(redemption {data['id']}); "
            f"{amount_text(data['balance_after'], data['credit_type'])} left"
        )

    emit(data, as_json, render)


@credits.command("refund")
@click.argument("redemption_id", type=click.IntRange(min=1))
@json_option
@click.pass_context
def credits_refund(ctx: click.Context, redemption_id: int, as_json: bool) -> None:
    """Credit a redemption back, once (a cancelled booking)."""
    result = refund_in_transaction(_app(ctx).ready_engine(), redemption_id)
    data = {**result.body, "refunded_now": result.refunded_now}

    def render(data: dict[str, Any]) -> None:
        if not data["refunded_now"]:
            click.echo(
                f"redemption {data['id']} was refunded before, at "
                f"{_when(data['refunded_at'])}; nothing credited again"
            )
            return
        click.echo(
            f"refunded {credit_text(data['amount'], data['credit_type'])} to "
            f"{data['learner']['email']} (redemption {data['id']}); "
            f"{amount_text(data['balance_after'], data['credit_type'])} now"
        )

    emit(data, as_json, render)
