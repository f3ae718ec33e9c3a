"""`bridge learner` and the manual `bridge credits grant|revoke` adjustments."""

from __future__ import annotations

import getpass
import uuid
from typing import Any

import click

from bridge.cli.context import AppContext, emit, json_option
from bridge.cli.credentials import learner_pathways, render_pathways
from bridge.cli.learners.credits import credits
from bridge.cli.learners.page_link import page_link_record, render_page_link
from bridge.cli.output import table
from bridge.errors import PermanentError
from bridge.rules.bookings.events import Attendance
from bridge.rules.inbound.payloads import unstorable
from bridge.rules.words import amount_text, credit_text
from bridge.services.audit import Via, operator_of
from bridge.services.bookings import link_made_at
from bridge.services.learners import (
    FORCE,
    NEW_LEARNER,
    NEW_TYPE,
    AdjustmentRefused,
    apply_adjustment,
    check_adjustment,
    conferred_credit_types,
    learner_record,
    require_learner,
)
from bridge.services.ledger import owes
from bridge.store.db import unit_of_work
from bridge.store.ids import id_of


def _app(ctx: click.Context) -> AppContext:
    return ctx.find_root().obj


def _emit(data: Any, as_json: bool, render: Any) -> None:
    emit(data, as_json, render)


def _render_learner(data: dict[str, Any]) -> None:
    who = data["learner"]
    former = f" (formerly {', '.join(who['former_emails'])})" if who["former_emails"] else ""
    customer = f"customer #{who['customer_id']}" if who["customer_id"] else "guest"
    click.echo(f"{who['email']}{former}, {customer}")
    click.echo("balances:")
    for credit_type, amount in sorted(data["balances"].items()):
        owing = "  (owes: a refund reversed credits already spent)" if amount < 0 else ""
        click.echo(f"  {credit_type:<20} {amount_text(amount, credit_type):>11}{owing}")
    if not data["balances"]:
        click.echo("  none")
    if data["seats"]:
        click.echo("seats:")
        for seat in data["seats"]:
            where = f" #{seat['position']} on the waitlist" if seat["position"] else ""
            click.echo(f"  {seat['cohort']:<14} {seat['status']}{where} (order {seat['order_id']})")
    if data["access"]:
        click.echo("access:")
        for window in data["access"]:
            until = f"until {window['ends_at'][:10]}" if window["ends_at"] else "open-ended"
            state = (
                "revoked"
                if window["revoked_at"]
                else ("current" if window["current"] else "not current")
            )
            click.echo(f"  {window['kind']:<11} {window['offer_sku']:<18} {until} ({state})")
    for sub in data.get("subscriptions") or []:
        perks = ", ".join(sub["perks"]) or "none"
        nxt = (sub.get("next_payment_at") or "")[:10] or "none"
        click.echo(
            f"subscription #{sub['id']}: {sub['status']}, perks: {perks}, next payment {nxt}"
        )
        period = sub.get("current_period")
        if period:
            click.echo(
                f"  last paid period {(period['starts_at'] or '')[:10]} to "
                f"{(period['ends_at'] or '')[:10]} (order {period['order_id']})"
            )
        upcoming = sub.get("next_grant")
        if upcoming:
            credits = ", ".join(credit_text(n, t) for t, n in sorted(upcoming["credits"].items()))
            when = (
                "when the unpaid renewal is paid"
                if upcoming["awaiting_payment"]
                else f"at the renewal on {(upcoming['at'] or '')[:10]}"
            )
            click.echo(f"  next grant: {credits or 'nothing'} {when}")
    coupons = data.get("coupons") or []
    if coupons:
        click.echo("coupons offered:")
        cells = []
        for coupon in coupons:
            off = (
                f"{coupon['amount']}%" if coupon["discount_type"] == "percent" else coupon["amount"]
            )
            until = (coupon["expires_at"] or "")[:10] or "-"
            where = "in the shop" if coupon["in_shop"] else "queued"
            cells.append([coupon["code"], f"{off} off {', '.join(coupon['offers'])}", until, where])
        for line in table(["code", "discount", "expires", "shop"], cells, indent="  ", shrink=[1]):
            click.echo(line)
    click.echo("ledger:")
    cells = []
    for row in data["recent_ledger"]:  # newest first, as the console shows it
        cells.append(
            [
                row["created_at"][:16].replace("T", " "),
                amount_text(row["amount"], row["credit_type"], signed=True),
                row["credit_type"],
                row["reason"],
                _source(row),
                row.get("actor") or "-",
            ]
        )
    if cells:
        for line in table(
            ["when", "amount", "credit type", "reason", "from", "by"],
            cells,
            right=[1],
            shrink=[4, 5],
            indent="  ",
        ):
            click.echo(line)
    else:
        click.echo("  no entries")
    if data.get("bookings"):
        click.echo("bookings:")
        for row in reversed(data["bookings"]):
            when = (row["starts_at"] or "")[:16].replace("T", " ") or "(time unknown)"
            spent = credit_text(row["amount"], row["credit_type"]) if row["credit_type"] else "-"
            attendance = "" if row["attendance"] == Attendance.BOOKED else f", {row['attendance']}"
            click.echo(
                f"  {when}  {row['status']:<15} {spent:<20} with "
                f"{row['mentor'] or row['mentor_name'] or '?'} ({row['source']}"
                f"{attendance})"
            )
    if "booking_link_made_at" in data:
        made = data["booking_link_made_at"]
        click.echo(
            f"booking link: made {made[:10]} (bridge bookings link {who['email']} shows it)"
            if made
            else f"booking link: none yet (bridge bookings link "
            f"{who['email']} makes one; until then bookings that name only this "
            "e-mail are held for review)"
        )

    if data.get("pathways"):
        click.echo("pathways:")
        render_pathways(data["pathways"])
    if "page_url" in data:
        render_page_link(data)


