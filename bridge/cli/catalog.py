"""`bridge catalog`: micro-SKUs with their products and seats, the problems, sync and export.

Registered on the ``bridge`` group by bridge.cli.main; shared helpers come from bridge.cli.context.
"""

from __future__ import annotations

import contextlib
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
from sqlalchemy import Engine

from bridge.cli.context import AppContext, emit, json_option
from bridge.cli.output import MOMENT, activity, plural, usage_error
from bridge.rules.catalogue.catalog import Catalogue, cohort_dates, describe_offer
from bridge.rules.catalogue.catalog_file import build_manifest, render_html, render_markdown
from bridge.rules.catalogue.products import Problem, offer_prices
from bridge.services.catalogue import (
    CatalogueReport,
    apply_catalogue,
    catalogue_in_force,
    inspect_catalogue,
    sync_catalogue,
)
from bridge.services.operations import manual_run
from bridge.store.models import utcnow

if TYPE_CHECKING:
    from bridge.settings import Settings


FORMATS = {"md": render_markdown, "html": render_html, "json": None}


def file_catalogue(settings: Settings, engine: Engine) -> tuple[Catalogue, list[Problem]]:
    """The catalogue in force (as applied; the file is applied first when nothing was), with a
    warning when the file differs from it; no file and nothing applied: product meta alone."""
    path = Path(settings.catalogue.file)
    catalogue, status = catalogue_in_force(engine, path)
    if not status.applied:
        problem = Problem(
            "no_catalogue_file",
            f"catalogue file {path} not found: only product meta is used "
            "(set BRIDGE_CATALOG_FILE, or run `bridge init` to write the example)",
        )
        return catalogue, [problem]
    message = status.message()
    if message:
        return catalogue, [Problem("catalogue_not_applied", message, severity="warning")]
    return catalogue, []


def report_data(
    report: CatalogueReport, extra_problems: list[Problem], catalog_file: Path
) -> dict[str, Any]:
    """The report as plain data: what `--json` prints and what the text view renders."""
    catalogue = report.catalogue
    prices = offer_prices(catalogue, report.records)
    by_id = {record.woo_id: record for record in report.records}
    cohorts = {}
    for code, spec in sorted(catalogue.cohorts.items()):
        taken = report.seats_taken.get(code, 0)
        cohorts[code] = {
            "code": code,
            "title": spec.title,
            "starts_at": spec.starts_at.isoformat(),
            "ends_at": spec.ends_at.isoformat(),
            "timezone": spec.timezone,
            "dates": cohort_dates(spec),
            "mentors": spec.mentors,
            "learners_per_mentor": spec.learners_per_mentor,
            "assessment_slots": spec.assessment_slots,
            "capacity": spec.capacity,
            "taken": taken,
            "left": max(spec.capacity - taken, 0),
            "waitlist": spec.waitlist,
            "products": list(catalogue.cohort_products(code)),
        }
    offers = []
    for sku, offer in catalogue.offers.items():
        products = [
            {
                "woo_id": woo_id,
                "parent_id": by_id[woo_id].parent_id,
                "name": by_id[woo_id].name,
                "price": by_id[woo_id].price,
                "status": by_id[woo_id].status,
                "active": by_id[woo_id].active,
            }
            for woo_id in catalogue.woo_ids_for(sku, include_inactive=True)
            if woo_id in by_id
        ]
        offers.append(
            {
                "sku": sku,
                "kind": offer.kind,
                "source": offer.source,
                "title": offer.title,
                "price": prices.get(sku),
                "on_sale": catalogue.is_on_sale(sku),
                "confers": describe_offer(offer, catalogue),
                "credits_per_unit": catalogue.credits_per_unit(sku),
                "products": products,
                "cohort": cohorts.get(offer.cohort or "") if offer.kind == "cohort_seat" else None,
            }
        )
    problems = [*extra_problems, *report.problems]

    def shown(p: Problem) -> dict[str, Any]:
        return {"code": p.code, "message": p.message, "sku": p.sku, "woo_id": p.woo_id}

    return {
        "catalogue_file": str(catalog_file),
        "offers": offers,
        "cohorts": list(cohorts.values()),
        "problems": [shown(p) for p in problems if p.severity != "warning"],
        "warnings": [shown(p) for p in problems if p.severity == "warning"],
        # SKUs sold in paid orders that map to no micro-SKU (and are not marked as no offer).
        "unmapped_skus": [
            {
                "sku": u.sku,
                "lines": u.lines,
                "orders": u.orders,
                "units": u.units,
                "product_ids": list(u.product_ids),
                "order_ids": list(u.order_ids),
            }
            for u in report.unmapped
        ],
        "notes": list(report.resolution.notes),
    }


