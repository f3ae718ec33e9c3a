"""What the console shows at a glance: backlogs, dead rows, sync runs, catalogue problems.

Every problem comes with the action that fixes it. Read-only; nothing here calls the shop
(the shop's webhook status is the webhooks job's last run).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import Engine

from bridge.errors import BridgeError
from bridge.rules.bookings.events import BookingStatus
from bridge.rules.catalogue.catalog import Catalogue, describe_offer
from bridge.rules.inbound.payloads import DeliveryStatus
from bridge.services.bookings import booking_counts
from bridge.services.catalogue import CatalogueReport, file_status, inspect_catalogue
from bridge.services.inbox import status_counts
from bridge.services.operations import last_job_runs
from bridge.services.writeback import outbox_counts
from bridge.settings import Settings
from bridge.store.db import unit_of_work
from bridge.store.models import JobRunStatus, OutboxStatus, utcnow

# What to do about each catalogue problem code (bridge.rules.catalogue.products.Problem).
CATALOGUE_FIXES = {
    "unmapped_product": "add its SKU to the catalogue file, or set bridge_kind on the product; "
    "then run `bridge catalog sync`",
    "sku_not_in_shop": "give a WooCommerce product this SKU, or remove the offer from the "
    "catalogue file",
    "duplicate_sku": "give each product its own SKU in WooCommerce",
    "cohort_not_sold": "add a cohort_seat offer for it, sold by a product",
    "meta_conflict": "remove the product's bridge_ meta, or make it agree with the file "
    "(the file wins)",
    "invalid_meta": "correct the product's bridge_ meta in WP admin",
    "unknown_reference": "define the cohort or SKU it names in the catalogue file",
    "not_synced": "run `bridge catalog sync`",
    "no_catalogue_file": "copy catalog.example.toml to the catalogue file and edit it",
    "unmapped_sku": "add the SKU to the catalogue file, or list it under not_offers when it is "
    "not an offer",
}
INBOX_BACKLOG = (DeliveryStatus.RECEIVED, DeliveryStatus.FAILED)
OUTBOX_BACKLOG = (OutboxStatus.PENDING, OutboxStatus.SENDING)


def job_names(settings: Settings) -> list[str]:
    """The scheduled jobs, named by their BRIDGE_SYNC_<JOB>_SCHEDULE settings."""
    return list(settings.sync.jobs())


def _problem(level: str, what: str, fix: str, link: str | None = None) -> dict[str, Any]:
    return {"level": level, "what": what, "fix": fix, "link": link}


def _plural(count: int, word: str, plural: str | None = None) -> str:
    return f"{count} {word if count == 1 else plural or word + 's'}"


def catalogue_report(
    engine: Engine,
    load_file: Callable[[], Catalogue],
    settings: Settings,
    now: datetime | None = None,
) -> tuple[CatalogueReport | None, str | None]:
    """The merged catalogue with its problems, or why the catalogue file cannot be read."""
    try:
        file_catalogue = load_file()
    except BridgeError as exc:
        return None, str(exc)
    report = inspect_catalogue(
        engine, file_catalogue, now=now or utcnow(), file_name=str(settings.catalogue.file)
    )
    return report, None


def catalogue_rows(report: CatalogueReport) -> list[dict[str, Any]]:
    """Each micro-SKU with what it confers, the products selling it and its problems."""
    catalogue = report.catalogue
    by_id = {record.woo_id: record for record in report.records}
    problems: dict[str, list[str]] = {}
    for problem in report.problems:
        if problem.sku:
            problems.setdefault(problem.sku, []).append(problem.message)
    rows = []
    for sku, offer in sorted(catalogue.offers.items()):
        products = [
            {
                "woo_id": woo_id,
                "name": by_id[woo_id].name if woo_id in by_id else "",
                "active": woo_id not in catalogue.inactive_ids,
                "price": by_id[woo_id].price if woo_id in by_id else "",
            }
            for woo_id in catalogue.woo_ids_for(sku, include_inactive=True)
        ]
        rows.append(
            {
                "sku": sku,
                "kind": offer.kind,
                "title": offer.title,
                "source": offer.source,
                "confers": describe_offer(offer, catalogue),
                "cohort": offer.cohort,
                "products": products,
                "problems": problems.get(sku, []),
            }
        )
    return rows


def console_home(
    engine: Engine,
    settings: Settings,
    load_file: Callable[[], Catalogue],
    now: datetime | None = None,
) -> dict[str, Any]:
    """Health at a glance: counts, each sync job's last run, and the problems with their fixes."""
    now = now or utcnow()
    inbox, outbox = status_counts(engine), outbox_counts(engine)
    runs = last_job_runs(engine)
    problems: list[dict[str, Any]] = []
    if dead := inbox.get(DeliveryStatus.DEAD):
        problems.append(
            _problem(
                "bad",
                f"{_plural(dead, 'webhook delivery', 'webhook deliveries')} "
                "dead-lettered after the last attempt",
                "read the error, fix the cause, then retry them",
                "console_ops.inbox",
            )
        )
    if rejected := inbox.get(DeliveryStatus.REJECTED):
        problems.append(
            _problem(
                "warn",
                f"{_plural(rejected, 'webhook delivery', 'webhook deliveries')} "
                "rejected as malformed (never retried)",
                "read the reason; if the shop sent it, check the product or order it names",
                "console_ops.inbox",
            )
        )
    if dead_writes := outbox.get(OutboxStatus.DEAD):
        problems.append(
            _problem(
                "bad",
                f"{_plural(dead_writes, 'write-back')} to WooCommerce dead-lettered",
                "read the error, fix the cause (keys, permissions, a deleted order), then retry",
                "console_ops.outbox",
            )
        )
    held = booking_counts(engine).get(BookingStatus.HELD_FOR_REVIEW, 0)
    if held:
        problems.append(
            _problem(
                "warn",
                f"{_plural(held, 'booking')} held for review: only the attendee's e-mail "
                "named the learner, and nothing was debited",
                "approve the ones the learner made, reject the others (and send learners their "
                "booking links)",
                "console_bookings.bookings",
            )
        )
    for job in job_names(settings):
        run = runs.get(job)
        if run is not None and run["status"] == JobRunStatus.FAILED:
            problems.append(
                _problem(
                    "bad",
                    f"sync job {job} failed: {run['reason']}",
                    f"fix the cause, then `bridge sync {job}`",
                )
            )
    webhooks_run = runs.get("webhooks")
    if settings.shop.configured and webhooks_run is None:
        problems.append(
            _problem(
                "warn",
                "the shop's webhooks have not been checked yet",
                "`bridge webhooks status` (the webhooks job checks hourly)",
            )
        )
    report, file_error = catalogue_report(engine, load_file, settings, now)
    with unit_of_work(engine) as session:
        applied = file_status(session, settings.catalogue.file).message()
    if applied is not None:
        problems.append(
            _problem(
                "warn",
                applied,
                "`bridge catalog apply --dry-run` shows what applying the file would change; "
                "`bridge catalog apply` applies it",
                "console_ops.catalogue",
            )
        )
    if file_error is not None:
        problems.append(
            _problem(
                "bad",
                f"catalogue file: {file_error}",
                "correct the file; `bridge catalog --check` says what is wrong",
                "console_ops.catalogue",
            )
        )
    catalogue_problems: list[dict[str, object]] = []
    unmapped: list[dict[str, object]] = []
    if report is not None:
        for item in report.resolution.problems:
            catalogue_problems.append(
                {
                    "code": item.code,
                    "what": item.message,
                    "sku": item.sku,
                    "woo_id": item.woo_id,
                    "fix": CATALOGUE_FIXES.get(item.code, ""),
                }
            )
        for sold in report.unmapped:
            unmapped.append(
                {
                    "sku": sold.sku,
                    "what": sold.problem().message,
                    "orders": sold.orders,
                    "units": sold.units,
                    "fix": CATALOGUE_FIXES["unmapped_sku"],
                }
            )
        unmapped.extend(p for p in catalogue_problems if p["code"] == "unmapped_product")
    return {
        "generated_at": now,
        "inbox": inbox,
        "outbox": outbox,
        "inbox_backlog": sum(inbox.get(s, 0) for s in INBOX_BACKLOG),
        "outbox_backlog": sum(outbox.get(s, 0) for s in OUTBOX_BACKLOG),
        "jobs": [
            {"job": job, "schedule": settings.sync.schedule(job), "run": runs.get(job)}
            for job in job_names(settings)
        ],
        "sync_active": settings.sync_active,
        "shop_configured": settings.shop.configured,
        "webhooks": webhooks_run,
        "problems": problems,
        "catalogue_problems": catalogue_problems,
        "unmapped": unmapped,
    }