# What a ledger row without an order came from, when its note does not say.
SOURCES = {
    "complimentary": "the first mentor call, on the house",
    "manual": "by hand",
    "redemption": "a booking",
    "redemption_refund": "a cancelled booking",
}


def _source(row: dict[str, Any]) -> str:
    """Where a ledger row came from, without repeating its reason."""
    if row["order_id"]:
        sku = f" ({row['offer_sku']})" if row.get("offer_sku") else ""
        return f"order {row['order_id']}{sku}"
    return row["note"] or SOURCES.get(row["reason"], "-")


@click.command("learner")
@click.argument("learner_ref", metavar="LEARNER")
@click.option("--history", default=200, show_default=True, help="Ledger rows to show.")
@click.option(
    "--new-link",
    is_flag=True,
    help="Give the learner a new personal page link; the old one stops working at once.",
)
@json_option
@click.pass_context
def learner(
    ctx: click.Context, learner_ref: str, history: int, new_link: bool, as_json: bool
) -> None:
    """Show a learner's credits, seats, coupons and history.

    LEARNER is an e-mail (current or former) or a customer id. Balances by credit type,
    seats (active, or waitlisted with position), access windows, subscriptions, the personal
    coupons offered, and the ledger, newest first; then their personal page's address
    (``page_url``, made when they have none) and when it was last opened.
    """
    engine = _app(ctx).ready_engine()
    with unit_of_work(engine) as session:
        found = require_learner(session, learner_ref)
        data = learner_record(session, found, recent=history)
        made = link_made_at(session, id_of(found))
        data["booking_link_made_at"] = made.isoformat() if made else None
    with unit_of_work(engine) as session:
        data.update(page_link_record(session, id_of(found), _app(ctx).settings, new=new_link))
        session.commit()
    data["pathways"] = learner_pathways(_app(ctx), id_of(found))
    _emit(data, as_json, _render_learner)


@click.command("owes")
@json_option
@click.pass_context
def owes_command(ctx: click.Context, as_json: bool) -> None:
    """List learners whose balance went negative.

    A refund reversed credits they had already spent.
    """
    engine = _app(ctx).ready_engine()
    with unit_of_work(engine) as session:
        rows = [
            {
                "email": lr.email,
                "customer_id": lr.woo_customer_id,
                "credit_type": t,
                "balance": amount,
            }
            for lr, t, amount in owes(session)
        ]

    def render(rows: list[dict[str, Any]]) -> None:
        if not rows:
            click.echo("nobody owes credits")
        for row in rows:
            click.echo(
                f"  {row['email']:<32} {row['credit_type']:<18} "
                f"{amount_text(row['balance'], row['credit_type']):>11}"
            )

    _emit(rows, as_json, render)


def os_user() -> str:
    """Who runs the command, for the audit row when --by is not given."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry (some containers)
        return "unknown"


def known_credit_types(app: AppContext) -> set[str]:
    """Credit types the catalogue (file and product meta) confers, and the complimentary call's."""
    from bridge.cli.catalog import file_catalogue

    engine = app.ready_engine()
    return conferred_credit_types(engine, file_catalogue(app.settings, engine)[0])


# How the CLI says which flag lifts a guard rail of a manual adjustment.
OVERRIDES = {
    FORCE: "--force allows a negative balance",
    NEW_TYPE: "--new-type adds it on purpose",
    NEW_LEARNER: "--new-learner gives to it as a new guest learner",
}


