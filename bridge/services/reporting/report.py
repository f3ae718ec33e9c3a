"""The outcome report: the signals a creator steers by, from what the bridge already stores.

``load_rows`` is the only SQL of the report: it reads orders, ledger, seats, redemptions,
subscriptions and outcome events as plain rows; the figures are computed by the pure rules in
bridge.rules.report.figures.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import Engine
from sqlmodel import Session, col, func, select

from bridge.rules.claims import PlaceRow
from bridge.rules.entitlements import OrderStatus
from bridge.rules.report.figures import Report, compute_report
from bridge.rules.report.rows import (
    BookingRow,
    CohortRow,
    EventRow,
    LedgerRow,
    Period,
    RedemptionRow,
    ReportRows,
    SeatRow,
    SubscriptionRow,
    order_row,
)
from bridge.store.db import unit_of_work
from bridge.store.models import (
    Booking,
    ClaimPlace,
    Cohort,
    LedgerEntry,
    OrderState,
    OutcomeEvent,
    Redemption,
    Seat,
    Subscription,
)
from bridge.store.models import Offer as OfferRow

# --- the period -------------------------------------------------------------------------------


# --- plain rows -------------------------------------------------------------------------------


def load_rows(session: Session, end: datetime) -> ReportRows:
    """Read what the report needs, as plain rows; nothing after ``end`` but orders and seats."""
    orders = tuple(
        order_row(state.order_id, state.learner_id, state.status, paid_at=state.date_paid_gmt,
                  created_at=state.date_created_gmt, modified_at=state.date_modified_gmt,
                  currency=state.currency, summary=state.summary)
        for state in session.exec(select(OrderState).order_by(col(OrderState.order_id))).all()
    )
    ledger = tuple(
        LedgerRow(*row) for row in session.exec(
            select(LedgerEntry.learner_id, LedgerEntry.credit_type, LedgerEntry.amount,
                   LedgerEntry.reason, LedgerEntry.created_at, LedgerEntry.sale_at)
            # Grants are dated by their sale (a backfill does not land in this month).
            .where(func.coalesce(LedgerEntry.sale_at, LedgerEntry.created_at) < end)
            .order_by(col(LedgerEntry.id))
        ).all()
    )
    booking_debits = set(session.exec(
        select(Booking.redemption_id).where(col(Booking.redemption_id).is_not(None))).all())
    redemptions = tuple(
        RedemptionRow(learner_id, mentor, status, created_at, redemption_id in booking_debits)
        for redemption_id, learner_id, mentor, status, created_at in session.exec(
            select(Redemption.id, Redemption.learner_id, Redemption.mentor, Redemption.status,
                   Redemption.created_at)
            .where(Redemption.created_at < end).order_by(col(Redemption.id))
        ).all()
    )
    bookings = tuple(
        BookingRow(learner_id, mentor, status, attendance,
                   minutes if minutes is not None else (amount if credit_type.endswith(
                       "minutes") else 0), starts_at, created_at)
        for learner_id, mentor, status, attendance, minutes, amount, credit_type, starts_at,
        created_at in session.exec(
            select(Booking.learner_id, Booking.mentor_email, Booking.status,
                   Booking.attendance, Booking.minutes, Booking.amount, Booking.credit_type,
                   Booking.starts_at, Booking.created_at)
            .where(Booking.created_at < end).order_by(col(Booking.id))
        ).all()
    )
    subscriptions = tuple(
        SubscriptionRow(*row) for row in session.exec(
            select(Subscription.learner_id, Subscription.status, Subscription.start_gmt)
            .where(col(Subscription.learner_id).is_not(None)).order_by(col(Subscription.id))
        ).all()
    )
    cohorts = tuple(
        CohortRow(*row) for row in session.exec(
            select(Cohort.code, Cohort.title, Cohort.capacity, Cohort.starts_at, Cohort.ends_at)
            .order_by(col(Cohort.code))
        ).all()
    )
    seats = tuple(
        SeatRow(*row) for row in session.exec(
            select(Seat.learner_id, Seat.cohort_code, Seat.status).order_by(col(Seat.id))
        ).all()
    )
    events = tuple(
        EventRow(*row) for row in session.exec(
            select(OutcomeEvent.learner_id, OutcomeEvent.kind, OutcomeEvent.offer_sku,
                   OutcomeEvent.occurred_at)
            .where(OutcomeEvent.occurred_at < end).order_by(col(OutcomeEvent.id))
        ).all()
    )
    offer_kinds = dict(session.exec(select(OfferRow.sku, OfferRow.kind)).all())
    places = tuple(
        PlaceRow(*row) for row in session.exec(
            select(ClaimPlace.offer_sku, ClaimPlace.order_id, ClaimPlace.status,
                   ClaimPlace.created_at, ClaimPlace.first_viewed_at, ClaimPlace.claimed_at)
            .where(ClaimPlace.created_at < end).order_by(col(ClaimPlace.id))
        ).all()
    )
    return ReportRows(orders, ledger, redemptions, subscriptions, cohorts, seats, events,
                      offer_kinds, places, bookings)


# --- figures ----------------------------------------------------------------------------------


# --- the report -------------------------------------------------------------------------------


def build_report(engine: Engine, period: Period, now: datetime, *,
                 paid_statuses: Sequence[str] = (OrderStatus.PROCESSING,
                                                 OrderStatus.COMPLETED)) -> Report:
    """Read the rows in one read-only unit of work and compute the report.

    Read-only: on SQLite the reads take no write lock, so webhook receivers write beside them.
    """
    with unit_of_work(engine, read_only=True) as session:
        rows = load_rows(session, period.end)
    return compute_report(rows, period, now, paid_statuses=paid_statuses)


