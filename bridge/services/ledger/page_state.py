"""What a page of orders needs from storage, read and locked in a few set-based queries.

The ledger (bridge.services.ledger.ledger) applies orders one by one; inside a page's unit of work
(bridge.services.orders.page_apply) it takes their rows from here instead of querying per order. The
objects are the session's own (one identity map), so a change made while applying one order
(a seat promoted, a learner renamed) is what the next order sees, as it would be after a flush.
Locks are taken in one order everywhere: order states, then learners, then cohorts, each by
key, so two pages (or a page and a single webhook) cannot deadlock on them.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from sqlalchemy import delete, func, or_
from sqlmodel import Session, SQLModel, col, select

from bridge.rules.cohorts import SeatStatus
from bridge.rules.entitlements import OrderPayloadError, normalise_email
from bridge.store.bulk import insert_ignoring, insert_new, insert_rows, table_of, update_changed
from bridge.store.ids import id_of
from bridge.store.models import (
    Access,
    ClaimPlace,
    Cohort,
    Learner,
    LearnerEmail,
    LedgerEntry,
    OrderState,
    Seat,
    UnmappedLine,
    utcnow,
)

PAGE_KEY = "bridge.page"


class NotInPage(Exception):
    """The page cannot settle this by itself (a rare learner case): apply its orders singly."""


@dataclass
class CohortSeats:
    """A locked cohort with its active count and waitlist (oldest first), kept current."""

    cohort: Cohort
    active: int
    waitlist: list[Seat]


@dataclass
class PageState:
    states: dict[int, OrderState]
    ledger: dict[int, list[LedgerEntry]]
    seats: dict[int, list[Seat]]
    access: dict[int, list[Access]]
    cohorts: dict[str, CohortSeats] = field(default_factory=dict)
    # Learners by id, customer id and e-mail (current or former), for every key the page's
    # orders name: a key looked up and absent here belongs to nobody (but to learners made now).
    learners: dict[int, Learner] = field(default_factory=dict)
    by_customer: dict[int, Learner | None] = field(default_factory=dict)
    by_email: dict[str, Learner] = field(default_factory=dict)
    aliases: dict[str, Learner] = field(default_factory=dict)
    known_emails: set[str] = field(default_factory=set)
    new_aliases: list[tuple[str, Learner]] = field(default_factory=list)
    # The learner each order resolved to before it was applied (None: it needs none).
    resolved: dict[int, Learner | None] = field(default_factory=dict)
    # Event data waiting for the id of a row added in this page: filled after the flush.
    pending_ids: list[tuple[dict[str, Any], str, Any]] = field(default_factory=list)
    # Team-pack places by order, locked (read only when the catalogue has claimable offers).
    claims: dict[int, list[ClaimPlace]] | None = None
    # New rows in the order they were made, inserted in bulk (bridge.store.bulk) at the flush.
    added: list[Any] = field(default_factory=list)
    inserted: list[Any] = field(default_factory=list)
    # Unmapped lines to record, by order: they replace what each order had listed.
    unmapped: dict[int, list[dict[str, Any]]] = field(default_factory=dict)

    def find_email(self, email: str) -> Learner | None:
        if email not in self.known_emails:
            raise NotInPage(f"e-mail {email!r} was not read for this page")
        return self.by_email.get(email) or self.aliases.get(email)

    def add_learner(self, learner: Learner) -> None:
        if learner.woo_customer_id:
            self.by_customer[int(learner.woo_customer_id)] = learner
        self.by_email[learner.email] = learner
        self.known_emails.add(learner.email)

    def fill_ids(self) -> None:
        """After the flush: the ids of the rows added in this page, into their events."""
        for data, name, row in self.pending_ids:
            data[name] = row.id
        self.pending_ids.clear()


def page_state_of(session: Session) -> PageState | None:
    return session.info.get(PAGE_KEY)


_Row = TypeVar("_Row", bound=SQLModel)


def lock_row(session: Session, model: type[_Row], *where: Any) -> _Row | None:
    """The first row that matches, locked until the transaction ends (outside a page)."""
    return session.exec(select(model).where(*where).with_for_update()).first()


def flush_unless_paged(session: Session) -> None:
    """Flush now, unless a page is being applied: it flushes once, at its end."""
    if page_state_of(session) is None:
        session.flush()


def add_new(session: Session, row: Any) -> None:
    """session.add for a new row; inside a page it is also kept for the bulk insert."""
    session.add(row)
    page = page_state_of(session)
    if page is not None:
        page.added.append(row)


def flush_page(session: Session, page: PageState) -> None:
    """The page's new rows in one INSERT per table, then its changed rows."""
    insert_new(session, page.added)
    page.inserted += page.added  # still referenced, they stay in the identity map
    page.added = []
    update_changed(session, [*page.states.values(), *page.learners.values()])
    session.flush()
    if page.unmapped:
        session.execute(
            delete(UnmappedLine).where(col(UnmappedLine.order_id).in_(sorted(page.unmapped)))
        )
        insert_rows(session, UnmappedLine, [row for rows in page.unmapped.values() for row in rows])
        page.unmapped.clear()


