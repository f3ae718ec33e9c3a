"""Catalogue service: bind WooCommerce products and variations to micro-SKUs, store cohorts.

The binder of the bridge: one ``product_binding`` row per WooCommerce product or variation id,
with WooCommerce's ``date_modified_gmt`` so that a stale payload is skipped. The full sync and
``product.*`` webhooks go through the same ``apply_product_payload``. Which offer a product
sells is recomputed from the stored rows and the current file on every ``load_catalogue``, so
an edit to the file needs no new sync to take effect.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager, ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

from sqlalchemy import Engine, func
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from bridge.errors import RetryableError
from bridge.rules.catalogue.catalog import (
    VARIABLE_TYPES,
    Catalogue,
    CatalogueError,
    Offer,
    offer_to_dict,
)
from bridge.rules.catalogue.catalog_file import parse_catalogue
from bridge.rules.catalogue.products import (
    Problem,
    ProductRecord,
    Resolution,
    is_deletion,
    offer_for_record,
    product_id,
    product_record,
    resolve_catalogue,
)
from bridge.rules.cohorts import SeatStatus
from bridge.rules.words import plural, plural_form
from bridge.store.db import unit_of_work
from bridge.store.models import Cohort, ProductBinding, Seat, UnmappedLine, utcnow
from bridge.store.models import Offer as OfferRow


class WooReader(Protocol):
    """The part of the WooCommerce client the catalogue sync uses."""

    def iter_modified(
        self, path: str, modified_after: datetime | None, params: Mapping[str, Any] | None = None
    ) -> Iterator[Any]: ...

    def iter_collection(
        self, path: str, params: Mapping[str, Any] | None = None
    ) -> Iterator[dict[str, Any]]: ...


@dataclass(frozen=True)
class ProductOutcome:
    """What applying one product payload did.

    ``action``: bound (sells a micro-SKU), unmapped (sells none), invalid (its bridge meta is
    wrong: see ``problems``), stale (older than what is stored; nothing changed), deactivated
    (trashed or deleted), unknown (a deletion of an id never seen).
    """

    woo_id: int
    action: str
    sku: str = ""
    offer_sku: str | None = None
    woo_type: str = ""
    date_modified_gmt: datetime | None = None
    problems: tuple[Problem, ...] = ()
    # Whether the stored binding changed: re-reading an unchanged product (the overlap window
    # of an incremental sync, a trashed product listed again) changes nothing.
    changed: bool = True


@dataclass
class CatalogueSyncResult:
    """Counts and findings of one catalogue sync, for the CLI, logs and the scheduler."""

    dry_run: bool = False
    full: bool = True
    products: int = 0
    variations: int = 0
    actions: Counter[str] = field(default_factory=Counter)
    deactivated: list[int] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    rejected: list[str] = field(default_factory=list)  # payloads missing fields, by reason
    cohorts: int = 0
    offers: int = 0
    changed: int = 0  # products and variations whose stored binding changed
    requests: int | None = None
    # Newest date_modified_gmt seen: where the next incremental sync can start.
    newest_modified_gmt: datetime | None = None
    # Stock as the shop holds it, of each product and variation read that manages stock
    # ({id, parent_id, manage_stock, stock_quantity, backorders}): checked against seats free.
    shop_stock: list[dict[str, Any]] = field(default_factory=list)

    def summary(self) -> str:
        """One line for people."""
        counts = ", ".join(
            f"{self.actions.get(action, 0)} {action}"
            for action in ("bound", "unmapped", "invalid", "stale", "deactivated")
        )
        verb = "would sync" if self.dry_run else "synced"
        line = (
            f"{verb} {_n(self.products, 'product')} and {_n(self.variations, 'variation')} "
            f"({counts}; {self.changed} changed); {_n(self.cohorts, 'cohort')} and "
            f"{_n(self.offers, 'offer')} stored"
        )
        if self.requests is not None:
            line += f"; {_n(self.requests, 'request')}"
        if self.rejected:
            line += f"; {_n(len(self.rejected), 'payload')} rejected"
        if self.problems:
            line += f"; {_n(len(self.problems), 'problem')} (see `bridge catalog`)"
        return line

    def as_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["actions"] = dict(self.actions)
        data["problems"] = [dataclasses.asdict(problem) for problem in self.problems]
        del data["shop_stock"]  # read for the stock check, not a finding
        return data


def _n(count: int, word: str) -> str:
    return plural(count, word)


@dataclass(frozen=True)
class CatalogueReport:
    """The merged catalogue with the products behind it and seats taken, for `bridge catalog`."""

    resolution: Resolution
    records: tuple[ProductRecord, ...]
    seats_taken: Mapping[str, int]
    unmapped: tuple[UnmappedSku, ...] = ()

    @property
    def catalogue(self) -> Catalogue:
        return self.resolution.catalogue

    @property
    def problems(self) -> tuple[Problem, ...]:
        """The resolution's problems, then a warning per SKU sold that maps to no micro-SKU."""
        return (*self.resolution.problems, *(sku.problem() for sku in self.unmapped))


