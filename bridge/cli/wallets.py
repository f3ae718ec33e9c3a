"""`bridge apps`: the apps (wallets, employers' systems) registered for the Open Badges 3.0 API,
and blocking one."""

from __future__ import annotations

from typing import Any

import click

from bridge.cli.context import AppContext, emit, json_option, pass_ctx
from bridge.errors import PermanentError


class UnknownApp(PermanentError):
    """No registered app has that client id, or it is blocked already."""


@click.group(
    "apps",
    invoke_without_command=True,
    short_help="Apps connected through the Open Badges API; block one.",
)
@json_option
@click.pass_context
def apps(ctx: click.Context, as_json: bool) -> None:
    """Apps connected through the Open Badges 3.0 API (wallets, employers' systems).

    Lists them (the default) with their client id, redirect URIs, how many learners each can
    read and whether it is blocked; `bridge apps block CLIENT_ID` blocks one.
    """
    if ctx.invoked_subcommand is None:
        ctx.invoke(list_command, as_json=as_json)


@apps.command("list")
@json_option
@pass_ctx
def list_command(app: AppContext, as_json: bool) -> None:
    """List the registered apps, first registered first."""
    from bridge.services.wallets import list_clients
    from bridge.store.db import unit_of_work

    with unit_of_work(app.ready_engine(), read_only=True) as session:
        rows = list_clients(session)

    def render(rows: list[dict[str, Any]]) -> None:
        if not rows:
            click.echo("no app has registered yet")
        for row in rows:
            state = f"blocked {row['blocked_at'][:10]}" if row["blocked_at"] else "active"
            click.echo(
                f"{row['name'][:30]:<30} {row['client_id'][:24]:<24} "
                f"{row['learners']:>4} learners  {state}"
            )

    emit(rows, as_json, render)


@apps.command("block")
@click.argument("client_id")
@click.option("--reason", default="", help="Why (kept in the audit trail).")
@click.option("--by", default=None, help="Who blocks it (default: BRIDGE_OPERATOR, the OS user).")
@json_option
@pass_ctx
def block_command(
    app: AppContext, client_id: str, reason: str, by: str | None, as_json: bool
) -> None:
    """Block an app and revoke its tokens.

    Its tokens are revoked for every learner and it gets no new ones.
    """
    from bridge.services.audit import Via, operator_of, record_action
    from bridge.services.wallets import block_client
    from bridge.store.db import unit_of_work
    from bridge.store.models import utcnow

    operator = operator_of(by, app.settings.console.operator)
    with unit_of_work(app.ready_engine()) as session:
        if not block_client(session, client_id, operator, utcnow()):
            raise UnknownApp(f"no app {client_id[:64]!r} to block (unknown, or blocked already)")
        record_action(
            session,
            operator=operator,
            via=Via.CLI,
            action="wallet_client.block",
            subject=f"wallet_client:{client_id}",
            reason=reason.strip()[:500] or None,
        )
        session.commit()
    emit(
        {"blocked": client_id},
        as_json,
        lambda d: click.echo(f"blocked {d['blocked']}: its tokens are revoked"),
    )
