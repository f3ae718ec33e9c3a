"""`bridge operators`: the people who may log in to the console, and what they may do."""

from __future__ import annotations

import sys

import click

from bridge.cli.audited import audit_cli
from bridge.cli.context import AppContext, emit, json_option, pass_ctx
from bridge.services.operations import (
    ROLES,
    OperatorError,
    add_operator,
    list_operators,
    remove_operator,
)


@click.group(invoke_without_command=True)
@json_option
@click.pass_context
def operators(ctx: click.Context, as_json: bool) -> None:
    """People who may log in to the console.

    Add, list (the default) and remove them. An admin may change things (grant credits,
    retry dead rows); a viewer only looks.
    """
    if ctx.invoked_subcommand is None:
        ctx.invoke(list_command, as_json=as_json)


def _read_password(from_stdin: bool) -> str:
    if from_stdin:
        lines = sys.stdin.read().splitlines()
        if not lines:
            raise OperatorError("no password on standard input")
        return lines[0]
    first = click.prompt("Password", hide_input=True)
    if click.prompt("Repeat it", hide_input=True) != first:
        raise OperatorError("the two passwords differ")
    return str(first)


@operators.command("add")
@click.argument("email")
@click.option(
    "--password-stdin",
    is_flag=True,
    help="Read the password from the first line of standard input (for scripts).",
)
@click.option(
    "--role",
    type=click.Choice(ROLES),
    default="admin",
    show_default=True,
    help="admin may change things; viewer may only look.",
)
@json_option
@pass_ctx
def add_command(
    app: AppContext, email: str, password_stdin: bool, role: str, as_json: bool
) -> None:
    """Add an operator, or set an existing one's password and role.

    The password (10 characters or more) is asked for twice, or read from standard input
    with --password-stdin; only its argon2id hash is stored. A new password ends the
    operator's console sessions.
    """
    password = _read_password(password_stdin)
    engine = app.ready_engine()
    operator = add_operator(engine, email, password, role)
    audit_cli(app, "operator.add", f"operator:{operator.email}", details={"role": role})
    emit(
        operator.as_dict(),
        as_json,
        lambda d: click.echo(f"operator {d['email']} ({d['role']}) may log in at /console/login"),
    )


@operators.command("list")
@json_option
@pass_ctx
def list_command(app: AppContext, as_json: bool) -> None:
    """List the operators with their role and last login."""
    rows = [operator.as_dict() for operator in list_operators(app.ready_engine())]

    def render(rows: list[dict[str, object]]) -> None:
        if not rows:
            click.echo("no operators yet: `bridge operators add EMAIL`")
        for row in rows:
            last = str(row["last_login_at"] or "never")[:16].replace("T", " ")
            click.echo(f"{row['email']:<40} {row['role']:<7} last login {last}")

    emit(rows, as_json, render)


@operators.command("remove")
@click.argument("email")
@json_option
@pass_ctx
def remove_command(app: AppContext, email: str, as_json: bool) -> None:
    """Remove an operator; their console sessions end at once."""
    remove_operator(app.ready_engine(), email)
    audit_cli(app, "operator.remove", f"operator:{email.strip().lower()}")
    emit({"removed": email}, as_json, lambda d: click.echo(f"removed operator {d['removed']}"))
