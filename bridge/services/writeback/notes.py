"""Order notes for what an order's events did, worded from the note templates, once per event.

The events of one application of an order (and the coupon it earned) are worded together in
one note per order, so a pass sends at most one note per order it changed.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from decimal import Decimal
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

from sqlmodel import Session, col, select

from bridge.rules.catalogue.catalog import Catalogue
from bridge.rules.cohorts import SeatStatus
from bridge.rules.writeback.identities import note_identity, stable_key
from bridge.rules.writeback.notes import (
    PLACEHOLDERS,
    NoteTemplateError,
    NoteTemplates,
    bare_links,
    discount_text,
    parse_note_templates,
)
from bridge.services.learner_links import (
    learners_sent_a_link,
    link_for_first_note,
    mark_link_sent,
)
from bridge.services.ledger import Event, OrderOutcome, simulated_orders
from bridge.services.ledger import waitlist_position as seat_waitlist_position
from bridge.services.writeback.coupons import coupon_key
from bridge.services.writeback.queue import (
    NOTE,
    Update,
    enqueue_creates,
    latest,
    line_of,
    local_date,
)
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
    path = settings.writeback.note_templates_file
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
        # The window the event wrote is the grant key's latest (in the session, usually).
        written = (
            session.get(Access, first.data["access_id"]) if first.data.get("access_id") else None
        )
        ends = (
            written.ends_at
            if written is not None
            else latest(
                session,
                select(Access.ends_at)
                .where(Access.grant_key == str(first.data.get("key") or ""))
                .order_by(col(Access.id).desc()),
            )
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
            if seat is not None and seat.status == SeatStatus.WAITLISTED:
                context["position"] = seat_waitlist_position(session, seat)
    return context


# The kind of a note that words several events of one pass together.
COMBINED = "combined"


@dataclass(frozen=True)
class NoteDraft:
    """One event group (or coupon) worded, not yet queued: its order, text and stable facts."""

    order_id: int
    kind: str
    text: str
    facts: tuple[str, ...]
    learner_id: int | None
    requires: tuple[str, ...] = ()


def _note(
    order_id: int,
    kind: str,
    text: str,
    identity: str,
    learner_id: int | None,
    settings: Settings,
    requires: Sequence[str] = (),
    *,
    customer: bool | None = None,
    events: Sequence[str] = (),
) -> Update:
    """A note to create that shows only its worded text; the drain recognises it by that text."""
    if customer is None:
        customer = kind in settings.writeback.customer_note_events
    data = {"note": text, "customer_note": customer}
    extra: dict[str, Any] = {"event": kind}
    if events:
        extra["events"] = list(events)
    if customer and learner_id is not None:
        extra["notify"] = learner_id  # WooCommerce e-mails a customer note
    if requires:
        extra["requires"] = list(requires)
    return Update(NOTE, order_id, f"order:{order_id}:note:{identity}", data, extra)


def _held_without_url(note: Update, settings: Settings) -> Update:
    """A note whose links would be bare paths (no BRIDGE_PUBLIC_URL) is queued held, with
    those paths, and worded with the URL once it is set (``release_held_notes``)."""
    if settings.web.public_url:
        return note
    links = bare_links(str(note.data.get("note") or ""))
    if not links:
        return note
    return replace(note, extra={**note.extra, "relative_links": links})


def enqueue_notes(session: Session, drafts: Iterable[NoteDraft], settings: Settings) -> list[str]:
    """Queue one note per order for this pass's drafts, worded together in their order.

    A single draft keeps the identity it has alone; several become one ``combined`` note,
    a customer note when any of its parts is one, needing every coupon its parts need. All
    of them are queued together (three statements).
    """
    by_order: dict[int, list[NoteDraft]] = {}
    for draft in drafts:
        by_order.setdefault(draft.order_id, []).append(draft)
    notes: list[Update] = []
    for order_id, parts in by_order.items():
        learner_id = next((p.learner_id for p in parts if p.learner_id is not None), None)
        if len(parts) == 1:
            [part] = parts
            notes.append(
                _note(
                    order_id,
                    part.kind,
                    part.text,
                    note_identity(order_id, part.kind, part.facts),
                    learner_id,
                    settings,
                    part.requires,
                )
            )
        else:
            facts = [fact for part in parts for fact in part.facts]
            requires = sorted({name for part in parts for name in part.requires})
            notes.append(
                _note(
                    order_id,
                    COMBINED,
                    "\n".join(part.text for part in parts),
                    note_identity(order_id, COMBINED, facts),
                    learner_id,
                    settings,
                    requires,
                    customer=any(
                        part.kind in settings.writeback.customer_note_events for part in parts
                    ),
                    events=[part.kind for part in parts],
                )
            )
    carrying = _with_page_links(session, notes, settings)
    queued = enqueue_creates(session, [_held_without_url(note, settings) for note in notes])
    for key in queued:
        if key in carrying:
            mark_link_sent(session, carrying[key], key)
    return queued


def _with_page_links(
    session: Session, notes: Sequence[Update], settings: Settings
) -> dict[str, int]:
    """Add the learner's page link to the first customer note written for them (once: later
    notes do not repeat it); the keys of the notes that carry one, with their learner."""
    carrying: dict[str, int] = {}
    if not settings.claims.secret:
        return carrying
    customer = [
        note
        for note in notes
        if note.data.get("customer_note") and isinstance(note.extra.get("notify"), int)
    ]
    # One query for the whole pass: most learners were sent their link long ago.
    sent = learners_sent_a_link(session, [note.extra["notify"] for note in customer])
    for note in customer:
        learner_id = note.extra["notify"]
        if learner_id in sent or learner_id in carrying.values():
            continue
        url = link_for_first_note(
            session, learner_id, settings.claims.secret, settings.web.public_url
        )
        if url:
            templates = note_templates_for(settings)
            note.data["note"] = f"{note.data['note']}\n{templates.label('page_link')} {url}"
            carrying[note.target_key] = learner_id
    return carrying


def event_note_drafts(
    session: Session,
    outcome: OrderOutcome,
    catalogue: Catalogue,
    templates: NoteTemplates,
) -> list[NoteDraft]:
    """The worded event groups of an outcome (credits and access grouped per line and offer)."""
    drafts: list[NoteDraft] = []
    for kind, order_id, events in _group_events(outcome):
        context = _note_context(session, kind, order_id, events, catalogue, templates)
        text = templates.render(kind, context)
        if text:
            drafts.append(
                NoteDraft(
                    order_id,
                    kind,
                    text,
                    tuple(_event_identity(event) for event in events),
                    events[0].learner_id,
                )
            )
    return drafts


def coupon_note_draft(
    coupon: PersonalCoupon,
    order_id: int,
    catalogue: Catalogue,
    settings: Settings,
    templates: NoteTemplates,
) -> NoteDraft | None:
    """The worded note offering a personal coupon; it needs the coupon to exist first."""
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
        "expires": local_date(coupon.expires_at, settings.shop.timezone),
        "title": (stack.title or stack.name) if stack else coupon.rule.split(":", 1)[-1],
    }
    text = templates.render("coupon_offered", context)
    if not text:
        return None
    return NoteDraft(
        order_id,
        "coupon_offered",
        text,
        (f"coupon:{coupon.code}",),
        coupon.learner_id,
        (coupon_key(coupon.learner_id, coupon.rule),),
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
    if simulated_orders(session, [order_id]):
        return None  # made up by `bridge simulate`: no shop has the order
    note = _note(order_id, "credential_issued", text, identity, learner_id, settings)
    queued = enqueue_creates(session, [_held_without_url(note, settings)])
    return queued[0] if queued else None


def enqueue_page_link_note(
    session: Session,
    order_id: int,
    learner_id: int,
    url: str,
    fact: str,
    settings: Settings,
) -> str | None:
    """Queue a customer note on ``order_id`` that gives the learner their page's link again
    (the console's "re-send"); ``fact`` makes one request one note. None when the note is
    already queued or written, or the order is made up by `bridge simulate`."""
    if simulated_orders(session, [order_id]):
        return None
    text = f"{note_templates_for(settings).label('page_link')} {url}"
    identity = note_identity(order_id, "page_link", [fact])
    note = _note(order_id, "page_link", text, identity, learner_id, settings, customer=True)
    queued = enqueue_creates(session, [_held_without_url(note, settings)])
    if queued:
        mark_link_sent(session, learner_id, queued[0])
    return queued[0] if queued else None
