"""The sync jobs, and how one job runs: under its lease, counted, summarised, never twice at once.

Every job notices changes and hands them to the same services webhooks use (the order pipeline,
the catalogue sync, the inbox, the outbox), so a job run twice, or overlapping a webhook,
changes nothing twice. ``--dry-run`` applies everything inside transactions that are rolled
back and sends only GET requests, so it reports what would change and writes nothing. What a
run is made of (options, ports, context, result, summary lines) is in ``sync.context``.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from threading import Event
from typing import Any

from sqlalchemy.exc import SQLAlchemyError

from bridge.errors import BridgeError
from bridge.rules.entitlements import parse_gmt
from bridge.rules.inbound.payloads import DeliveryStatus
from bridge.rules.words import credit_text
from bridge.services.catalogue import sync_catalogue
from bridge.services.inbox import InboxDrain, apply_retention
from bridge.services.ledger import OrderOutcome, active_perks, expire_credits
from bridge.services.operations import record_job_run
from bridge.services.orders import (
    Tell,
    apply_orders,
    build_handlers,
    record_watch_start,
)
from bridge.services.queue import INBOX, due_count
from bridge.services.subscriptions import reconcile_subscriptions
from bridge.services.writeback import (
    drain_outbox,
    enqueue_customer_meta,
    refresh_catalogue_writebacks,
)
from bridge.shop.webhooks import webhook_status
from bridge.store.db import DatabaseUnavailable, describe_db_error
from bridge.store.models import JobRunStatus
from sync.alerts import run_alerts
from sync.backup import run_backup
from sync.context import (
    CHANGES_SHOWN,
    JobContext,
    JobFailed,
    JobResult,
    RunOptions,
    SyncPorts,
    rolled_back,
)
from sync.lease import Lease, LeaseHeld, acquire, runner_id
from sync.storage import (
    advance_cursor,
    first_contact,
    notified_since,
    outbox_high_water,
    queued_since,
    read_cursor,
)

log = logging.getLogger(__name__)

ONE_SECOND = timedelta(seconds=1)


@dataclass(frozen=True)
class Job:
    """A named job: what it does, and whether it needs the shop's REST API."""

    name: str
    run: Callable[[JobContext], None]
    help: str
    needs_shop: bool = True


JOBS: dict[str, Job] = {}


def register(job: Job) -> Job:
    JOBS[job.name] = job
    return job


ORDERS = "orders"


def _modified(payload: Mapping[str, Any]) -> datetime | None:
    try:
        return parse_gmt(payload.get("date_modified_gmt"))
    except ValueError:
        return None


def _describe(outcome: OrderOutcome, verb: str) -> str:
    parts = []
    for event in outcome.events:
        data = event.data
        if event.kind in ("credit_granted", "credit_reversed"):
            amount = int(data.get("amount") or 0)
            parts.append(
                credit_text(
                    amount if event.kind == "credit_granted" else -amount,
                    str(data.get("credit_type") or ""),
                    signed=True,
                )
            )
        elif event.kind.startswith("seat_"):
            parts.append(f"seat {event.kind.removeprefix('seat_')} in {data.get('cohort')}")
        elif event.kind.startswith("access_"):
            parts.append(f"{data.get('kind')} access {event.kind.removeprefix('access_')}")
        else:
            parts.append(event.kind)
    return f"order {outcome.order_id} {verb}: " + ", ".join(parts)


