"""The outcome report: the signals a creator steers by, from what the bridge already stores.

``load_rows`` is the only SQL of the report: it reads orders, ledger, seats, redemptions,
subscriptions and outcome events as plain rows; the figures are computed by the pure rules in
bridge.rules.report.figures.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import Engine
from sqlalchemy import select as core_select
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
        order_row(
            state.order_id,
            state.learner_id,
            state.status,
            paid_at=state.date_paid_gmt,
            created_at=state.date_created_gmt,
            modified_at=state.date_modified_gmt,
            currency=state.currency,
            summary=state.summary,
        )
        for state in session.exec(select(OrderState).order_by(col(OrderState.order_id))).all()
    )
    ledger = tuple(
        LedgerRow(*row)
        for row in session.execute(
            # SQLModel's select is typed for at most four columns; SQLAlchemy's for any number.
            core_select(
                col(LedgerEntry.learner_id),
                col(LedgerEntry.credit_type),
                col(LedgerEntry.amount),
                col(LedgerEntry.reason),
                col(LedgerEntry.created_at),
                col(LedgerEntry.sale_at),
            )
            # Grants are dated by their sale (a backfill does not land in this month).
            .where(func.coalesce(LedgerEntry.sale_at, LedgerEntry.created_at) < end)
            .order_by(col(LedgerEntry.id))
        ).all()
    )
    booking_debits = set(
        session.exec(
            select(Booking.redemption_id).where(col(Booking.redemption_id).is_not(None))
        ).all()
    )
    redemptions = tuple(
        RedemptionRow(learner_id, mentor, status, created_at, redemption_id in booking_debits)
        for redemption_id, learner_id, mentor, status, created_at in session.execute(
            core_select(
                col(Redemption.id),
                col(Redemption.learner_id),
                col(Redemption.mentor),
                col(Redemption.status),
                col(Redemption.created_at),
            )
            .where(col(Redemption.created_at) < end)
            .order_by(col(Redemption.id))
        ).all()
    )
    booking_rows = session.execute(
        core_select(
            col(Booking.learner_id),
            col(Booking.mentor_email),
            col(Booking.status),
            col(Booking.attendance),
            col(Booking.minutes),
            col(Booking.amount),
            col(Booking.credit_type),
            col(Booking.starts_at),
            col(Booking.created_at),
        )
        .where(col(Booking.created_at) < end)
        .order_by(col(Booking.id))
    ).all()
    bookings = tuple(
        BookingRow(
            learner_id,
            mentor,
            status,
            attendance,
            minutes if minutes is not None else (amount if credit_type.endswith("minutes") else 0),
            starts_at,
            created_at,
        )
        for (
            learner_id,
            mentor,
            status,
            attendance,
            minutes,
            amount,
            credit_type,
            starts_at,
            created_at,
        ) in booking_rows
    )
    subscriptions = tuple(
        SubscriptionRow(*row)
        for row in session.exec(
            select(Subscription.learner_id, Subscription.status, Subscription.start_gmt)
            .where(col(Subscription.learner_id).is_not(None))
            .order_by(col(Subscription.id))
        ).all()
    )
    cohorts = tuple(
        CohortRow(*row)
        for row in session.execute(
            core_select(
                col(Cohort.code),
                col(Cohort.title),
                col(Cohort.capacity),
                col(Cohort.starts_at),
                col(Cohort.ends_at),
            ).order_by(col(Cohort.code))
        ).all()
    )
    seats = tuple(
        SeatRow(*row)
        for row in session.exec(
            select(Seat.learner_id, Seat.cohort_code, Seat.status).order_by(col(Seat.id))
        ).all()
    )
    events = tuple(
        EventRow(*row)
        for row in session.exec(
            select(
                OutcomeEvent.learner_id,
                OutcomeEvent.kind,
                OutcomeEvent.offer_sku,
                OutcomeEvent.occurred_at,
            )
            .where(OutcomeEvent.occurred_at < end)
            .order_by(col(OutcomeEvent.id))
        ).all()
    )
    offer_kinds = dict(session.exec(select(OfferRow.sku, OfferRow.kind)).all())
    places = tuple(
        PlaceRow(*row)
        for row in session.execute(
            core_select(
                col(ClaimPlace.offer_sku),
                col(ClaimPlace.order_id),
                col(ClaimPlace.status),
                col(ClaimPlace.created_at),
                col(ClaimPlace.first_viewed_at),
                col(ClaimPlace.claimed_at),
            )
            .where(col(ClaimPlace.created_at) < end)
            .order_by(col(ClaimPlace.id))
        ).all()
    )
    return ReportRows(
        orders,
        ledger,
        redemptions,
        subscriptions,
        cohorts,
        seats,
        events,
        offer_kinds,
        places,
        bookings,
    )


# --- figures ----------------------------------------------------------------------------------


# --- the report -------------------------------------------------------------------------------


def build_report(
    engine: Engine,
    period: Period,
    now: datetime,
    *,
    paid_statuses: Sequence[str] = (OrderStatus.PROCESSING, OrderStatus.COMPLETED),
) -> Report:
    """Read the rows in one read-only unit of work and compute the report.

    Read-only: on SQLite the reads take no write lock, so webhook receivers write beside them.
    """
    with unit_of_work(engine, read_only=True) as session:
        rows = load_rows(session, period.end)
    return compute_report(rows, period, now, paid_statuses=paid_statuses)
