"""What a learner's own page shows, worded for them: mentor time and what expires when, the
complimentary call, bookings and how to book, seats and waitlist places, access windows,
subscriptions, credentials, team-pack places and personal coupons."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode, urlsplit

from sqlalchemy import Engine
from sqlmodel import Session, col, func, select

from bridge.rules.bookings.events import Attendance, BookingStatus
from bridge.rules.bookings.links import link_parameters
from bridge.rules.catalogue.catalog import Catalogue
from bridge.rules.cohorts import SeatStatus
from bridge.services.bookings import booking_link
from bridge.services.credentials import learner_progress, list_credentials
from bridge.services.learner_page.formats import Formats
from bridge.services.learners import learner_page
from bridge.services.ledger import expired_remainders
from bridge.services.team_packs import list_claims
from bridge.settings import Settings
from bridge.store.db import unit_of_work
from bridge.store.models import Booking, ClaimPlace, Learner, LedgerEntry, OrderState, utcnow

# LinkedIn's documented "Add to profile" link for certifications
# (https://addtoprofile.linkedin.com/): startTask, name, organizationId or organizationName,
# issueYear, issueMonth, certUrl, certId (expirationYear/expirationMonth when it expires).
LINKEDIN_ADD_TO_PROFILE = "https://www.linkedin.com/profile/add"
MENTOR_MINUTES = "mentor_minutes"
FAR_FUTURE = datetime(9999, 1, 1, tzinfo=UTC)


def formats_for(settings: Settings, catalogue: Catalogue) -> Formats:
    return Formats(settings.shop.locale, settings.shop.timezone, catalogue.currency)


def _credit_text(fmt: Formats, credit_type: str, amount: int) -> str:
    if credit_type.endswith("minutes"):
        return fmt.minutes(amount)
    return f"{amount} {credit_type.replace('_', ' ')}"


def _expiring(session: Session, learner_id: int, now: datetime) -> list[dict[str, Any]]:
    """Credits still held that expire later, soonest first (settled as the expiry job will)."""
    rows = session.exec(
        select(LedgerEntry)
        .where(LedgerEntry.learner_id == learner_id)
        .order_by(col(LedgerEntry.id))
    ).all()
    by_type: dict[str, list[LedgerEntry]] = {}
    for row in rows:
        by_type.setdefault(row.credit_type, []).append(row)
    lots = [
        lot
        for typed in by_type.values()
        for lot in expired_remainders(typed, FAR_FUTURE)
        if lot.remainder > 0 and lot.expires_at > now
    ]
    lots.sort(key=lambda lot: lot.expires_at)
    return [
        {"credit_type": lot.credit_type, "amount": lot.remainder, "expires_at": lot.expires_at}
        for lot in lots
    ]


def _complimentary(session: Session, learner_id: int) -> dict[str, int] | None:
    """The complimentary first call: its minutes and how many of them are still free."""
    granted = session.exec(
        select(func.sum(LedgerEntry.amount)).where(
            LedgerEntry.learner_id == learner_id,
            col(LedgerEntry.source_key).like("%complimentary_call%"),
        )
    ).one()
    if not granted:
        return None
    used = session.exec(
        select(func.sum(Booking.complimentary_minutes)).where(
            Booking.learner_id == learner_id, Booking.status == BookingStatus.DEBITED
        )
    ).one()
    return {"minutes": int(granted), "left": max(int(granted) - int(used or 0), 0)}


def _booking_state(booking: dict[str, Any], now: datetime) -> str:
    if booking["attendance"] == Attendance.HELD:
        return "held"
    if booking["attendance"] == Attendance.NO_SHOW:
        return "no-show"
    if booking["cancelled_at"] or booking["status"] in (
        BookingStatus.CANCELLED,
        BookingStatus.REJECTED,
    ):
        return "cancelled"
    starts = booking["starts_at"]
    if starts and datetime.fromisoformat(starts) > now:
        return "upcoming"
    return "past"


def _booking_pages(
    catalogue: Catalogue, name: str, email: str, token: str | None
) -> list[dict[str, str]]:
    """A link per bookable event type, pre-filled with the learner's name and e-mail (both
    tools read ``name`` and ``email`` from the query) and their booking token."""
    pages = []
    for booking_type in catalogue.booking_types:
        if not booking_type.url:
            continue
        query: dict[str, str] = {"name": name, "email": email} if name else {"email": email}
        host = urlsplit(booking_type.url).hostname or ""
        tool = "calendly" if host.endswith("calendly.com") else "calcom"
        link = f"{booking_type.url}{'&' if '?' in booking_type.url else '?'}{urlencode(query)}"
        if token:
            link += "&" + link_parameters(token)[tool]
        pages.append({"title": booking_type.title or booking_type.event_type, "url": link})
    return pages


def _team_packs(engine: Engine, learner_id: int, settings: Settings) -> list[dict[str, Any]]:
    with unit_of_work(engine, read_only=True) as session:
        orders = session.exec(
            select(ClaimPlace.order_id)
            .join(OrderState, col(OrderState.order_id) == col(ClaimPlace.order_id))
            .where(OrderState.learner_id == learner_id)
            .distinct()
            .order_by(col(ClaimPlace.order_id))
        ).all()
    return [
        list_claims(engine, order_id, settings, with_codes=bool(settings.claims.secret))
        for order_id in orders
    ]


def page_view(
    engine: Engine,
    learner_id: int,
    settings: Settings,
    catalogue: Catalogue,
    *,
    now: datetime | None = None,
) -> dict[str, Any] | None:
    """Everything the learner's page shows, as plain data (dates kept, words for display)."""
    now = now or utcnow()
    fmt = formats_for(settings, catalogue)
    public_url = settings.web.public_url
    with unit_of_work(engine) as session:
        data = learner_page(
            session,
            learner_id,
            paid_statuses=settings.orders.paid_statuses,
            link_secret=settings.claims.secret,
        )
        if data is None:
            return None
        learner = session.get(Learner, learner_id)
        if settings.claims.secret and learner is not None:
            # Bookings made through the page's links carry the learner's booking token: proof.
            made = booking_link(session, learner, settings.claims.secret, create=True, by="page")
            data["booking_link"] = {"link": made.as_dict() if made else None, "error": None}
        expiring = _expiring(session, learner_id, now)
        complimentary = _complimentary(session, learner_id)
        credentials = list_credentials(session, public_url or "", learner_id=learner_id)
        progress = [state.as_dict() for state in learner_progress(session, catalogue, learner_id)]
        session.commit()
    person = data["learner"]
    token = ((data.get("booking_link") or {}).get("link") or {}).get("token")
    balances = {
        credit_type: {"amount": amount, "text": _credit_text(fmt, credit_type, amount)}
        for credit_type, amount in data["balances"].items()
    }
    bookings = [
        {
            **booking,
            "state": _booking_state(booking, now),
            "when": fmt.datetime(
                datetime.fromisoformat(booking["starts_at"]) if booking["starts_at"] else None
            ),
            "length": fmt.minutes(booking["minutes"]) if booking["minutes"] else "",
        }
        for booking in data["bookings"]
    ]
    seats = []
    for seat in data["seats"]:
        spec = catalogue.cohorts.get(seat["cohort"])
        zone = spec.timezone if spec else fmt.timezone
        position = seat["position"]
        seats.append(
            {
                **seat,
                "title": seat["cohort_title"] or seat["cohort"],
                "starts": fmt.date(spec.starts_at if spec else None, zone),
                "ends": fmt.date(spec.ends_at if spec else None, zone),
                "place": fmt.ordinal_place(position)
                if seat["status"] == SeatStatus.WAITLISTED and position
                else "",
                "sessions": [fmt.datetime(moment, zone) for moment in spec.sessions.occurrences()]
                if spec and spec.sessions and seat["status"] != SeatStatus.RELEASED
                else [],
                "session_length": fmt.minutes(spec.sessions.minutes)
                if spec and spec.sessions
                else "",
                "location": spec.sessions.location if spec and spec.sessions else "",
            }
        )
    access = [
        {
            **window,
            "title": _offer_title(catalogue, window["offer_sku"]),
            "from": fmt.date(_moment(window["starts_at"])),
            "until": fmt.date(_moment(window["ends_at"])),
        }
        for window in data["access"]
        if window["revoked_at"] is None
    ]
    subscriptions = [
        {
            **sub,
            "titles": [_offer_title(catalogue, sku) for sku in sub["offer_skus"]],
            "renews": fmt.date(_moment(sub["next_payment_at"])),
        }
        for sub in data["subscriptions"]
    ]
    # As the credential names them: the offer's badge, issued by BRIDGE_ISSUER_NAME.
    issuer = settings.credentials.issuer_name or catalogue.title or "creator-bridge"
    shown_credentials = []
    for credential in credentials:
        issued = datetime.strptime(credential["issued_at"], "%Y-%m-%dT%H:%M:%SZ").replace(
            tzinfo=UTC
        )
        offer = catalogue.offers.get(credential["sku"])
        title = (offer.badge if offer else None) or _offer_title(catalogue, credential["sku"])
        shown_credentials.append(
            {
                **credential,
                "title": title,
                "issued": fmt.date(issued),
                "linkedin_url": linkedin_add_url(
                    name=title,
                    organization=issuer,
                    issued_at=issued,
                    cert_url=credential["url"],
                    cert_id=credential["id"],
                ),
            }
        )
    coupons = [
        {
            **coupon,
            "titles": [_offer_title(catalogue, sku) for sku in coupon["offer_skus"]],
            "discount": f"{coupon['amount']} %"
            if coupon["discount_type"] == "percent"
            else fmt.money(coupon["amount"]),
            "expires": fmt.date(_moment(coupon["expires_at"])),
        }
        for coupon in data["coupons"]
        if coupon["in_shop"]
        and (coupon["expires_at"] is None or _moment(coupon["expires_at"]) > now)  # type: ignore[operator]
    ]
    return {
        "learner": {"name": person.get("name") or "", "email": person["email"]},
        "balances": balances,
        "mentor": balances.get(MENTOR_MINUTES),
        "expiring": [
            {
                **lot,
                "text": _credit_text(fmt, lot["credit_type"], lot["amount"]),
                "on": fmt.date(lot["expires_at"]),
            }
            for lot in expiring
        ],
        "complimentary": complimentary
        and {**complimentary, "text": fmt.minutes(complimentary["minutes"])},
        "bookings": bookings,
        "booking_pages": _booking_pages(
            catalogue, person.get("name") or "", person["email"], token
        ),
        "seats": seats,
        "access": access,
        "subscriptions": subscriptions,
        "credentials": shown_credentials,
        "team_packs": _team_packs(engine, learner_id, settings),
        "coupons": coupons,
        "progress": progress,
        "timezone": fmt.timezone,
        "shop": catalogue.title or "",
    }


def linkedin_add_url(
    *,
    name: str,
    organization: str,
    issued_at: datetime,
    cert_url: str,
    cert_id: str,
    organization_id: str | None = None,
    expires_at: datetime | None = None,
) -> str:
    """LinkedIn's add-certification link, pre-filled with the credential's facts."""
    params: dict[str, str] = {"startTask": "CERTIFICATION_NAME", "name": name}
    if organization_id:
        params["organizationId"] = organization_id
    else:
        params["organizationName"] = organization
    params.update(
        issueYear=str(issued_at.year),
        issueMonth=str(issued_at.month),
        certUrl=cert_url,
        certId=cert_id,
    )
    if expires_at is not None:
        params.update(expirationYear=str(expires_at.year), expirationMonth=str(expires_at.month))
    return f"{LINKEDIN_ADD_TO_PROFILE}?{urlencode(params)}"


def _moment(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None


def _offer_title(catalogue: Catalogue, sku: str | None) -> str:
    offer = catalogue.offers.get(sku or "")
    return (offer.title or offer.sku) if offer else (sku or "")