class _OrderWalk:
    """Orders oldest change first, page by page, through the pipeline webhooks use.

    The cursor moves to a page's newest change only after every order of that page was
    committed; an order that cannot be applied holds it just before that order, so the next run
    tries it again. WooCommerce pages by offset: an order changed during the run moves to the
    end and shifts the later ones, which can hide one at a page boundary. Such a move shows as
    an order seen twice; then each boundary is read again (usually one small request each).
    """

    def __init__(self, ctx: JobContext, cursor: datetime | None) -> None:
        self.ctx = ctx
        # Where the cursor is: a page whose newest change is not beyond it writes nothing (the
        # orders job alone moves it, under its lease), so a re-run commits no page of its own.
        self.cursor = cursor
        self.catalogue = ctx.catalogue()
        # Ids seen this run, to notice an order that moved; ints only, pages are not kept.
        self.seen: set[int] = set()
        self.moved = False
        self.hold: datetime | None = None
        self.boundaries: list[tuple[datetime, datetime]] = []
        self.pages = 0
        # From when customers hear of changes; recorded at the first sync if nothing else did.
        if ctx.settings.writeback.notify_since is None:
            record_watch_start(ctx.engine, ctx.now(), "first sync")
        self.tell = Tell.EVERYTHING if ctx.options.notify else Tell.NEWS

    def run(self, start: datetime | None) -> None:
        ctx = self.ctx
        previous_last: datetime | None = None
        for page in ctx.client.iter_modified(ORDERS, start, {"per_page": ctx.ports.page_size}):
            if self.pages == 0:
                ctx.progress.set_total(page.total)
            self.pages += 1
            moments = [m for m in (_modified(p) for p in page.items) if m is not None]
            if moments and previous_last is not None:
                self.boundaries.append((previous_last, moments[0]))
            previous_last = moments[-1] if moments else previous_last
            for payload in page.items:
                order_id = payload.get("id")
                if isinstance(order_id, int):
                    self.moved = self.moved or order_id in self.seen
                    self.seen.add(order_id)
            newest = self.apply_page(page.items)
            if newest is not None:
                target = newest if self.hold is None else min(newest, self.hold - ONE_SECOND)
                if self.cursor is None or target > self.cursor:
                    self.cursor = advance_cursor(ctx.engine, ORDERS, target)
            if ctx.stopping():
                ctx.note(f"stopped on request after page {page.number} of {page.total_pages}")
                return
        if self.moved:
            self.repair()

    def apply_page(self, items: Sequence[Mapping[str, Any]]) -> datetime | None:
        """Apply a page's changed orders in one unit of work; returns its newest change.

        Orders unchanged since they were applied are found in one query and skipped unwritten;
        an order that fails fails alone (bridge.services.orders.page_apply).
        """
        ctx = self.ctx
        ctx.checkpoint()
        newest: datetime | None = None
        for payload in items:
            moment = _modified(payload)
            if moment is not None and (newest is None or moment > newest):
                newest = moment
        with ctx.writes() as target:
            results = apply_orders(
                target,
                items,
                catalogue=self.catalogue,
                settings=ctx.settings,
                shop=ctx.client,
                tell=self.tell,
            )
        for result in results:
            ctx.tally.fetched += 1
            if result.outcome is not None and result.outcome.unchanged:
                pass  # the same as when it was last applied: nothing to do or tell
            elif result.error is not None:
                ctx.item_failed(f"order {result.payload.get('id')}: {result.error}")
                moment = _modified(result.payload)
                if moment is not None and (self.hold is None or moment < self.hold):
                    self.hold = moment
            elif result.outcome is not None:
                ctx.tally.add_outcome(result.outcome)
                if result.outcome.events:
                    verb = "would change" if ctx.dry_run else "changed"
                    ctx.change(_describe(result.outcome, verb))
            ctx.progress.advance()
        ctx.checkpoint()  # the lease is renewed between pages, while the next one is read
        return newest

    def repair(self) -> None:
        """Read each page boundary again: what a mid-run change hid sits in one of them."""
        ctx = self.ctx
        ctx.note(f"orders changed during the run: re-read {len(self.boundaries)} page boundaries")
        for after, before in self.boundaries:
            params = {"modified_before": before + ONE_SECOND, "per_page": ctx.ports.page_size}
            for page in ctx.client.iter_modified(ORDERS, after - ONE_SECOND, params):
                self.apply_page(page.items)


