"""A page of orders' rows: read and locked up front, changed in memory, written in bulk.

Every order is applied as part of a page (bridge.services.orders.page_apply; a single webhook is a
page of one). ``load_page`` reads what the page's orders need in a few set-based SQLAlchemy Core
queries into plain rows (bridge.rules.reconcile, bridge.rules.cohorts, the dataclasses below),
and the ledger applies each order to those rows; a row the page did not read (an e-mail first
seen now, a cohort) is loaded into the page when it is asked for. ``Page.flush`` writes the new
rows of each table in one statement (ids drawn first for the rows others name; one ``COPY`` on
PostgreSQL) and the changed ones in one UPDATE per table (bridge.store.bulk).

Locks are taken in one order everywhere: order states, then learners, then cohorts, each by
key, so two pages (or a page and anything else that locks these rows) cannot deadlock on them.
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import Table, delete, insert, or_, select
from sqlmodel import Session, SQLModel

from bridge.rules.cohorts import CohortSeating, SeatRow, SeatStatus
from bridge.rules.entitlements import OrderPayloadError, normalise_email
from bridge.rules.reconcile import AccessRow, CreditRow
from bridge.services.ledger.erased import erased_learners
from bridge.store.bulk import (
    among,
    built,
    execute_many,
    insert_many_ignoring,
    listed,
    reserve_ids,
    table_of,
    update_rows,
)
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


@dataclass(eq=False)
class StateRow:
    """An order's state (``order_state``) as plain data."""

    order_id: int
    status: str
    learner_id: int | None = None
    date_modified_gmt: datetime | None = None
    date_paid_gmt: datetime | None = None
    date_created_gmt: datetime | None = None
    total: str = "0"
    currency: str = ""
    summary: dict[str, Any] | None = None
    updated_at: datetime | None = None


@dataclass(eq=False)
class LearnerRow:
    """A learner (``learner``) as plain data; ``id`` is None until it is inserted."""

    email: str
    id: int | None = None
    woo_customer_id: int | None = None
    name: str = ""
    created_at: datetime | None = None
    updated_at: datetime | None = None
    erased_at: datetime | None = None


@dataclass(eq=False)
class ClaimRow:
    """A team-pack place (``claim_place``) as plain data."""

    place_key: str
    code_hash: str
    order_id: int
    line_item_id: int
    unit: int
    place: int
    offer_sku: str
    status: str
    id: int | None = None
    confers: dict[str, Any] | None = None
    learner_id: int | None = None
    claimant_name: str = ""
    claimed_at: datetime | None = None
    voided_at: datetime | None = None
    void_reason: str = ""
    created_at: datetime | None = None
    changed_at: datetime | None = None


@dataclass(frozen=True)
class _Kind:
    """How rows of one dataclass are stored: their table, key, and the columns a change writes."""

    model: type[SQLModel]
    ids: bool  # new rows get their ids when inserted (rows or events of the page name them)
    changes: tuple[str, ...]


_KINDS: dict[type, _Kind] = {
    LearnerRow: _Kind(Learner, True, ("name", "woo_customer_id", "updated_at")),
    StateRow: _Kind(
        OrderState,
        False,
        (
            "learner_id",
            "status",
            "date_modified_gmt",
            "date_paid_gmt",
            "date_created_gmt",
            "total",
            "currency",
            "summary",
            "updated_at",
        ),
    ),
    # A ledger row's id is named by nothing else the page writes (a reversal names a grant of
    # an earlier page): inserted without an id, the cheapest INSERT on both databases.
    CreditRow: _Kind(LedgerEntry, False, ("expires_at",)),
    SeatRow: _Kind(Seat, True, ("status", "changed_at")),
    AccessRow: _Kind(Access, True, ("revoked_at",)),
    ClaimRow: _Kind(
        ClaimPlace,
        False,
        (
            "status",
            "voided_at",
            "void_reason",
            "learner_id",
            "claimant_name",
            "claimed_at",
            "changed_at",
        ),
    ),
}
# Tables in the order rows go in: learners before the rows that name them.
_INSERT_ORDER = (LearnerRow, CreditRow, SeatRow, AccessRow, ClaimRow)