@dataclass(frozen=True)
class UnmappedSku:
    """A SKU seen on paid order lines that map to no micro-SKU and are not marked as no offer."""

    sku: str
    lines: int
    orders: int
    units: int
    product_ids: tuple[int, ...]
    order_ids: tuple[int, ...]  # a few, to look at

    def problem(self) -> Problem:
        shown = ", ".join(str(i) for i in self.order_ids)
        more = "..." if self.orders > len(self.order_ids) else ""
        products = [str(i) for i in self.product_ids if i]  # 0: a line of no product
        sold_by = (
            f" ({plural_form(len(products), 'product')} {', '.join(products)})" if products else ""
        )
        return Problem(
            "unmapped_sku",
            f"SKU {self.sku or '(none)'}{sold_by} was "
            f"sold on {_n(self.lines, 'paid order line')} in {_n(self.orders, 'order')} "
            f"({shown}{more}) but "
            "maps to no micro-SKU: add it to the catalogue, or list it under not_offers",
            self.sku or None,
            self.product_ids[0] if self.product_ids else None,
            severity="warning",
        )


def unmapped_skus(
    session_or_engine: Session | Engine, catalogue: Catalogue | None = None
) -> tuple[UnmappedSku, ...]:
    """SKUs sold on paid lines that map to nothing, with counts; those mapped since left out."""
    with _reading(session_or_engine) as session:
        rows = session.exec(
            select(UnmappedLine).order_by(col(UnmappedLine.sku), col(UnmappedLine.order_id))
        ).all()
    by_sku: dict[str, list[UnmappedLine]] = {}
    for row in rows:
        line = {"sku": row.sku, "product_id": row.product_id, "variation_id": row.variation_id}
        if catalogue is not None and (
            catalogue.offer_for_line(line) or catalogue.is_not_offer(line)
        ):
            continue  # the catalogue knows it now
        by_sku.setdefault(row.sku, []).append(row)
    return tuple(
        UnmappedSku(
            sku,
            len(lines),
            len({r.order_id for r in lines}),
            sum(r.quantity for r in lines),
            tuple(sorted({r.variation_id or r.product_id for r in lines})),
            tuple(sorted({r.order_id for r in lines}))[:5],
        )
        for sku, lines in by_sku.items()
    )


def apply_product_payload(
    session: Session, payload: Mapping[str, Any], file_catalogue: Catalogue
) -> ProductOutcome:
    """Bind one product or variation payload (REST or ``product.*`` webhook) to its micro-SKU.

    A payload older than the stored one is skipped; ``{"id": N}`` (``product.deleted``) or
    status ``trash`` deactivates the binding, and a product's variations with it, keeping the
    rows. Rejects a payload missing a field with a CatalogueError naming it. The caller
    commits.
    """
    woo_id = product_id(payload)
    if is_deletion(payload):
        return _deactivate(session, woo_id, file_catalogue)
    record = product_record(payload)
    binding = session.get(ProductBinding, woo_id, with_for_update=True)
    if (
        binding is not None
        and binding.date_modified_gmt is not None
        and record.date_modified_gmt is not None
        and record.date_modified_gmt < binding.date_modified_gmt
    ):
        return ProductOutcome(
            woo_id,
            "stale",
            record.sku,
            binding.offer_sku,
            record.woo_type,
            record.date_modified_gmt,
            changed=False,
        )
    parent = None
    if record.parent_id:
        parent_row = session.get(ProductBinding, record.parent_id)
        parent = record_from_binding(parent_row) if parent_row is not None else None
    offer, problems = offer_for_record(file_catalogue, record, parent)
    touched = {binding.offer_sku} if binding is not None and binding.offer_sku else set()
    before = _stored_state(binding) if binding is not None else None
    if binding is None:
        binding = ProductBinding(woo_id=woo_id)
        session.add(binding)
    _fill(binding, record, offer)
    # A variation of a trashed product is not sold, whatever its own status says.
    binding.active = record.active and (parent is None or parent.active)
    changed = before != _stored_state(binding)
    if offer is not None:
        touched.add(offer.sku)
    if record.is_variable_parent or not record.active:
        touched |= _follow_parent(session, record)
    _flush(session, woo_id)
    for sku in sorted(touched):
        _refresh_offer_row(
            session, sku, offer if offer and offer.sku == sku else None, file_catalogue
        )
    if not binding.active:
        action = "deactivated"
    elif offer is not None:
        action = "bound"
    else:
        action = "invalid" if any(p.code == "invalid_meta" for p in problems) else "unmapped"
    return ProductOutcome(
        woo_id,
        action,
        record.sku,
        binding.offer_sku,
        record.woo_type,
        record.date_modified_gmt,
        problems,
        changed=changed,
    )