def run_orders(ctx: JobContext) -> None:
    """Orders changed since the cursor (less the overlap window), oldest first."""
    overlap = timedelta(seconds=ctx.settings.sync.overlap_seconds)
    cursor = read_cursor(ctx.engine, ORDERS)
    if ctx.options.full:
        start = None
        ctx.note("full: every order in the shop")
    elif ctx.options.since is not None:
        start = ctx.options.since
        ctx.note(f"orders changed since {start:%Y-%m-%d %H:%M:%S} UTC")
    elif cursor is not None:
        start = cursor - overlap
    else:
        contact = first_contact(ctx.engine)
        start = (contact or ctx.now()) - overlap
        ctx.note(
            f"first run: orders changed since {start:%Y-%m-%d %H:%M:%S} UTC (when the "
            "bridge first heard from the shop); `bridge sync orders --full` also grants "
            "for older orders"
        )
    walk = _OrderWalk(ctx, cursor)
    walk.run(start)
    if ctx.failures:
        raise JobFailed(
            f"{len(ctx.failures)} order(s) could not be applied: {ctx.failures[0]}; "
            "the cursor waits before the first of them, to try again"
        )


PRODUCTS = "products"


def run_catalog(ctx: JobContext) -> None:
    """Products and variations changed since the cursor; a full sync when there is none."""
    cursor = read_cursor(ctx.engine, PRODUCTS)
    overlap = timedelta(seconds=ctx.settings.sync.overlap_seconds)
    modified_after: datetime | None = None  # everything: a full sync
    if not ctx.options.full:
        if ctx.options.since is not None:
            modified_after = ctx.options.since
        elif cursor is not None:
            modified_after = cursor - overlap
    # A dry run stores it all too, in its rolled-back transaction: the orders job after it
    # maps through what this job would have stored.
    result = sync_catalogue(
        ctx.engine,
        ctx.client,
        ctx.ports.file_catalogue(),
        modified_after=modified_after,
        progress=ctx.progress,
    )
    result.dry_run = ctx.dry_run
    ctx.tally.fetched += result.products + result.variations
    ctx.tally.changed += result.changed
    ctx.note(result.summary())
    for reason in result.rejected[:CHANGES_SHOWN]:
        ctx.note(f"rejected: {reason}")
    for problem in result.problems[:CHANGES_SHOWN]:
        ctx.note(f"problem: {problem.message}")
    if result.newest_modified_gmt is not None:
        advance_cursor(ctx.engine, PRODUCTS, result.newest_modified_gmt)
    # Upsell links and cohort stock follow the catalogue (queued; unchanged values are not sent);
    # stock the shop changed by itself is set back to the seats free.
    refresh_catalogue_writebacks(ctx.engine, ctx.catalogue(), shop_stock=result.shop_stock)


SUBSCRIPTIONS = "subscriptions"


def run_subscriptions(ctx: JobContext) -> None:
    """Subscriptions changed since the cursor, through the subscriptions service.

    Without a cursor every subscription is read: that changes perks and expiry dates, never
    grants (orders grant). A shop without WooCommerce Subscriptions is said so, not a failure.
    """
    cursor = read_cursor(ctx.engine, SUBSCRIPTIONS)
    overlap = timedelta(seconds=ctx.settings.sync.overlap_seconds)
    if ctx.options.full:
        modified_after = None
    else:
        modified_after = ctx.options.since or (cursor - overlap if cursor else None)
    catalogue = ctx.catalogue()
    # A dry run's transaction is rolled back as a whole: the service runs as for real in it.
    with ctx.writes() as target:
        result = reconcile_subscriptions(
            target,
            ctx.client,
            catalogue,
            modified_after=modified_after,
            settings=ctx.settings,
            now=ctx.now(),
        )
    result.dry_run = ctx.dry_run
    ctx.tally.fetched += result.fetched
    ctx.tally.changed += result.changed
    ctx.note(result.summary())
    verb = "would change" if ctx.dry_run else "changed"
    for change in result.changes:
        ctx.change(
            f"subscription {change['id']} {verb}: {change['previous_status'] or 'new'} "
            f"-> {change['status']}, perks {', '.join(change['perks']) or 'none'}"
        )
    for failure in result.failed:
        ctx.item_failed(f"subscription {failure['id']}: {failure['error']}")
    if result.newest_modified_gmt is not None:
        advance_cursor(ctx.engine, SUBSCRIPTIONS, result.newest_modified_gmt)