_Row = TypeVar("_Row")


_COLUMNS: dict[tuple[Table, type], list[str]] = {}


def _columns(table: Table, row_type: type) -> list[str]:
    """The fields of ``row_type`` the table has (a field whose column another change adds is
    read and written once the column exists)."""
    names = _COLUMNS.get((table, row_type))
    if names is None:
        names = [f.name for f in dataclasses.fields(row_type) if f.name in table.c]
        _COLUMNS[(table, row_type)] = names
    return names


def read_rows(
    session: Session,
    row_type: type[_Row],
    *where: Any,
    order_by: Any = None,
    lock: bool = False,
    shape: Hashable = None,
    params: Mapping[str, Any] | None = None,
) -> list[_Row]:
    """Rows of ``row_type``'s table that match, as plain rows (one Core SELECT).

    ``shape``: a name for ``where`` and ``order_by`` when they bind every value by name
    (``among(column, name=...)``), given in ``params``: the statement is then built once per
    row type and shape (``built``), so one shape must always be the same conditions.
    """
    table = table_of(_KINDS[row_type].model)
    names = _columns(table, row_type)

    def build() -> Any:
        statement = select(*(table.c[name] for name in names)).where(*where)
        if order_by is not None:
            statement = statement.order_by(order_by)
        if lock:
            statement = statement.with_for_update()
        return statement

    statement = build() if shape is None else built(("read_rows", row_type, shape, lock), build)
    rows: list[_Row] = []
    make = object.__new__
    for values in session.execute(statement, params).all():
        # The columns are the row's fields (those without a column keep their default): set
        # directly, without the dataclass's __init__, as the ORM would.
        row = make(row_type)
        row.__dict__.update(zip(names, values, strict=True))
        rows.append(row)
    return rows


def rows_of_orders(session: Session, row_type: type[_Row], orders: Mapping[str, str]) -> list[_Row]:
    """The rows of ``row_type`` (credits, seats, access) of the orders ``{"orders":
    listed(ids)}``, in id order."""
    table = table_of(_KINDS[row_type].model)
    return read_rows(
        session,
        row_type,
        among(table.c.order_id, name="orders"),
        order_by=table.c.id,
        shape="by order",
        params=orders,
    )


def write_rows(session: Session, new: Sequence[Any], changed: Iterable[Any] = ()) -> None:
    """Insert ``new`` plain rows (ids read back into them) and write the changes of ``changed``.

    New rows go in one multi-row INSERT per table, in the order given (generated ids follow
    it); changed rows in one executemany UPDATE per table.
    """
    by_type: dict[type, list[Any]] = defaultdict(list)
    for row in new:
        by_type[type(row)].append(row)
    for insert_type in _INSERT_ORDER:
        if by_type.get(insert_type):
            _insert(session, insert_type, by_type[insert_type])
    updates: dict[type, dict[int, Any]] = defaultdict(dict)
    for row in changed:
        updates[type(row)][id(row)] = row
    for row_type, rows in updates.items():
        kind = _KINDS[row_type]
        if any(getattr(row, "id", 0) is None for row in rows.values()):
            raise ValueError(f"a changed {row_type.__name__} was never inserted with its id")
        table = table_of(kind.model)
        [pk] = list(table.primary_key.columns)
        update_rows(
            session,
            table,
            [
                {
                    pk.key: getattr(row, pk.key),
                    **{name: getattr(row, name) for name in kind.changes},
                }
                for row in rows.values()
            ],
        )


def _insert(session: Session, row_type: type, rows: Sequence[Any]) -> None:
    kind = _KINDS[row_type]
    table = table_of(kind.model)
    names = [name for name in _columns(table, row_type) if name != "id"]
    if kind.ids:
        # Ids drawn first, in the rows' order: one plain executemany, nothing read back.
        for row, row_id in zip(rows, reserve_ids(session, table, len(rows)), strict=True):
            row.id = row_id
        names = ["id", *names]
    execute_many(
        session,
        insert(table),
        [{name: getattr(row, name) for name in names} for row in rows],
        key=("page insert", table.name, kind.ids),
    )


