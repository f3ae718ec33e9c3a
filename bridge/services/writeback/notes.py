"""Order notes for what an order's events did, worded from the note templates, once per event."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

from sqlmodel import Session, col, select

from bridge.rules.catalog import Catalogue
from bridge.rules.identities import note_identity, stable_key
from bridge.rules.notes import (
    PLACEHOLDERS,
    NoteTemplateError,
    NoteTemplates,
    discount_text,
    parse_note_templates,
)
from bridge.services.ledger import (
    Event,
    OrderOutcome,
)
from bridge.services.ledger import waitlist_position as seat_waitlist_position
from bridge.services.writeback.coupons import coupon_key
from bridge.services.writeback.queue import NOTE, enqueue_create, latest, line_of, local_date
from bridge.settings import Settings
from bridge.store.models import (
    Access,
    Cohort,
    PersonalCoupon,
    Seat,
)


def default_note_templates() -> NoteTemplates:
    """The bundled English wording (bridge/data/order_notes.toml)."""
    text = resources.files("bridge").joinpath("data/order_notes.toml").read_text("utf-8")
    return parse_note_templates(text, "bridge/data/order_notes.toml")


def load_note_templates(path: Path | None) -> NoteTemplates:
    """The bundled wording, with the creator's file (if any) over it."""
    base = default_note_templates()
    if path is None:
        return base
    try:
        text = Path(path).read_text("utf-8")
    except OSError as exc:
        raise NoteTemplateError(
            f"BRIDGE_NOTE_TEMPLATES={path}: cannot read it ({exc.strerror})"
        ) from None
    return parse_note_templates(text, str(path), base)


@lru_cache(maxsize=8)
def _cached_templates(path: str | None, _mtime_ns: int) -> NoteTemplates:
    return load_note_templates(Path(path) if path else None)


def note_templates_for(settings: Settings) -> NoteTemplates:
    """The templates the settings name, read again only when the file changes."""
    path = settings.note_templates_file
    mtime = 0
    if path is not None:
        try:
            mtime = Path(path).stat().st_mtime_ns
        except OSError:
            mtime = -1  # load_note_templates names the file and the problem
    return _cached_templates(str(path) if path else None, mtime)


def _event_identity(event: Event) -> str:
    """What an event is about, unique across time and the same after a rebuild.

    The source key of the ledger row, seat or access it wrote: order, line, unit, kind and
    generation, never a local row id.
    """
    source = stable_key(str(event.data.get("source_key") or event.data.get("key") or ""))
    if event.kind.startswith("credit_"):
        return f"ledger:{source}:{event.kind}"
    if event.kind.startswith("seat_"):
        return f"seat:{source}:{event.kind}"
    if event.kind.startswith("access_"):
        return f"access:{source}:{event.kind}"
    return f"{event.kind}:{source}:{event.order_id}"


def _group_events(outcome: OrderOutcome) -> list[tuple[str, int, list[Event]]]:
    """One note per seat event; credits and access of one line and offer share a note."""
    groups: dict[tuple[Any, ...], tuple[str, int, list[Event]]] = {}
    for index, event in enumerate(outcome.events):
        if event.kind not in PLACEHOLDERS:
            continue
        order_id = event.order_id if event.order_id is not None else outcome.order_id
        line = line_of(event.data.get("key"))
        if event.kind.startswith("credit_"):
            group: tuple[Any, ...] = (
                event.kind,
                order_id,
                line,
                event.data.get("sku"),
                event.data.get("credit_type"),
            )
        elif event.kind.startswith("access_"):
            group = (event.kind, order_id, line, event.data.get("sku"), event.data.get("kind"))
        else:
            group = (event.kind, order_id, index)
        groups.setdefault(group, (event.kind, order_id, []))[2].append(event)
    return list(groups.values())