def _stored_state(binding: ProductBinding) -> tuple[Any, ...]:
    """What a binding holds, less when it was written."""
    return (
        binding.parent_id,
        binding.sku,
        binding.offer_sku,
        binding.woo_type,
        binding.woo_status,
        binding.name,
        binding.price,
        binding.active,
        binding.date_modified_gmt,
        binding.meta,
    )


def _fill(binding: ProductBinding, record: ProductRecord, offer: Offer | None) -> None:
    binding.parent_id = record.parent_id
    binding.sku = record.sku
    binding.offer_sku = offer.sku if offer is not None else None
    binding.woo_type = record.woo_type[:32]
    binding.woo_status = record.status[:32]
    binding.name = record.name[:200]
    binding.price = record.price[:32]
    binding.active = record.active
    binding.date_modified_gmt = record.date_modified_gmt
    binding.meta = {
        "bridge": dict(record.bridge_meta),
        "virtual": record.virtual,
        "variations": list(record.variation_ids),
    }
    binding.updated_at = utcnow()


def _follow_parent(session: Session, parent: ProductRecord) -> set[str]:
    """Variations follow their product: trashed with it, and gone when no longer listed."""
    rows = session.exec(
        select(ProductBinding).where(ProductBinding.parent_id == parent.woo_id)
    ).all()
    touched = set()
    for row in rows:
        listed = row.woo_id in parent.variation_ids
        active = parent.active and listed and row.woo_status != "trash"
        if row.active != active:
            row.active = active
            row.updated_at = utcnow()
            if row.offer_sku:
                touched.add(row.offer_sku)
    return touched


def _deactivate(session: Session, woo_id: int, file_catalogue: Catalogue) -> ProductOutcome:
    binding = session.get(ProductBinding, woo_id, with_for_update=True)
    if binding is None:
        return ProductOutcome(woo_id, "unknown", changed=False)
    changed = binding.active or binding.woo_status != "trash"
    binding.active = False
    binding.woo_status = "trash"
    binding.updated_at = utcnow()
    touched = {binding.offer_sku} if binding.offer_sku else set()
    touched |= _follow_parent(session, record_from_binding(binding))
    _flush(session, woo_id)
    for sku in sorted(touched):
        _refresh_offer_row(session, sku, None, file_catalogue)
    return ProductOutcome(
        woo_id,
        "deactivated",
        binding.sku,
        binding.offer_sku,
        binding.woo_type,
        binding.date_modified_gmt,
        changed=changed,
    )


def _flush(session: Session, woo_id: int) -> None:
    try:
        session.flush()
    except IntegrityError:
        # Another worker bound the same new id at the same moment; a retry sees its row.
        raise RetryableError(f"product {woo_id} was bound concurrently; try again") from None


def _refresh_offer_row(
    session: Session, sku: str, offer: Offer | None, file_catalogue: Catalogue
) -> None:
    """Keep the offer row's definition, and whether some product still sells it, current."""
    definition = offer or file_catalogue.offers.get(sku)
    row = session.get(OfferRow, sku)
    if row is None:
        if definition is None:
            return
        row = OfferRow(sku=sku, kind=definition.kind)
        session.add(row)
    if definition is not None:
        _define(row, definition)
    row.active = (
        session.exec(
            select(ProductBinding.woo_id)
            .where(ProductBinding.offer_sku == sku, col(ProductBinding.active).is_(True))
            .limit(1)
        ).first()
        is not None
    )
    row.updated_at = utcnow()


