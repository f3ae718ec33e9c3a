"""Team packs: claim places of a paid order with codes, and reconcile them with the order.

The pipeline calls ``reconcile_claims`` in the order's own transaction (its ``order_state`` row
is locked): places the order confers now get a claim row (once per place key), places it no
longer confers are voided and what their claimants hold is taken back with reversal rows.
``claim_place`` runs under the same lock, so a claim and a refund of one order never interleave.

What claimants hold is keyed under the place key and carries no order id: the buyer's own
reconciliation, which reads the rows of the order, never sees (or reverses) them.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, func
from sqlmodel import Session, col, select

from bridge.errors import PermanentError
from bridge.rules.catalogue.catalog import Catalogue, offer_from_dict, offer_to_dict
from bridge.rules.claims import (
    ClaimPlaceStatus,
    PlaceState,
    claim_code,
    claim_url,
    code_hash,
    normalise_code,
    places_kept,
)
from bridge.rules.entitlements import (
    ClaimableLine,
    Entitlement,
    OrderEntitlements,
    normalise_email,
    order_entitlements,
    place_entitlements,
    plausible_email,
)
from bridge.rules.inbound.payloads import unstorable
from bridge.rules.reconcile import AccessRow, CreditRow, reconcile_access, reconcile_credits
from bridge.services.ledger import (
    ClaimRow,
    CreditTarget,
    Event,
    OrderOutcome,
    Page,
    active_perks,
    lock_learner,
    read_rows,
    resolve_learner,
    write_rows,
)
from bridge.services.writeback import enqueue_customer_meta
from bridge.settings import Settings
from bridge.store.bulk import table_of
from bridge.store.db import unit_of_work
from bridge.store.models import Access, ClaimPlace, Learner, LedgerEntry, OrderState, utcnow

log = logging.getLogger(__name__)

LINKS_EVENT = "claim_links"


class ClaimRefused(PermanentError):
    """A claim that cannot be made; ``status`` is the HTTP answer and ``code`` names why."""

    def __init__(self, status: int, code: str, message: str, field_name: str | None = None):
        super().__init__(message)
        self.status = status
        self.code = code
        self.field = field_name


class UnknownOrder(PermanentError):
    """No order of that id was ever applied."""


@dataclass
class ClaimResult:
    """A place claimed: who holds it now and what it conferred."""

    email: str
    learner_id: int
    order_id: int
    offer_sku: str
    granted: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "status": ClaimPlaceStatus.CLAIMED,
            "email": self.email,
            "offer": self.offer_sku,
            "granted": self.granted,
        }


def has_claimable_offers(catalogue: Catalogue) -> bool:
    return any(offer.claimable for offer in catalogue.offers.values())


def _snapshot(catalogue: Catalogue, sku: str) -> dict[str, Any]:
    """What one place confers, frozen at the sale: the offer and every offer it includes."""
    return {"sku": sku, "offers": {o.sku: offer_to_dict(o) for o in catalogue.expand(sku)}}


def _place_targets(row: ClaimPlace, starts_at: datetime | None) -> list[Entitlement]:
    snapshot = row.confers or {}
    offers = {sku: offer_from_dict(data) for sku, data in (snapshot.get("offers") or {}).items()}
    offer = offers.get(str(snapshot.get("sku") or ""))
    if offer is None:
        return []
    base = {"order_id": row.order_id, "line_item_id": row.line_item_id, "unit": row.unit}
    return place_entitlements(offer, Catalogue(offers=offers), row.place_key, base, starts_at)


def _reconcile_holder(
    session: Session,
    place_key: str,
    learner_id: int,
    targets: Sequence[Entitlement],
    now: datetime,
) -> list[Event]:
    """Make the claimant hold exactly ``targets`` from this place (grants or reversals):
    their rows keyed under the place, reconciled (bridge.rules.reconcile) and written now."""
    prefix = f"{place_key}:"
    ledger_table, access_table = table_of(LedgerEntry), table_of(Access)
    ledger = read_rows(
        session,
        CreditRow,
        ledger_table.c.learner_id == learner_id,
        ledger_table.c.grant_key.startswith(prefix, autoescape=True),
        order_by=ledger_table.c.id,
    )
    access = read_rows(
        session,
        AccessRow,
        access_table.c.learner_id == learner_id,
        access_table.c.grant_key.startswith(prefix, autoescape=True),
        order_by=access_table.c.id,
    )
    credit_targets = {
        e.key: CreditTarget(e.credit_type or "", e.amount, None, e.offer_sku)
        for e in targets
        if e.kind == "credit"
    }
    access_targets = {e.key: e for e in targets if e.kind == "access"}
    done = reconcile_credits(ledger, credit_targets, learner_id, None, now)
    done += reconcile_access(access, access_targets, learner_id, None, now)
    write_rows(session, done.new, done.changed)
    for data, name, row in done.pending_ids:
        data[name] = row.id
    return done.events


# --- reconciliation with the order --------------------------------------------------------------


def reconcile_claims(
    page: Page,
    payload: Mapping[str, Any],
    outcome: OrderOutcome,
    *,
    catalogue: Catalogue,
    settings: Settings,
    rules: OrderEntitlements | None = None,
) -> list[Event]:
    """Bring an order's places in line with what it confers now; call after apply_order, in
    the order's page (which read and locked the order's places).

    Returns the buyer's events (one ``claim_links`` event when places were created); what
    claimants lose is reversed here and their customer meta queued.
    """
    if not outcome.applied or not has_claimable_offers(catalogue):
        return []
    result = rules or order_entitlements(
        payload, catalogue, paid_statuses=settings.orders.paid_statuses
    )
    lines: tuple[ClaimableLine, ...] = result.claimable
    paid = result.facts.status in settings.orders.paid_statuses
    if not lines and paid:
        return []
    order_id = result.facts.order_id
    now = page.now
    assert page.claims is not None  # read by the page when the catalogue has claimable offers
    places = page.claims[order_id]
    existing = {row.place_key: row for row in places}
    if not lines and not existing:
        return []
    kept: set[str] = set()
    for line in lines:
        states = []
        for place in line.places:
            row = existing.get(place.key)
            claimed = (
                row.claimed_at
                if row is not None and row.status == ClaimPlaceStatus.CLAIMED
                else None
            )
            states.append(PlaceState(place.key, place.unit, place.place, claimed))
        kept |= places_kept(states, line.kept)
    created: list[str] = []  # codes of the places made now, in unit and place order
    for line in lines:
        for place in line.places:
            if place.key not in kept or place.key in existing:
                continue
            code = claim_code(
                settings.claims.secret or "", order_id, place.line_item_id, place.unit, place.place
            )
            # The page read the order's places under its lock: none can appear meanwhile.
            new = ClaimRow(
                place_key=place.key,
                code_hash=code_hash(code),
                order_id=order_id,
                line_item_id=place.line_item_id,
                unit=place.unit,
                place=place.place,
                offer_sku=line.offer_sku,
                status=ClaimPlaceStatus.OPEN,
                confers=_snapshot(catalogue, line.offer_sku),
                created_at=now,
                changed_at=now,
            )
            page.add(new)
            places.append(new)
            created.append(code)
    claimant_events: list[Event] = []
    reason = "refund" if paid else result.facts.status
    for key, row in sorted(existing.items()):
        if key in kept:
            if row.status == ClaimPlaceStatus.VOID:
                # Conferred again (an order restored): the code works again, for anyone.
                row.status, row.voided_at, row.void_reason = ClaimPlaceStatus.OPEN, None, ""
                row.learner_id, row.claimant_name, row.claimed_at = None, "", None
                row.changed_at = now
                page.changed(row)
            continue
        if row.status == ClaimPlaceStatus.VOID:
            continue
        if row.status == ClaimPlaceStatus.CLAIMED and row.learner_id is not None:
            lock_learner(page.session, row.learner_id)
            claimant_events += _reconcile_holder(page.session, key, row.learner_id, [], now)
        row.status, row.voided_at, row.void_reason = ClaimPlaceStatus.VOID, now, reason
        row.changed_at = now
        page.changed(row)
    session = page.session
    _queue_claimant_meta(session, claimant_events, catalogue)
    if not created or outcome.learner_id is None:
        return []
    if not settings.web.public_url:
        log.warning(
            "BRIDGE_PUBLIC_URL is not set: the buyer's note with the claim links is held in "
            "the outbox until it is",
            extra={"order_id": order_id},
        )
    links = [claim_url(settings.web.public_url, code) for code in created]
    digest = hashlib.sha256(
        "|".join(sorted(k for k in kept if k not in existing)).encode()
    ).hexdigest()[:16]
    offers = sorted({line.offer_sku for line in lines})
    titles = [(catalogue.offers[s].title or s) if s in catalogue.offers else s for s in offers]
    return [
        Event(
            LINKS_EVENT,
            outcome.learner_id,
            order_id,
            {
                "key": f"order:{order_id}:claims:{digest}",
                "sku": ",".join(offers),
                "offer": ", ".join(titles),
                "places": len(links),
                "links": " ".join(links),
            },
        )
    ]


def _queue_claimant_meta(
    session: Session, events: Sequence[Event], catalogue: Catalogue | None
) -> None:
    """Claimants' balances changed: their customer meta follows (WooCommerce customers only)."""
    for learner_id in sorted({event.learner_id for event in events}):
        enqueue_customer_meta(
            session, learner_id, active_perks(session, learner_id, catalogue=catalogue)
        )