def run_inbox(ctx: JobContext) -> None:
    """Retry due webhook deliveries through the inbox's batch drain (one failing never stops
    the rest), then apply retention."""
    now = ctx.now()
    due = due_count(ctx.engine, INBOX, now)
    ctx.tally.fetched += due
    ctx.progress.set_total(due)
    statuses: dict[str, int] = {}
    # Read before ctx.writes(): in a dry run on SQLite it holds the write lock from there on.
    catalogue = ctx.catalogue()
    shop = ctx.client_or_none()

    def report(finals: Mapping[int, str]) -> None:
        ctx.checkpoint()
        for inbox_id, status in sorted(finals.items()):
            statuses[status] = statuses.get(status, 0) + 1
            if status == DeliveryStatus.PROCESSED:
                ctx.tally.changed += 1
                ctx.change(f"delivery {inbox_id} {'would be ' if ctx.dry_run else ''}processed")
        ctx.progress.advance(len(finals))

    with ctx.writes() as target:
        try:
            handlers = build_handlers(
                target, ctx.settings, catalogue=lambda: catalogue, shop=lambda: shop
            )
            drain = InboxDrain(
                target,
                handlers,
                max_attempts=ctx.settings.inbox.max_attempts,
                max_quantity=ctx.settings.orders.max_line_quantity,
                clock=lambda: now,
                on_batch=report,
            )
            try:
                drain(ctx.stopping)
            except DatabaseUnavailable as exc:
                ctx.item_failed(f"deliveries: {exc}")
        finally:
            # Retention never waits on processing: a wedged delivery must not grow the file.
            kept = apply_retention(
                target,
                body_retention=timedelta(days=ctx.settings.inbox.retention_days),
                row_retention=timedelta(days=ctx.settings.inbox.row_retention_days),
                now=now,
            )
    if statuses:
        outcome = ", ".join(f"{n} {status}" for status, n in sorted(statuses.items()))
        tried = sum(statuses.values())
        ctx.note(f"{'would retry' if ctx.dry_run else 'retried'} {tried}: {outcome}")
    if dead := statuses.get(DeliveryStatus.DEAD):
        ctx.note(f"{dead} deliveries gave up: see `bridge inbox --status dead`")
    if rejected := statuses.get(DeliveryStatus.REJECTED):
        ctx.note(f"{rejected} deliveries rejected: see `bridge inbox --status rejected`")
    if failed := statuses.get(DeliveryStatus.FAILED):
        ctx.note(f"{failed} deliveries will be tried again later")
    verb = "would drop" if ctx.dry_run else "dropped"
    if kept.bodies_dropped:
        ctx.note(
            f"{verb} the raw bodies of {kept.bodies_dropped} deliveries older than "
            f"{ctx.settings.inbox.retention_days} days"
        )
    if kept.rows_deleted:
        ctx.note(
            f"{'would delete' if ctx.dry_run else 'deleted'} {kept.rows_deleted} finished "
            f"deliveries older than {ctx.settings.inbox.row_retention_days} days"
        )


def run_outbox(ctx: JobContext) -> None:
    """Send the due write-backs to WooCommerce (a dry run lists the requests instead)."""
    summary = drain_outbox(
        ctx.engine,
        ctx.client_or_none(),
        ctx.settings,
        now=ctx.now(),
        dry_run=ctx.dry_run,
        progress=ctx.progress,
    )
    ctx.tally.changed += summary.sent
    ctx.tally.notified += len(summary.notified)
    if ctx.dry_run:
        ctx.tally.requests += len(summary.requests)  # the ones it would send, counted alike
    ctx.note(summary.summary())
    for request in summary.requests[:CHANGES_SHOWN]:
        ctx.change(f"would send {request.method} {request.path}")
    if summary.stopped:
        raise JobFailed(f"write-back stopped: {summary.stopped}")