def _define(row: OfferRow, offer: Offer) -> None:
    row.kind = offer.kind
    row.title = offer.title[:200]
    row.source = offer.source
    row.definition = offer_to_dict(offer)


def record_from_binding(row: ProductBinding) -> ProductRecord:
    """A stored binding as the pure catalogue rules read products."""
    meta = row.meta or {}
    return ProductRecord(
        woo_id=row.woo_id,
        woo_type=row.woo_type,
        status=row.woo_status,
        sku=row.sku,
        name=row.name,
        price=row.price,
        parent_id=row.parent_id,
        virtual=bool(meta.get("virtual")),
        active=row.active,
        date_modified_gmt=row.date_modified_gmt,
        bridge_meta=dict(meta.get("bridge") or {}),
        variation_ids=tuple(meta.get("variations") or ()),
    )


def stored_records(session: Session) -> tuple[ProductRecord, ...]:
    """Every bound product and variation, active or not."""
    rows = session.exec(select(ProductBinding).order_by(col(ProductBinding.woo_id))).all()
    return tuple(record_from_binding(row) for row in rows)


def seats_taken(session: Session) -> dict[str, int]:
    """Active seats per cohort code."""
    rows = session.exec(
        select(Seat.cohort_code, func.count())
        .where(Seat.status == SeatStatus.ACTIVE)
        .group_by(Seat.cohort_code)
    ).all()
    return {code: int(count) for code, count in rows}


@contextmanager
def _reading(session_or_engine: Session | Engine) -> Iterator[Session]:
    if not isinstance(session_or_engine, Session):  # an engine, or a dry run's connection
        with unit_of_work(session_or_engine) as session:
            yield session
    else:
        yield session_or_engine


def load_catalogue(session_or_engine: Session | Engine, file_catalogue: Catalogue) -> Catalogue:
    """The catalogue to map order lines with: file offers, meta offers and all bindings.

    Trashed products stay in ``bindings`` (listed in ``inactive_ids``) so that orders placed
    before the trash still map to what they bought. Read-only.
    """
    with _reading(session_or_engine) as session:
        return resolve_catalogue(file_catalogue, stored_records(session)).catalogue


def inspect_catalogue(
    session_or_engine: Session | Engine,
    file_catalogue: Catalogue,
    *,
    now: datetime | None = None,
    file_name: str = "the file",
) -> CatalogueReport:
    """The merged catalogue, its problems, the products behind it and seats taken. Read-only."""
    with _reading(session_or_engine) as session:
        records = stored_records(session)
        taken = seats_taken(session)
        resolution = resolve_catalogue(file_catalogue, records, now=now, file_name=file_name)
        unmapped = unmapped_skus(session, resolution.catalogue)
    return CatalogueReport(resolution, records, taken, unmapped)


def store_cohorts(session: Session, catalogue: Catalogue) -> int:
    """Write the catalogue's cohorts (capacity from their limits); cohorts gone stay stored."""
    for code, spec in catalogue.cohorts.items():
        row = session.get(Cohort, code)
        if row is None:
            row = Cohort(code=code)
            session.add(row)
        row.title = spec.title[:200]
        row.starts_at = spec.starts_at
        row.ends_at = spec.ends_at
        row.timezone = spec.timezone
        row.capacity = spec.capacity
        row.waitlist = spec.waitlist
        row.mentors = spec.mentors
        row.learners_per_mentor = spec.learners_per_mentor
        row.assessment_slots = spec.assessment_slots
        row.public_outcomes = spec.public_outcomes
        row.updated_at = utcnow()
    session.flush()
    return len(catalogue.cohorts)


def store_offers(session: Session, file_catalogue: Catalogue) -> int:
    """Write every offer of the merged catalogue; offers no longer defined become inactive."""
    catalogue = resolve_catalogue(file_catalogue, stored_records(session)).catalogue
    rows = {row.sku: row for row in session.exec(select(OfferRow)).all()}
    for sku, offer in catalogue.offers.items():
        row = rows.get(sku)
        if row is None:
            row = OfferRow(sku=sku, kind=offer.kind)
            session.add(row)
        _define(row, offer)
        row.active = catalogue.is_on_sale(sku)
        row.updated_at = utcnow()
    for sku, row in rows.items():
        if sku not in catalogue.offers and row.active:
            row.active = False
            row.updated_at = utcnow()
    session.flush()
    return len(catalogue.offers)