@dataclass
class Page:
    """The rows a page of orders reads and writes, and what it has changed so far.

    Built by ``load_page``; the ledger reads its rows and records new and changed ones with
    ``add`` and ``changed``; ``flush`` writes them. ``states`` and the rows by order are those
    of the page's orders; learners are by id, customer id and e-mail (current or former) for
    every key the page has looked up: a key looked up and absent belongs to nobody (but to the
    learners made now).
    """

    session: Session
    now: datetime
    states: dict[int, StateRow]
    ledger: dict[int, list[CreditRow]] = field(default_factory=lambda: defaultdict(list))
    seats: dict[int, list[SeatRow]] = field(default_factory=lambda: defaultdict(list))
    access: dict[int, list[AccessRow]] = field(default_factory=lambda: defaultdict(list))
    # Team-pack places by order, locked (read only when the catalogue has claimable offers).
    claims: dict[int, list[ClaimRow]] | None = None
    cohorts: dict[str, CohortSeating] = field(default_factory=dict)
    missing_cohorts: set[str] = field(default_factory=set)
    learners: dict[int, LearnerRow] = field(default_factory=dict)
    by_customer: dict[int, LearnerRow | None] = field(default_factory=dict)
    by_email: dict[str, LearnerRow] = field(default_factory=dict)
    aliases: dict[str, LearnerRow] = field(default_factory=dict)
    known_emails: set[str] = field(default_factory=set)
    new_aliases: list[tuple[str, LearnerRow]] = field(default_factory=list)
    # Event data waiting for the id of a row added in this page: filled after the flush.
    pending_ids: list[tuple[dict[str, Any], str, Any]] = field(default_factory=list)
    # Unmapped lines to record, by order: they replace what each order had listed.
    unmapped: dict[int, list[dict[str, Any]]] = field(default_factory=dict)
    new: list[Any] = field(default_factory=list)
    dirty: list[Any] = field(default_factory=list)

    def add(self, row: Any) -> None:
        """A new row, inserted at the next flush (rows of one table in the order added)."""
        self.new.append(row)

    def changed(self, row: Any) -> None:
        """A held row changed: written at the next flush."""
        self.dirty.append(row)

    def wait_for_id(self, data: dict[str, Any], name: str, row: Any) -> None:
        """``data[name]`` is the id of ``row``, once it is inserted."""
        if row.id is None:
            self.pending_ids.append((data, name, row))
        else:
            data[name] = row.id

    def flush(self) -> None:
        """Write what changed: new rows (their ids into the events waiting for them), changed
        rows, new e-mail aliases, unmapped lines."""
        new, self.new = self.new, []
        dirty, self.dirty = self.dirty, []
        inserted = {id(row) for row in new}  # a new row goes in as it is now
        write_rows(self.session, new, [row for row in dirty if id(row) not in inserted])
        for data, name, row in self.pending_ids:
            data[name] = row.id
        self.pending_ids.clear()
        if self.new_aliases:
            rows = [
                {"email": email, "learner_id": learner.id, "seen_at": self.now}
                for email, learner in self.new_aliases
            ]
            insert_many_ignoring(self.session, table_of(LearnerEmail), ["email"], rows)
            self.new_aliases.clear()
        if self.unmapped:
            table = table_of(UnmappedLine)
            self.session.execute(
                delete(table).where(among(table.c.order_id, sorted(self.unmapped)))
            )
            rows = [row for rows in self.unmapped.values() for row in rows]
            if rows:
                self.session.execute(insert(table), rows)
            self.unmapped.clear()

    # --- learners ------------------------------------------------------------------------------

    def learner(self, learner_id: int) -> LearnerRow:
        """A learner by id; read (and locked) now if the page has not."""
        if learner_id not in self.learners:
            self._read_learners(ids=[learner_id])
        return self.learners[learner_id]

    def find_email(self, email: str) -> LearnerRow | None:
        """The learner an e-mail (current or former) belongs to; read now if not yet asked."""
        if email not in self.known_emails:
            self._read_learners(emails=[email])
        return self.by_email.get(email) or self.aliases.get(email)

    def find_customer(self, customer_id: int) -> LearnerRow | None:
        if customer_id not in self.by_customer:
            self._read_learners(customers=[customer_id])
        return self.by_customer[customer_id]

    def resolve(self, customer_id: int, email: str) -> LearnerRow:
        """The learner for a customer id and/or e-mail, made if new (inserted at the flush).

        A guest (customer id 0) is known by e-mail; when a customer with that e-mail appears,
        the guest's learner becomes theirs, so a guest who registers keeps their history. An
        address already in another customer's history gives the new customer a placeholder
        address (``customer-<id>@<domain>``). Every address a learner is seen with is kept.
        """
        email = normalise_email(email)
        learner: LearnerRow | None = None
        if customer_id:
            learner = self.find_customer(customer_id)
        if learner is None and email:
            learner = self.find_email(email)
            if learner is not None and learner.erased_at is not None:
                return learner  # an erased learner's address: the pseudonym, and no alias
            if learner is not None and customer_id:
                if learner.woo_customer_id is None:
                    learner.woo_customer_id = customer_id
                    learner.updated_at = self.now
                    self.changed(learner)
                    self.by_customer[customer_id] = learner
                elif learner.woo_customer_id != customer_id:
                    learner = None  # the address belongs to another customer's history
        if learner is None:
            if not email:
                raise OrderPayloadError("order has neither a customer_id nor a billing e-mail")
            address = email
            if self.find_email(email) is not None:
                address = f"customer-{customer_id}@{email.split('@')[-1]}"
                learner = self.find_email(address)
            if learner is None:
                learner = LearnerRow(
                    email=address,
                    woo_customer_id=customer_id or None,
                    created_at=self.now,
                    updated_at=self.now,
                )
                self.add(learner)
                if customer_id:
                    self.by_customer[customer_id] = learner
                self.by_email[address] = learner
                self.known_emails.add(address)
        if email and email not in self.aliases:
            self.aliases[email] = learner
            self.new_aliases.append((email, learner))
        return learner

    def _read_learners(
        self,
        *,
        ids: Iterable[int] = (),
        customers: Iterable[int] = (),
        emails: Iterable[str] = (),
    ) -> None:
        """Read and lock the learners with these ids, customer ids or e-mails (current or
        former) into the page; keys found to be nobody's are remembered as such."""
        customer_ids = sorted({c for c in customers if c} - set(self.by_customer))
        wanted_emails = sorted({e for e in emails if e} - self.known_emails)
        self.known_emails.update(wanted_emails)
        aliases: list[tuple[str, int]] = []
        if wanted_emails:
            table = table_of(LearnerEmail)
            statement = built(
                "learners' e-mails",
                lambda: select(table.c.email, table.c.learner_id).where(
                    among(table.c.email, name="emails")
                ),
            )
            aliases = [
                (email, int(learner_id))
                for email, learner_id in self.session.execute(
                    statement, {"emails": listed(wanted_emails)}
                )
            ]
            # Addresses of erased learners resolve to their pseudonym, as aliases not stored.
            aliases += list(erased_learners(self.session, wanted_emails).items())
        wanted_ids = sorted(
            ({int(i) for i in ids} | {learner_id for _, learner_id in aliases}) - set(self.learners)
        )
        table = table_of(Learner)
        keys = {
            name: listed(values)
            for name, values in (
                ("ids", wanted_ids),
                ("customers", customer_ids),
                ("emails", wanted_emails),
            )
            if values
        }
        columns = {"ids": table.c.id, "customers": table.c.woo_customer_id, "emails": table.c.email}
        if keys:
            for learner in read_rows(
                self.session,
                LearnerRow,
                or_(*(among(columns[name], name=name) for name in keys)),
                order_by=table.c.id,
                lock=True,
                shape=("learners by", *keys),
                params=keys,
            ):
                if learner.id in self.learners:
                    continue  # read before: the page's copy may have changed since
                self.learners[int(learner.id)] = learner  # type: ignore[arg-type]
                if learner.woo_customer_id:
                    self.by_customer[int(learner.woo_customer_id)] = learner
                self.by_email[learner.email] = learner
                self.known_emails.add(learner.email)
        for email, learner_id in aliases:
            if learner_id in self.learners:
                self.aliases.setdefault(email, self.learners[learner_id])
        for customer_id in customer_ids:
            self.by_customer.setdefault(customer_id, None)

    # --- cohorts -------------------------------------------------------------------------------

    def lock_cohorts(self, codes: Iterable[str]) -> None:
        """Lock the cohorts the page claims or releases seats in, with their held seats."""
        wanted = sorted(set(codes) - set(self.cohorts) - self.missing_cohorts)
        if not wanted:
            return
        table = table_of(Cohort)
        statement = built(
            "locked cohorts",
            lambda: (
                select(table.c.code, table.c.capacity)
                .where(among(table.c.code, name="codes"))
                .order_by(table.c.code)
                .with_for_update()
            ),
        )
        found = {
            code: int(capacity)
            for code, capacity in self.session.execute(statement, {"codes": listed(wanted)})
        }
        self.missing_cohorts.update(set(wanted) - set(found))
        if not found:
            return
        seats = table_of(Seat)
        known = {id(s): s for rows in self.seats.values() for s in rows}
        by_id = {s.id: s for s in known.values() if s.id is not None}
        held: dict[str, list[SeatRow]] = defaultdict(list)
        for seat in read_rows(
            self.session,
            SeatRow,
            among(seats.c.cohort_code, name="codes"),
            seats.c.status.in_([SeatStatus.ACTIVE, SeatStatus.WAITLISTED]),
            order_by=seats.c.id,
            shape="held in cohorts",
            params={"codes": listed(sorted(found))},
        ):
            held[seat.cohort_code].append(by_id.get(seat.id, seat) if seat.id else seat)
        # Seats of the page's orders added before the cohort was read (not in the table yet).
        for seat in self.new:
            if isinstance(seat, SeatRow) and seat.cohort_code in found:
                held[seat.cohort_code].append(seat)
        for code, capacity in found.items():
            self.cohorts[code] = CohortSeating(code, capacity, held[code])