def _adjust(
    ctx: click.Context,
    ref: str,
    credit_type: str,
    amount: int,
    reason: str,
    as_json: bool,
    *,
    sign: int,
    by: str | None = None,
    force: bool = False,
    new_type: bool = False,
    new_learner: bool = False,
) -> None:
    """grant and revoke: the manual-credits service's guard rails, worded for the CLI."""
    if amount <= 0:
        raise click.BadParameter("must be greater than zero", param_hint="--amount")
    if not reason.strip():
        raise click.BadParameter("say why (it is kept on the ledger row)", param_hint="--reason")
    app = _app(ctx)
    operator = operator_of(by, app.settings.console.operator)
    for shown, value in (("the e-mail or customer id", ref), ("--by", operator)):
        problem = unstorable(value)
        if problem is not None:
            raise PermanentError(
                f"{shown} holds {problem}; type it again (an e-mail is name@domain)"
            )
    try:
        adjustment = check_adjustment(
            ref,
            credit_type,
            str(amount),
            reason,
            revoke=sign < 0,
            force=force,
            new_type=new_type,
            new_learner=new_learner,
        )
        result = apply_adjustment(
            app.ready_engine(),
            adjustment,
            f"cli:{uuid.uuid4().hex}",
            operator=operator,
            via=Via.CLI,
            known_types=known_credit_types(app),
        )
    except AdjustmentRefused as exc:
        hint = OVERRIDES.get(exc.override)
        if exc.override == NEW_LEARNER:
            raise PermanentError(f"{exc} ({hint})") from None
        raise PermanentError(f"{exc}{'; ' + hint if hint else ''}") from None
    data = {
        "learner": result["learner"],
        "credit_type": result["credit_type"],
        "amount": result["amount"],
        "ledger_entry_id": result["entry_id"],
        "balance": result["balance"],
        "by": operator,
        "learner_created": result["learner_created"],
    }

    def render(d: dict[str, Any]) -> None:
        if d["learner_created"]:
            click.echo(f"new learner {d['learner']} (a guest: known by e-mail until they buy)")
        click.echo(
            f"{credit_text(d['amount'], d['credit_type'], signed=True)} for "
            f"{d['learner']} by {d['by']} (ledger #{d['ledger_entry_id']}); balance now "
            f"{amount_text(d['balance'], d['credit_type'])}"
        )

    _emit(data, as_json, render)


adjust_options = [
    click.argument("learner_ref", metavar="LEARNER"),
    click.option("--type", "credit_type", required=True, help="Credit type, e.g. mentor_minutes."),
    click.option("--amount", required=True, type=int, help="How many (more than 0)."),
    click.option("--reason", required=True, help="Why; kept on the ledger row for the audit."),
    click.option(
        "--by",
        default=None,
        help="Who makes the adjustment, kept on the ledger row and the audit trail "
        "(default: BRIDGE_OPERATOR, else the OS user).",
    ),
    click.option(
        "--new-type",
        is_flag=True,
        help="Allow a credit type the catalogue does not confer (typos are refused).",
    ),
    json_option,
    click.pass_context,
]


def _with(options: list[Any], fn: Any) -> Any:
    for option in reversed(options):
        fn = option(fn)
    return fn


def grant(
    ctx: click.Context,
    learner_ref: str,
    credit_type: str,
    amount: int,
    reason: str,
    by: str | None,
    new_type: bool,
    new_learner: bool,
    as_json: bool,
) -> None:
    """Add credits by hand (an audited ledger row).

    LEARNER is an e-mail (current or former) or a customer id. An e-mail the bridge does
    not know yet becomes a guest learner (said so), so minutes can
    be gifted to a prospect; one that is a typo of a known e-mail is refused unless
    --new-learner.
    """
    _adjust(
        ctx,
        learner_ref,
        credit_type,
        amount,
        reason,
        as_json,
        sign=+1,
        by=by,
        new_type=new_type,
        new_learner=new_learner,
    )


def revoke(
    ctx: click.Context,
    learner_ref: str,
    credit_type: str,
    amount: int,
    reason: str,
    by: str | None,
    new_type: bool,
    force: bool,
    as_json: bool,
) -> None:
    """Take credits away by hand (an audited ledger row).

    LEARNER is an e-mail (current or former) or a customer id. Refused when the balance
    would go below zero, unless --force.
    """
    _adjust(
        ctx,
        learner_ref,
        credit_type,
        amount,
        reason,
        as_json,
        sign=-1,
        by=by,
        force=force,
        new_type=new_type,
    )


def attach_adjustments(group: click.Group) -> None:
    """Add `grant` and `revoke` to the `credits` group."""
    new_learner = click.option(
        "--new-learner",
        is_flag=True,
        help="Give to an e-mail nobody has even when it is close to a "
        "known one (typos are refused).",
    )
    group.add_command(
        click.command("grant")(
            _with([*adjust_options[:-2], new_learner, *adjust_options[-2:]], grant)
        )
    )
    force = click.option(
        "--force",
        is_flag=True,
        help="Allow the balance to go negative (it shows in `bridge owes`).",
    )
    group.add_command(
        click.command("revoke")(_with([*adjust_options[:-2], force, *adjust_options[-2:]], revoke))
    )


def credits_group() -> click.Group:
    """The `credits` group with `grant` and `revoke` (what `bridge credits` loads)."""
    if "grant" not in credits.commands:
        attach_adjustments(credits)
    return credits