def _insert_ignore_many(
    session: Session, model: type[SQLModel], rows: Sequence[dict[str, Any]], conflict: Sequence[str]
) -> None:
    if rows:
        session.execute(insert_ignoring(session, table_of(model), conflict), list(rows))


# The rows an order holds, read for a page.
_OrderRow = TypeVar("_OrderRow", LedgerEntry, Seat, Access)


def _rows_by_order(
    session: Session, model: type[_OrderRow], ids: Sequence[int], holder: dict[int, list[_OrderRow]]
) -> None:
    for row in session.exec(
        select(model).where(col(model.order_id).in_(ids)).order_by(col(model.id))
    ).all():
        assert row.order_id is not None  # matched by the IN above
        holder[row.order_id].append(row)


def load_page(
    session: Session,
    orders: Sequence[tuple[int, str]],
    customers: Iterable[tuple[int, str]],
    *,
    claims: bool = False,
) -> PageState:
    """Create and lock the page's order states, then read what applying them needs.

    ``orders`` are (order id, status) pairs, each order once; ``customers`` the (customer id,
    e-mail) pairs the orders name; ``claims``: read the orders' team-pack places too. Cohorts
    are locked separately (``lock_cohorts``), once the seats the page will claim or release
    are known.
    """
    ids = sorted({order_id for order_id, _ in orders})
    now = utcnow()
    _insert_ignore_many(
        session,
        OrderState,
        [
            {"order_id": order_id, "status": status, "updated_at": now}
            for order_id, status in orders
        ],
        ["order_id"],
    )
    states = {
        state.order_id: state
        for state in session.exec(
            select(OrderState)
            .where(col(OrderState.order_id).in_(ids))
            .order_by(col(OrderState.order_id))
            .with_for_update()
            .execution_options(populate_existing=True)
        ).all()
    }
    page = PageState(
        states=states, ledger=defaultdict(list), seats=defaultdict(list), access=defaultdict(list)
    )
    _load_learners(
        session, page, {s.learner_id for s in states.values() if s.learner_id}, customers
    )
    _rows_by_order(session, LedgerEntry, ids, page.ledger)
    _rows_by_order(session, Seat, ids, page.seats)
    _rows_by_order(session, Access, ids, page.access)
    if claims:
        page.claims = defaultdict(list)
        for place in session.exec(
            select(ClaimPlace)
            .where(col(ClaimPlace.order_id).in_(ids))
            .order_by(col(ClaimPlace.place_key))
            .with_for_update()
            .execution_options(populate_existing=True)
        ).all():
            page.claims[int(place.order_id)].append(place)
    session.info[PAGE_KEY] = page
    return page