def render_report(data: dict[str, Any]) -> None:
    """The report for people: one block per micro-SKU, then cohorts, problems and notes."""
    echo = click.echo
    echo(
        f"Catalogue file: {data['catalogue_file']}  ({plural(len(data['offers']), 'micro-SKU')}, "
        f"{plural(len(data['cohorts']), 'cohort')})"
    )
    for offer in data["offers"]:
        echo("")
        echo(f"{offer['sku']}  {offer['kind']}  [{offer['source']}]  {offer['title']}")
        if not offer["products"]:
            echo("  sold by   no product")
        for product in offer["products"]:
            of = f" of product {product['parent_id']}" if product["parent_id"] else ""
            kind = "variation" if product["parent_id"] else "product"
            state = "" if product["active"] else "  (trashed: not sold)"
            echo(
                f"  sold by   {kind} {product['woo_id']}{of} {product['name']!r}, "
                f"price {product['price'] or '-'}{state}"
            )
        echo(f"  confers   {offer['confers']}")
        cohort = offer["cohort"]
        if cohort:
            echo(
                f"  seats     capacity {cohort['capacity']}, taken {cohort['taken']}, "
                f"left {cohort['left']}"
            )
    if data["cohorts"]:
        echo("")
        echo("Cohorts")
        for cohort in data["cohorts"]:
            slots = (
                f", {cohort['assessment_slots']} assessment slots"
                if cohort["assessment_slots"] is not None
                else ""
            )
            echo(
                f"  {cohort['code']}  {cohort['dates']}  capacity {cohort['capacity']} "
                f"({plural(cohort['mentors'], 'mentor')} x {cohort['learners_per_mentor']}"
                f"{slots}), "
                f"taken {cohort['taken']}, left {cohort['left']}"
            )
    echo("")
    if data["problems"]:
        echo(f"Problems ({len(data['problems'])})")
        for problem in data["problems"]:
            echo(f"  - {problem['message']}")
    else:
        echo("No problems.")
    if data["warnings"]:
        echo(f"Warnings ({len(data['warnings'])})")
        for warning in data["warnings"]:
            echo(f"  - {warning['message']}")
    if data["unmapped_skus"]:
        echo("SKUs sold in orders but missing from the catalogue")
        for row in data["unmapped_skus"]:
            echo(
                f"  {row['sku'] or '(none)':<24} {plural(row['lines'], 'line')} in "
                f"{plural(row['orders'], 'order')}, {plural(row['units'], 'unit')}"
            )
    if data["notes"]:
        echo("Notes")
        for note in data["notes"]:
            echo(f"  - {note}")


def ready_engine(ctx: click.Context) -> Engine:
    """The app's engine, schema checked, with its pool closed when the command ends."""
    app: AppContext = ctx.obj
    engine = app.ready_engine()
    # Connections left open would outlive the command (and warn under pytest on PostgreSQL).
    ctx.call_on_close(engine.dispose)
    return engine


@click.group("catalog", invoke_without_command=True)
@click.option(
    "--check",
    is_flag=True,
    help="Exit with status 1 when there are problems (for deploy pipelines).",
)
@click.option(
    "--strict",
    is_flag=True,
    help="With --check, warnings fail too (unmapped virtual products, SKUs sold that "
    "map to no micro-SKU).",
)
@json_option
@click.pass_context
def catalog(ctx: click.Context, check: bool, strict: bool, as_json: bool) -> None:
    """List micro-SKUs with products, seats, problems and warnings.

    Each micro-SKU with its WooCommerce product, price, what one unit confers and, for
    cohorts, capacity / taken / left; then the problems, the warnings and the SKUs sold in
    orders that are missing from the catalogue. With --check the exit status is 1 while any
    problem remains (--strict: or any warning).
    """
    if ctx.invoked_subcommand is not None:
        return
    from bridge.store.models import utcnow

    app: AppContext = ctx.obj
    settings = app.settings
    engine = ready_engine(ctx)
    catalogue, problems = file_catalogue(settings, engine)
    report = inspect_catalogue(
        engine, catalogue, now=utcnow(), file_name=str(settings.catalogue.file)
    )
    data = report_data(report, problems, settings.catalogue.file)
    emit(data, as_json, render_report)
    if check and (data["problems"] or (strict and data["warnings"])):
        ctx.exit(1)


@catalog.command("sync")
@click.option(
    "--since",
    "modified_after",
    type=MOMENT,
    default=None,
    metavar="DATE",
    help="Only products changed after this UTC date (YYYY-MM-DD) or time "
    "(YYYY-MM-DDTHH:MM:SS); default: everything.",
)
@click.option("--modified-after", "modified_after", type=MOMENT, hidden=True)  # old --since
@click.option("--dry-run", is_flag=True, help="Read the shop, report, store nothing.")
@json_option
@click.pass_context
def catalog_sync(ctx: click.Context, modified_after: Any, dry_run: bool, as_json: bool) -> None:
    """Import the shop's products and bind them to micro-SKUs."""
    from datetime import UTC

    from bridge.shop.client import WooClient

    app: AppContext = ctx.obj
    settings = app.settings
    if not settings.shop.url:
        click.echo("error: WOOCOMMERCE_URL is not set, so there is no shop to sync from", err=True)
        ctx.exit(1)
    engine = ready_engine(ctx)
    catalogue, problems = file_catalogue(settings, engine)
    for problem in problems:
        click.echo(f"warning: {problem.message}", err=True)
    if modified_after is not None and modified_after.tzinfo is None:
        modified_after = modified_after.replace(tzinfo=UTC)
    with contextlib.ExitStack() as stack:
        if not dry_run:  # a sync by hand is the catalog job's run, as `bridge sync catalog` is
            run = stack.enter_context(manual_run(engine, "catalog", utcnow))
        with WooClient(settings) as woo_client:
            result = sync_catalogue(
                engine, woo_client, catalogue, modified_after=modified_after, dry_run=dry_run
            )
        if not dry_run:
            run.update(fetched=result.products + result.variations, offers=result.offers)

    def render(_data: dict[str, Any]) -> None:
        click.echo(result.summary())
        for reason in result.rejected:
            click.echo(f"  rejected: {reason}")

    emit(result.as_dict(), as_json, render)