def run_expiry(ctx: JobContext) -> None:
    """Write off what is left of credits past their expiry, once per grant."""
    catalogue = ctx.catalogue()

    def queue_balances(session: Any, learner_id: int) -> None:
        enqueue_customer_meta(
            session, learner_id, active_perks(session, learner_id, catalogue=catalogue)
        )

    with ctx.writes() as target:
        result = expire_credits(target, now=ctx.now(), after_expiry=queue_balances)
    ctx.tally.fetched += result.grants
    ctx.tally.changed += result.learners
    for expiry in result.rows:
        verb = "would expire" if ctx.dry_run else "expired"
        ctx.change(
            f"learner {expiry.learner_id}: {verb} "
            f"{credit_text(expiry.remainder, expiry.credit_type)} of {expiry.grant_key}"
        )


def run_webhooks(ctx: JobContext) -> None:
    """Report the shop's disabled or paused webhooks; re-enable the bridge's disabled ones."""
    settings = ctx.settings
    rows = webhook_status(ctx.client, settings.web.public_url, repair=False)
    ctx.tally.fetched += len(rows)
    if not settings.web.public_url:
        ctx.note("BRIDGE_PUBLIC_URL is not set, so the bridge cannot tell its own webhooks")
    stuck = []
    for row in rows:
        if not row["problem"]:
            continue
        label = f"webhook #{row['id']} ({row['topic']})"
        if row["status"] == "disabled" and row["ours"]:
            if not settings.sync.reenable_webhooks:
                stuck.append(label)
            elif ctx.dry_run:
                ctx.change(f"would re-enable {label}")
            else:
                ctx.client.update_webhook(int(row["id"]), {"status": "active"})
                ctx.tally.changed += 1
                ctx.change(f"re-enabled {label}, disabled by WooCommerce after failed deliveries")
        else:
            whose = "the bridge's" if row["ours"] else "not the bridge's"
            ctx.note(f"{label} is {row['status']} ({whose})")
    if stuck:
        raise JobFailed(
            f"{len(stuck)} of the bridge's webhooks are disabled ({', '.join(stuck)}): "
            "WooCommerce sends them nothing; run `bridge webhooks status --repair` or set "
            "BRIDGE_SYNC_REENABLE_WEBHOOKS=true"
        )


# Order of `bridge sync` without a job: the catalogue first (orders map through it), the outbox
# after everything that queues write-backs, the webhook check, then a backup of it all.
JOB_ORDER = (
    "catalog",
    "orders",
    "subscriptions",
    "inbox",
    "expiry",
    "outbox",
    "webhooks",
    "alerts",
    "backup",
)

register(Job("catalog", run_catalog, "products and variations -> micro-SKUs and cohorts"))
register(Job("orders", run_orders, "orders changed since the cursor -> credits and seats"))
register(Job("subscriptions", run_subscriptions, "subscriptions changed since the cursor -> perks"))
register(
    Job("inbox", run_inbox, "retry failed webhook deliveries, purge old bodies", needs_shop=False)
)
register(Job("expiry", run_expiry, "write off credits past their expiry", needs_shop=False))
register(Job("outbox", run_outbox, "send queued write-backs to WooCommerce"))
register(Job("webhooks", run_webhooks, "report disabled webhooks, re-enable if allowed"))
register(Job("alerts", run_alerts, "open, clear and send alerts to the creator", needs_shop=False))
register(Job("backup", run_backup, "copy the database into the backup folder", needs_shop=False))


def _one_line(text: str) -> str:
    lines = str(text).strip().splitlines()
    return lines[0][:500] if lines else ""


def run_job(
    name: str,
    ports: SyncPorts,
    options: RunOptions | None = None,
    *,
    stop: Event | None = None,
    lease_ttl: timedelta | None = None,
) -> JobResult:
    """Run one job once under its lease and say how it went; never raises for a job's failure.

    A dry run is the real run inside one transaction rolled back at its end (``rolled_back``),
    sending the shop only GET requests; it takes no lease (taking one is a write), so it may
    run beside a real run. A real run that was not busy
    elsewhere is kept as the job's last run, for the console.
    """
    options = options or RunOptions()
    started_at = ports.clock()
    result = _run_once(name, ports, options, stop=stop, lease_ttl=lease_ttl)
    if not options.dry_run and result.status != JobRunStatus.BUSY:
        try:
            record_job_run(
                ports.engine,
                name,
                result.status,
                result.reason,
                started_at=started_at,
                finished_at=ports.clock(),
                summary=result.as_dict(),
            )
        except (SQLAlchemyError, DatabaseUnavailable) as exc:
            detail = describe_db_error(exc) if isinstance(exc, SQLAlchemyError) else str(exc)
            log.warning("could not keep the %s job's run: %s", name, detail)
    return result