def sync_catalogue(
    engine: Engine,
    woo_client: WooReader,
    file_catalogue: Catalogue,
    *,
    modified_after: datetime | None = None,
    dry_run: bool = False,
    progress: Any = None,
) -> CatalogueSyncResult:
    """Import products (paged) and the variations of variable products, and bind them.

    Without ``modified_after`` it is a full sync: bindings the shop no longer lists are
    deactivated. Trashed products are read too (``status=trash``), so an incremental sync
    also catches a trash whose webhook was lost. One unit of work per product; ``dry_run``
    does everything in one unit of work and rolls it back.
    """
    result = CatalogueSyncResult(dry_run=dry_run, full=modified_after is None)
    before = _request_count(woo_client)
    seen: set[int] = set()
    with ExitStack() as stack:
        shared = stack.enter_context(unit_of_work(engine)) if dry_run else None

        def work() -> AbstractContextManager[Session]:
            return _shared(shared) if shared is not None else _committed(engine)

        with work() as session:
            result.cohorts = store_cohorts(session, file_catalogue)
        for params in (None, {"status": "trash"}):
            for page in woo_client.iter_modified("products", modified_after, params):
                if progress is not None and params is None and page.number == 1:
                    progress.set_total(page.total)
                for payload in page.items:
                    result.products += 1
                    outcome = _apply(work, payload, file_catalogue, result, seen)
                    if progress is not None and params is None:
                        progress.advance()
                    # Variations are listed per product; a stale product still has them.
                    if (
                        outcome is not None
                        and outcome.woo_type in VARIABLE_TYPES
                        and outcome.action != "deactivated"
                    ):
                        path = f"products/{outcome.woo_id}/variations"
                        for variation in woo_client.iter_collection(path):
                            result.variations += 1
                            _apply(work, variation, file_catalogue, result, seen)
        if result.full:
            with work() as session:
                for woo_id in _unseen(session, seen):
                    outcome = _deactivate(session, woo_id, file_catalogue)
                    result.actions[outcome.action] += 1
                    result.changed += 1 if outcome.changed else 0
                    result.deactivated.append(woo_id)
        with work() as session:
            result.offers = store_offers(session, file_catalogue)
    after = _request_count(woo_client)
    result.requests = None if before is None or after is None else after - before
    return result


def _apply(
    work: Callable[[], AbstractContextManager[Session]],
    payload: Any,
    file_catalogue: Catalogue,
    result: CatalogueSyncResult,
    seen: set[int],
) -> ProductOutcome | None:
    try:
        with work() as session:
            outcome = apply_product_payload(session, payload, file_catalogue)
    except CatalogueError as exc:
        result.rejected.append(str(exc))
        return None
    seen.add(outcome.woo_id)
    if isinstance(payload, Mapping) and payload.get("manage_stock") is True:
        result.shop_stock.append(
            {
                "id": outcome.woo_id,
                "parent_id": payload.get("parent_id") or 0,
                "manage_stock": True,
                "stock_quantity": payload.get("stock_quantity"),
                "backorders": payload.get("backorders"),
            }
        )
    result.actions[outcome.action] += 1
    result.changed += 1 if outcome.changed else 0
    if outcome.action == "deactivated":
        result.deactivated.append(outcome.woo_id)
    for problem in outcome.problems:
        if problem not in result.problems:
            result.problems.append(problem)
    moment = outcome.date_modified_gmt
    if moment is not None and (
        result.newest_modified_gmt is None or moment > result.newest_modified_gmt
    ):
        result.newest_modified_gmt = moment
    return outcome


def _unseen(session: Session, seen: set[int]) -> list[int]:
    rows = session.exec(
        select(ProductBinding.woo_id).where(col(ProductBinding.active).is_(True))
    ).all()
    return sorted(woo_id for woo_id in rows if woo_id not in seen)


@contextmanager
def _committed(engine: Engine) -> Iterator[Session]:
    with unit_of_work(engine) as session:
        yield session
        session.commit()


@contextmanager
def _shared(session: Session) -> Iterator[Session]:
    yield session


def _request_count(woo_client: object) -> int | None:
    total = getattr(woo_client, "total_requests", None)
    return total() if callable(total) else None


def read_catalogue_file(path: str | Path) -> Catalogue:
    """Read and validate the catalogue file; errors name the file, the key and the reason."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise CatalogueError(
            str(path),
            "(file)",
            "not found; set BRIDGE_CATALOG_FILE, or run `bridge init` to write the example",
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise CatalogueError(str(path), "(file)", f"cannot be read: {exc}") from None
    return parse_catalogue(text, str(path))