# --- claiming ---------------------------------------------------------------------------------


def check_claimant(email: object, name: object) -> tuple[str, str]:
    """The claimant's e-mail (normalised) and name, or a 400 naming the field."""
    if (
        not isinstance(email, str)
        or len(email) > 254
        or not plausible_email(normalise_email(email))
    ):
        raise ClaimRefused(400, "invalid_email", "give a valid e-mail address", "email")
    if (
        not isinstance(name, str)
        or not name.strip()
        or len(name) > 200
        or any(ord(ch) < 32 for ch in name)
        or unstorable(name)
    ):
        raise ClaimRefused(400, "invalid_name", "give your name (1 to 200 characters)", "name")
    return normalise_email(email), " ".join(name.split())


def _find(session: Session, code: str, *, lock: bool = False) -> ClaimPlace | None:
    normal = normalise_code(code)
    if normal is None:
        return None
    statement = select(ClaimPlace).where(ClaimPlace.code_hash == code_hash(normal))
    if lock:
        # Read again under the lock: what another claim committed meanwhile must show.
        statement = statement.with_for_update().execution_options(populate_existing=True)
    return session.exec(statement).first()


def _answerable(session: Session, row: ClaimPlace | None, settings: Settings) -> ClaimPlace:
    if row is None:
        raise ClaimRefused(404, "unknown_code", "no place has this code")
    state = session.get(OrderState, row.order_id)
    if (
        row.status == ClaimPlaceStatus.VOID
        or state is None
        or state.status not in settings.orders.paid_statuses
    ):
        raise ClaimRefused(
            410, "void", "this code no longer works: the order was refunded or cancelled"
        )
    if row.status == ClaimPlaceStatus.CLAIMED:
        raise ClaimRefused(409, "already_claimed", "this place has already been claimed")
    return row


