"""`bridge learners export` and `bridge learners erase`: a learner's access and erasure requests."""

from __future__ import annotations

import json
from typing import Any

import click

from bridge.cli.context import AppContext, emit, json_option, pass_ctx
from bridge.services.audit import Via, operator_of, record_action
from bridge.services.ledger import UnknownLearner
from bridge.services.privacy import (
    SECTIONS,
    credential_signer,
    erase_in_transaction,
    export_learner,
    find_for_privacy,
    wordpress_pages,
)
from bridge.store.db import unit_of_work


@click.command("export")
@click.argument("ref", metavar="LEARNER")
@click.option(
    "--wordpress",
    is_flag=True,
    help="Print the export as a WordPress personal-data exporter's pages ({data, done}).",
)
@click.option("--by", default=None, help="Who asks (the audit row); default BRIDGE_OPERATOR.")
@json_option
@pass_ctx
def export_command(
    app: AppContext, ref: str, wordpress: bool, by: str | None, as_json: bool
) -> None:
    """Everything held about a learner, for their access request.

    LEARNER is an e-mail (current or former) or a WooCommerce customer id. Identity and former
    e-mails, orders, ledger, seats, access, subscriptions, bookings, redemptions, claims,
    events, credentials and records with their ids, notes and coupons, page-link openings and
    the shop's deliveries about them. --json prints all of it (hand that file to the learner);
    the default is a summary. An audit row records who exported whom (no personal data).
    """
    with unit_of_work(app.ready_engine()) as session:
        learner = find_for_privacy(session, ref)
        if learner is None:
            raise UnknownLearner(f"no learner is known as {ref!r}")
        data = export_learner(session, learner)
        record_action(
            session,
            operator=operator_of(by, app.settings.console.operator),
            via=Via.CLI,
            action="learner.export",
            subject=f"learner:{learner.id}",
        )
        session.commit()
    if wordpress:
        click.echo(json.dumps(wordpress_pages(data), indent=2, ensure_ascii=False))
        return

    def render(data: dict[str, Any]) -> None:
        who = data["learner"]
        click.echo(f"learner {who['id']}: {who['email']} {who['name']}".rstrip())
        for name, rows in data["sections"].items():
            click.echo(f"  {SECTIONS[name][0]:<22} {len(rows)}")
        click.echo("--json prints every row (hand that file to the learner)")

    emit(data, as_json, render)


@click.command("erase")
@click.argument("ref", metavar="LEARNER")
@click.option("--dry-run", is_flag=True, help="Say what would be erased; change nothing.")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@click.option("--reason", default="", help="Why (kept in the audit row; no personal data).")
@click.option("--by", default=None, help="Who erases (the audit row); default BRIDGE_OPERATOR.")
@json_option
@pass_ctx
def erase_command(
    app: AppContext,
    ref: str,
    dry_run: bool,
    yes: bool,
    reason: str,
    by: str | None,
    as_json: bool,
) -> None:
    """Erase a learner's personal data, for their erasure request.

    E-mails and name are replaced by a stable pseudonym (erased-ID) everywhere the bridge kept
    them; ledger amounts, order ids, dates and seats stay as financial records ("retained");
    credentials are revoked in the status list and lose their subject; booking and page links
    stop working; the shop's deliveries about them lose their bodies. Orders the shop sends
    again resolve to the pseudonym. Erasing again changes nothing. The shop's own copy is
    erased in WooCommerce (Tools > Erase Personal Data). Asks first unless --yes or --dry-run.
    """
    engine = app.ready_engine()
    with unit_of_work(engine) as session:
        learner = find_for_privacy(session, ref)
        if learner is None:
            raise UnknownLearner(f"no learner is known as {ref!r}")
        already = learner.erased_at is not None
    if not (yes or dry_run or already or as_json):
        click.confirm(
            f"erase learner {learner.id}'s e-mails and name for good (the ledger stays)?",
            abort=True,
        )
    elif as_json and not (yes or dry_run or already):
        raise click.UsageError("--json cannot ask: add --yes (or --dry-run)")
    report = erase_in_transaction(
        engine,
        ref,
        dry_run=dry_run,
        operator=operator_of(by, app.settings.console.operator),
        via=Via.CLI,
        signer_for=credential_signer(app.settings),
        reason=reason,
    )

    def render(data: dict[str, Any]) -> None:
        if data["already_erased"]:
            click.echo(f"learner {data['learner_id']} was erased already: nothing changed")
            return
        verb = "would erase" if data["dry_run"] else "erased"
        click.echo(f"{verb} learner {data['learner_id']}, now {data['pseudonym']}")
        for kind, count in data["removed"].items():
            if count:
                click.echo(f"  removed  {kind}: {count}")
        for kind, count in data["retained"].items():
            click.echo(f"  retained {kind}: {count}")
        for message in data["messages"]:
            click.echo(f"  {message}")

    emit(report.as_dict(), as_json, render)