def load_page(
    session: Session,
    orders: Sequence[tuple[int, str]],
    customers: Iterable[tuple[int, str]],
    *,
    claims: bool = False,
) -> Page:
    """Create and lock the page's order states, then read what applying them needs.

    ``orders`` are (order id, status) pairs, each order once; ``customers`` the (customer id,
    e-mail) pairs the orders name; ``claims``: read the orders' team-pack places too. Cohorts
    are locked later (``Page.lock_cohorts``), once the seats the page will claim or release
    are known.
    """
    ids = sorted({order_id for order_id, _ in orders})
    now = utcnow()
    states_table = table_of(OrderState)
    insert_many_ignoring(
        session,
        states_table,
        ["order_id"],
        [
            {"order_id": order_id, "status": status, "updated_at": now}
            for order_id, status in orders
        ],
    )
    by_order = {"orders": listed(ids)}
    states = {
        state.order_id: state
        for state in read_rows(
            session,
            StateRow,
            among(states_table.c.order_id, name="orders"),
            order_by=states_table.c.order_id,
            lock=True,
            shape="by order",
            params=by_order,
        )
    }
    page = Page(session=session, now=now, states=states)
    page._read_learners(
        ids=[s.learner_id for s in states.values() if s.learner_id],
        customers=[c for c, _ in customers],
        emails=[normalise_email(e) for _, e in customers if e],
    )
    for credit in rows_of_orders(session, CreditRow, by_order):
        page.ledger[int(credit.order_id)].append(credit)  # type: ignore[arg-type]
    for seat in rows_of_orders(session, SeatRow, by_order):
        page.seats[int(seat.order_id)].append(seat)  # type: ignore[arg-type]
    for access in rows_of_orders(session, AccessRow, by_order):
        page.access[int(access.order_id)].append(access)  # type: ignore[arg-type]
    if claims:
        page.claims = defaultdict(list)
        table = table_of(ClaimPlace)
        for place in read_rows(
            session,
            ClaimRow,
            among(table.c.order_id, name="orders"),
            order_by=table.c.place_key,
            lock=True,
            shape="by order",
            params=by_order,
        ):
            page.claims[place.order_id].append(place)
    return page