@dataclass(frozen=True)
class PlaceView:
    """What the claim page shows of a place before it is claimed."""

    offer_sku: str
    title: str
    confers: list[str]
    status: str  # open, claimed or void


def view_place(engine: Engine, code: str, settings: Settings) -> PlaceView:
    """The place a code names (404 unknown, 410 void, 409 claimed); marks its first view."""
    with unit_of_work(engine) as session:
        row = _find(session, code)
        status = ClaimPlaceStatus.OPEN
        try:
            row = _answerable(session, row, settings)
        except ClaimRefused as exc:
            if exc.status != 409:
                raise
            status = ClaimPlaceStatus.CLAIMED
        assert row is not None
        snapshot = (row.confers or {}).get("offers") or {}
        offer = snapshot.get(row.offer_sku) or {}
        if row.first_viewed_at is None:
            row.first_viewed_at = utcnow()
            session.add(row)
            session.commit()
        return PlaceView(
            row.offer_sku, str(offer.get("title") or row.offer_sku), describe_place(row), status
        )


def describe_place(row: ClaimPlace) -> list[str]:
    """What one place confers, a line per thing, for the page and the CLI."""
    offers = (row.confers or {}).get("offers") or {}

    def title(sku: str) -> str:
        return str((offers.get(sku) or {}).get("title") or sku)

    out = []
    for target in _place_targets(row, None):
        if target.kind == "credit":
            credit = (target.credit_type or "").replace("_", " ")
            out.append(f"{target.amount} {credit} ({title(target.offer_sku)})")
        elif target.kind == "access":
            weeks = (offers.get(target.offer_sku) or {}).get("access_weeks")
            span = f", {weeks} weeks from the claim" if weeks else ""
            out.append(f"{target.access_kind} access: {title(target.offer_sku)}{span}")
    return out