@catalog.command("export")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(sorted(FORMATS)),
    default=None,
    help="md or html for people, json for machines (default: from --output, else md).",
)
@click.option(
    "--output",
    "-o",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="File to write (default: standard output).",
)
@click.option(
    "--json", "as_json", is_flag=True, help="Print the JSON manifest (the same as --format json)."
)
@click.pass_context
def catalog_export(ctx: click.Context, fmt: str | None, output: Path | None, as_json: bool) -> None:
    """Write the competency catalogue (Markdown, HTML or JSON).

    Each competency with the micro-SKUs that evidence it, their kind, duration and price. The
    JSON manifest follows schemas/competency-catalogue.schema.json.
    """
    from bridge.store.models import utcnow

    app: AppContext = ctx.obj
    settings = app.settings
    if as_json:
        if fmt not in (None, "json"):
            raise usage_error(f"--json prints JSON; it does not go with --format {fmt}")
        fmt = "json"
    if fmt is None:
        suffix = output.suffix.lstrip(".").lower() if output else ""
        fmt = {"htm": "html", "markdown": "md"}.get(suffix, suffix)
        fmt = fmt if fmt in FORMATS else "md"
    catalogue, problems = file_catalogue(settings, ready_engine(ctx))
    for problem in problems:
        click.echo(f"warning: {problem.message}", err=True)
    from bridge.services.credentials import achievement_links, pathway_links

    with activity("reading the catalogue and the shop's products as last synced"):
        report = inspect_catalogue(
            ready_engine(ctx), catalogue, file_name=str(settings.catalogue.file)
        )
        prices = offer_prices(report.catalogue, report.records)
        links = achievement_links(report.catalogue, settings.web.public_url)
        manifest = build_manifest(
            report.catalogue,
            prices,
            utcnow(),
            links if links else None,
            pathway_links(report.catalogue, settings.web.public_url),
        )
    render = FORMATS[fmt]
    text = (
        json.dumps(manifest, indent=2, ensure_ascii=False) + "\n"
        if render is None
        else render(manifest)
    )
    if output is None:
        click.echo(text, nl=False)
        return
    output.write_text(text, encoding="utf-8")
    click.echo(f"wrote {output} ({fmt}, {plural(len(manifest['competencies']), 'competency')})")


@catalog.command("apply")
@click.option(
    "--dry-run",
    is_flag=True,
    help="Show what applying would change (offers, cohorts, seats, waitlists), then roll back.",
)
@click.option(
    "--by",
    default=None,
    help="Who applies it, kept on the audit trail (default: BRIDGE_OPERATOR, else the OS user).",
)
@json_option
@click.pass_context
def catalog_apply(ctx: click.Context, dry_run: bool, by: str | None, as_json: bool) -> None:
    """Apply the catalogue file: what everything reads from then on.

    Every command, page and job reads the applied catalogue. Stores the file's text with what
    changes (offers and cohorts added, removed, edited) and what that does to seats: a cohort
    whose capacity went up promotes its waitlist in purchase order (each told in a note), one
    whose capacity went down keeps every held seat (over capacity until seats free up); their
    stock in the shop is queued. A running `bridge serve` uses the applied catalogue on its next
    request. --dry-run shows it all and stores nothing.
    """
    from bridge.services.audit import Via, operator_of

    app: AppContext = ctx.obj
    settings = app.settings
    engine = ready_engine(ctx)
    result = apply_catalogue(
        engine,
        settings.catalogue.file,
        settings,
        operator=operator_of(by, settings.console.operator),
        via=Via.CLI,
        dry_run=dry_run,
    )

    def render(data: dict[str, Any]) -> None:
        if result.unchanged:
            click.echo(f"{result.file} is the catalogue in force already: nothing to apply")
            return
        verb = "would apply" if dry_run else "applied"
        click.echo(f"{verb} {result.file}: {plural(len(result.changes), 'change')}")
        for change in result.changes:
            click.echo(f"  {change.describe()}")
        for effect in result.seats:
            click.echo(f"  {effect.describe()}")
        if result.writebacks:
            queued = "would queue" if dry_run else "queued"
            click.echo(f"  {queued} {plural(len(result.writebacks), 'write-back')} to the shop")
        if dry_run:
            click.echo("dry run: nothing stored (`bridge catalog apply` applies it)")

    emit(result.as_dict(), as_json, render)