def _run_once(
    name: str,
    ports: SyncPorts,
    options: RunOptions,
    *,
    stop: Event | None,
    lease_ttl: timedelta | None,
) -> JobResult:
    job = JOBS[name]
    result = JobResult(name, dry_run=options.dry_run)
    started = time.monotonic()
    if job.needs_shop and not ports.settings.shop.configured:
        result.status = JobRunStatus.SKIPPED
        result.reason = "no shop configured (WOOCOMMERCE_URL and the REST keys)"
        return result
    if options.dry_run:
        try:
            with rolled_back(ports.engine) as connection:
                # The services take an Engine and only open units of work on it, which a
                # Connection serves as well (their sessions join its transaction).
                dry_ports = dataclasses.replace(ports, engine=connection)  # type: ignore[arg-type]
                return _run(job, dry_ports, options, stop, None, result, started)
        except SQLAlchemyError as exc:
            result.status, result.reason = JobRunStatus.FAILED, describe_db_error(exc)
            return result
    ttl = lease_ttl or timedelta(seconds=ports.settings.sync.lease_seconds)
    try:
        lease = acquire(
            ports.engine, name, runner_id(), ttl, clock=ports.clock, monotonic=ports.monotonic
        )
    except LeaseHeld as exc:
        result.status, result.reason = JobRunStatus.BUSY, str(exc)
        return result
    except SQLAlchemyError as exc:
        result.status, result.reason = JobRunStatus.FAILED, describe_db_error(exc)
        return result
    return _run(job, ports, options, stop, lease, result, started)


def _run(
    job: Job,
    ports: SyncPorts,
    options: RunOptions,
    stop: Event | None,
    lease: Lease | None,
    result: JobResult,
    started: float,
) -> JobResult:
    """The job itself, counted and summarised; the lease (if any) released at the end."""
    name = job.name
    progress = ports.progress(name)
    ctx = JobContext(
        name, ports, options, stop=stop or Event(), lease=lease, progress=progress, result=result
    )
    high_water = None
    try:
        high_water = outbox_high_water(ports.engine)
        job.run(ctx)
        if ctx.failures:
            raise JobFailed(f"{len(ctx.failures)} item(s) failed; first: {ctx.failures[0]}")
    except BridgeError as exc:
        result.status, result.reason = JobRunStatus.FAILED, _one_line(str(exc))
    except SQLAlchemyError as exc:
        result.status, result.reason = JobRunStatus.FAILED, describe_db_error(exc)
    except DatabaseUnavailable as exc:
        result.status, result.reason = JobRunStatus.FAILED, _one_line(str(exc))
    except Exception as exc:  # noqa: BLE001  (a bug must still end the run cleanly and be told)
        log.exception("sync job %s crashed", name)
        result.status = JobRunStatus.FAILED
        result.reason = _one_line(f"{type(exc).__name__}: {exc}") + " (a bug: see the log)"
    finally:
        progress.finish()
        ctx.close()
        if high_water is not None:
            try:  # also after a failure: what was committed before it stays queued
                result.tally.writebacks += queued_since(ports.engine, high_water)
                result.tally.notified += notified_since(ports.engine, high_water)
            except SQLAlchemyError:
                log.warning("could not count the write-backs %s queued", name)
        if lease is not None:
            try:
                lease.release()
            except SQLAlchemyError as exc:
                log.warning(
                    "could not release the %s lease (it expires by itself): %s",
                    name,
                    describe_db_error(exc),
                )
        result.duration = time.monotonic() - started
    return result