def claim_place(
    engine: Engine,
    code: str,
    email: object,
    name: object,
    settings: Settings,
    *,
    now: datetime | None = None,
) -> ClaimResult:
    """Give one place to the person claiming it, exactly once, in one transaction."""
    email_text, name_text = check_claimant(email, name)
    now = now or utcnow()
    normal = normalise_code(code)
    with unit_of_work(engine) as session:
        order_id = (
            session.exec(
                select(ClaimPlace.order_id).where(ClaimPlace.code_hash == code_hash(normal or ""))
            ).first()
            if normal
            else None
        )
        if order_id is None:
            raise ClaimRefused(404, "unknown_code", "no place has this code")
        # The order's lock first, as the pipeline takes it: claims and refunds never interleave.
        session.exec(
            select(OrderState).where(OrderState.order_id == order_id).with_for_update()
        ).first()
        row = _answerable(session, _find(session, code, lock=True), settings)
        learner = resolve_learner(session, 0, email_text)
        assert learner.id is not None
        holds = session.exec(
            select(func.count())
            .select_from(ClaimPlace)
            .where(
                ClaimPlace.order_id == row.order_id,
                ClaimPlace.learner_id == learner.id,
                ClaimPlace.status == ClaimPlaceStatus.CLAIMED,
            )
        ).one()
        if holds:
            raise ClaimRefused(
                409, "already_holds_place", f"{email_text} already holds a place of this team pack"
            )
        row.status = ClaimPlaceStatus.CLAIMED
        row.learner_id, row.claimant_name = learner.id, name_text
        row.claimed_at = row.changed_at = now
        session.add(row)
        session.flush()
        events = _reconcile_holder(
            session, row.place_key, learner.id, _place_targets(row, now), now
        )
        _queue_claimant_meta(session, events, None)
        session.commit()
        granted = [_granted(event) for event in events]
        log.info("place claimed", extra={"order_id": row.order_id, "place": row.place_key})
        return ClaimResult(email_text, learner.id, row.order_id, row.offer_sku, granted)


def _granted(event: Event) -> dict[str, Any]:
    if event.kind == "credit_granted":
        return {
            "credit_type": event.data["credit_type"],
            "amount": event.data["amount"],
            "sku": event.data["sku"],
        }
    return {"access": event.data["kind"], "sku": event.data["sku"]}


# --- listing and figures ----------------------------------------------------------------------


def list_claims(
    engine: Engine, order_id: int, settings: Settings, *, with_codes: bool = True
) -> dict[str, Any]:
    """Every place of an order: its code (recomputed from the secret), link and claimant.

    Without ``with_codes`` (people who may see who claimed, not hand places out) codes and
    links are left out, and the secret is not needed.
    """
    with unit_of_work(engine) as session:
        rows = session.exec(
            select(ClaimPlace)
            .where(ClaimPlace.order_id == order_id)
            .order_by(col(ClaimPlace.line_item_id), col(ClaimPlace.unit), col(ClaimPlace.place))
        ).all()
        if not rows:
            if session.get(OrderState, order_id) is None:
                raise UnknownOrder(f"order {order_id} is not known to the bridge")
            return {"order_id": order_id, "places": []}
        places = []
        for row in rows:
            code = (
                claim_code(
                    settings.claims.secret or "",
                    row.order_id,
                    row.line_item_id,
                    row.unit,
                    row.place,
                )
                if with_codes
                else ""
            )
            matches = with_codes and code_hash(code) == row.code_hash
            learner = session.get(Learner, row.learner_id) if row.learner_id else None
            places.append(
                {
                    "place_key": row.place_key,
                    "offer_sku": row.offer_sku,
                    "line_item_id": row.line_item_id,
                    "unit": row.unit,
                    "place": row.place,
                    "status": row.status,
                    "code": code if matches else None,
                    "url": claim_url(settings.web.public_url, code) if matches else None,
                    "claimed_by": learner.email if learner else None,
                    "claimant_name": row.claimant_name or None,
                    "claimed_at": row.claimed_at.isoformat() if row.claimed_at else None,
                    "voided_at": row.voided_at.isoformat() if row.voided_at else None,
                    "confers": describe_place(row),
                }
            )
        return {"order_id": order_id, "places": places}