def _load_learners(
    session: Session, page: PageState, learner_ids: set[int], customers: Iterable[tuple[int, str]]
) -> None:
    customer_ids = sorted({c for c, _ in customers if c})
    emails = sorted({e for _, e in customers if e})
    page.known_emails.update(emails)
    aliases = (
        session.exec(
            select(LearnerEmail.email, LearnerEmail.learner_id).where(
                col(LearnerEmail.email).in_(emails)
            )
        ).all()
        if emails
        else []
    )
    wanted = set(learner_ids) | {int(learner_id) for _, learner_id in aliases}
    conditions = []
    if wanted:
        conditions.append(col(Learner.id).in_(sorted(wanted)))
    if customer_ids:
        conditions.append(col(Learner.woo_customer_id).in_(customer_ids))
    if emails:
        conditions.append(col(Learner.email).in_(emails))
    if conditions:
        for learner in session.exec(
            select(Learner)
            .where(or_(*conditions))
            .order_by(col(Learner.id))
            .with_for_update()
            .execution_options(populate_existing=True)
        ).all():
            page.learners[id_of(learner)] = learner
            if learner.woo_customer_id:
                page.by_customer[int(learner.woo_customer_id)] = learner
            page.by_email[learner.email] = learner
    for email, learner_id in aliases:
        if int(learner_id) in page.learners:
            page.aliases[email] = page.learners[int(learner_id)]
    # A customer id looked up and absent is nobody's: record the ids that were read.
    for customer_id in customer_ids:
        page.by_customer.setdefault(customer_id, None)


def lock_cohorts(session: Session, page: PageState, codes: Iterable[str]) -> None:
    """Lock the cohorts the page claims or releases seats in, with their counts and waitlists."""
    wanted = sorted(set(codes) - set(page.cohorts))
    if not wanted:
        return
    cohorts = session.exec(
        select(Cohort)
        .where(col(Cohort.code).in_(wanted))
        .order_by(col(Cohort.code))
        .with_for_update()
        .execution_options(populate_existing=True)
    ).all()
    found = [cohort.code for cohort in cohorts]
    if not found:
        return
    active = dict(
        session.exec(
            select(Seat.cohort_code, func.count())
            .where(col(Seat.cohort_code).in_(found), Seat.status == SeatStatus.ACTIVE)
            .group_by(Seat.cohort_code)
        ).all()
    )
    waiting: dict[str, list[Seat]] = defaultdict(list)
    for seat in session.exec(
        select(Seat)
        .where(col(Seat.cohort_code).in_(found), Seat.status == SeatStatus.WAITLISTED)
        .order_by(col(Seat.id))
    ).all():
        waiting[seat.cohort_code].append(seat)
    for cohort in cohorts:
        page.cohorts[cohort.code] = CohortSeats(
            cohort, int(active.get(cohort.code, 0)), waiting[cohort.code]
        )


def store_new_aliases(session: Session, page: PageState) -> None:
    """The e-mails the page's learners were seen with (after the learners have ids)."""
    now = utcnow()
    _insert_ignore_many(
        session,
        LearnerEmail,
        [
            {"email": email, "learner_id": learner.id, "seen_at": now}
            for email, learner in page.new_aliases
        ],
        ["email"],
    )
    page.new_aliases.clear()


def resolve_in_page(session: Session, page: PageState, customer_id: int, email: str) -> Learner:
    """bridge.services.ledger.learners.resolve_learner on the page's learners, without a query.

    A learner made here is added to the session (it gets its id when the page flushes, before
    any row names it). The one case read nowhere here (an address already used by another
    customer's history) raises NotInPage.
    """
    email = normalise_email(email)
    learner: Learner | None = None
    if customer_id:
        if customer_id not in page.by_customer:
            raise NotInPage(f"customer {customer_id} was not read for this page")
        learner = page.by_customer[customer_id]
    if learner is None and email:
        learner = page.find_email(email)
        if learner is not None and customer_id:
            if learner.woo_customer_id is None:
                learner.woo_customer_id = customer_id
                learner.updated_at = utcnow()
                session.add(learner)
                page.by_customer[customer_id] = learner
            elif learner.woo_customer_id != customer_id:
                learner = None  # the address belongs to another customer's history
    if learner is None:
        if not email:
            raise OrderPayloadError("order has neither a customer_id nor a billing e-mail")
        if page.find_email(email) is not None:
            raise NotInPage(f"e-mail {email!r} belongs to another customer")
        now = utcnow()
        learner = Learner(
            email=email, woo_customer_id=customer_id or None, created_at=now, updated_at=now
        )
        add_new(session, learner)
        page.add_learner(learner)
    if email and email not in page.aliases:
        page.aliases[email] = learner
        page.new_aliases.append((email, learner))
    return learner