def _note_context(
    session: Session,
    kind: str,
    order_id: int,
    events: list[Event],
    catalogue: Catalogue,
    templates: NoteTemplates,
) -> dict[str, Any]:
    first = events[0]
    sku = first.data.get("sku")
    offer = catalogue.offers.get(sku) if sku else None
    title = (offer.title or offer.sku) if offer else (sku or "")
    context: dict[str, Any] = {"order": order_id, "units": len(events), "sku": sku or ""}
    if kind.startswith("credit_"):
        amount = sum(int(e.data.get("amount") or 0) for e in events)
        context.update(
            amount=amount,
            credit=templates.credit_label(str(first.data.get("credit_type") or ""), amount),
            # Only the complimentary first call is granted without an offer.
            offer=title or templates.label("complimentary"),
        )
    elif kind.startswith("access_"):
        ends = latest(
            session,
            select(Access.ends_at)
            .where(Access.grant_key == str(first.data.get("key") or ""))
            .order_by(col(Access.id).desc()),
        )
        context.update(
            kind=templates.label(str(first.data.get("kind") or "")),
            offer=title,
            ends=local_date(ends),
        )
    elif kind == "claim_links":
        # The claims service derived the links from the claim secret; the event carries them.
        context.update({name: first.data.get(name) for name in ("places", "offer", "links")})
    elif kind.startswith("seat_"):
        code = str(first.data.get("cohort") or "")
        cohort = session.get(Cohort, code)
        spec = catalogue.cohorts.get(code)
        context.update(
            cohort=code,
            cohort_title=(
                cohort.title
                if cohort and cohort.title
                else spec.title
                if spec and spec.title
                else code
            ),
            starts=local_date(cohort.starts_at, cohort.timezone) if cohort else None,
            position=first.data.get("position"),
        )
        if kind == "seat_waitlisted" and first.data.get("seat_id") is not None:
            seat = session.get(Seat, first.data["seat_id"])
            if seat is not None and seat.status == "waitlisted":
                context["position"] = seat_waitlist_position(session, seat)
    return context


def _enqueue_note(
    session: Session,
    order_id: int,
    kind: str,
    text: str,
    identity: str,
    learner_id: int | None,
    settings: Settings,
    requires: Sequence[str] = (),
) -> str | None:
    """Queue a note that shows only its worded text; the drain recognises it by that text."""
    customer = kind in settings.customer_note_events
    data = {"note": text, "customer_note": customer}
    extra: dict[str, Any] = {"event": kind}
    if customer and learner_id is not None:
        extra["notify"] = learner_id  # WooCommerce e-mails a customer note
    if requires:
        extra["requires"] = list(requires)
    return enqueue_create(session, NOTE, order_id, f"order:{order_id}:note:{identity}", data,
                          extra)


def enqueue_event_notes(
    session: Session,
    outcome: OrderOutcome,
    catalogue: Catalogue,
    settings: Settings,
    templates: NoteTemplates,
) -> list[str]:
    """Queue one order note per event (credits and access grouped per line and offer)."""
    keys: list[str] = []
    for kind, order_id, events in _group_events(outcome):
        context = _note_context(session, kind, order_id, events, catalogue, templates)
        text = templates.render(kind, context)
        if not text:
            continue
        identity = note_identity(order_id, kind, [_event_identity(event) for event in events])
        key = _enqueue_note(session, order_id, kind, text, identity, events[0].learner_id,
                            settings)
        if key:
            keys.append(key)
    return keys


def enqueue_coupon_note(
    session: Session,
    coupon: PersonalCoupon,
    order_id: int,
    catalogue: Catalogue,
    settings: Settings,
    templates: NoteTemplates,
) -> str | None:
    titles = [
        (catalogue.offers[sku].title or sku) if sku in catalogue.offers else sku
        for sku in coupon.offer_skus or []
    ]
    stack = next((s for s in catalogue.stacks if f"stack:{s.name}" == coupon.rule), None)
    context = {
        "order": order_id,
        "code": coupon.code,
        "discount": discount_text(coupon.discount_type, Decimal(coupon.amount), catalogue.currency),
        "offer": ", ".join(titles),
        "expires": local_date(coupon.expires_at, settings.shop_timezone),
        "title": (stack.title or stack.name) if stack else coupon.rule.split(":", 1)[-1],
    }
    text = templates.render("coupon_offered", context)
    if not text:
        return None
    identity = note_identity(order_id, "coupon_offered", [f"coupon:{coupon.code}"])
    return _enqueue_note(
        session,
        order_id,
        "coupon_offered",
        text,
        identity,
        coupon.learner_id,
        settings,
        requires=[coupon_key(coupon.learner_id, coupon.rule)],
    )


def enqueue_credential_note(
    session: Session,
    order_id: int,
    credential_uuid: str,
    context: dict[str, Any],
    settings: Settings,
    templates: NoteTemplates,
    learner_id: int | None = None,
) -> str | None:
    """Queue the note that gives the learner their credential's link, once per credential."""
    text = templates.render("credential_issued", {"order": order_id, **context})
    if not text:
        return None
    identity = note_identity(order_id, "credential_issued", [f"credential:{credential_uuid}"])
    return _enqueue_note(session, order_id, "credential_issued", text, identity, learner_id,
                         settings)
