"""Erasing a learner (the right to erasure): personal data replaced in place by a pseudonym.

The financial record stays (ledger amounts, order ids, dates, seats, the customer id the shop
knows the orders by) and is reported as retained; names and e-mails go everywhere they were
kept; credentials are revoked and lose their subject; links stop working. The learner's
e-mails stay only as SHA-256 tombstones (bridge.services.ledger.erased), so what the shop sends
again resolves to the pseudonym and brings nothing back. Erasing again changes nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, Table, delete
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import Session, col, select

from bridge.errors import PermanentError
from bridge.rules.inbound.payloads import DeliveryStatus
from bridge.services.audit import Via, record_action
from bridge.services.credentials import (
    Signer,
    require_public_url,
    revoke_credential,
    signing_key,
)
from bridge.services.learner_links import revoke_page_link
from bridge.services.ledger import (
    UnknownLearner,
    erased_learners,
    find_learner,
    identity_hash,
    lock_learner,
)
from bridge.services.privacy.export import learner_deliveries, learner_order_ids
from bridge.services.privacy.sweep import needles, sweep
from bridge.services.wallets import erase_wallet
from bridge.settings import Settings
from bridge.store.bulk import insert_ignore
from bridge.store.db import unit_of_work
from bridge.store.ids import id_of
from bridge.store.models import (
    Access,
    Booking,
    BookingToken,
    ClaimPlace,
    Credential,
    ErasedIdentity,
    InboxDelivery,
    Learner,
    LearnerEmail,
    LedgerEntry,
    PersonalCoupon,
    Redemption,
    Seat,
    Subscription,
    utcnow,
)

PSEUDONYM_DOMAIN = "erased.invalid"  # RFC 2606: never a real address
REVOCATION_REASON = "erased at the learner's request"
# Deliveries whose processing is over: their raw bodies can go (pending ones are still needed).
FINISHED_DELIVERIES = (
    DeliveryStatus.PROCESSED,
    DeliveryStatus.IGNORED,
    DeliveryStatus.REJECTED,
    DeliveryStatus.DEAD,
)


class ErasureRefused(PermanentError):
    """The learner cannot be erased as things stand (the message says what to do first)."""


def pseudonym_of(learner_id: int) -> str:
    """The stable name an erased learner keeps: it says nothing but their row."""
    return f"erased-{learner_id}"


def pseudonym_email(learner_id: int) -> str:
    return f"{pseudonym_of(learner_id)}@{PSEUDONYM_DOMAIN}"


@dataclass
class ErasureReport:
    """What an erasure removed and what it kept, as a WordPress eraser reports it too."""

    learner_id: int
    pseudonym: str
    already_erased: bool
    dry_run: bool = False
    removed: dict[str, int] = field(default_factory=dict)
    retained: dict[str, int] = field(default_factory=dict)
    messages: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "learner_id": self.learner_id,
            "pseudonym": self.pseudonym,
            "already_erased": self.already_erased,
            "dry_run": self.dry_run,
            "removed": dict(sorted(self.removed.items())),
            "retained": dict(sorted(self.retained.items())),
            # A WordPress personal-data eraser's answer, for a plugin that calls the API.
            "items_removed": any(self.removed.values()),
            "items_retained": any(self.retained.values()),
            "messages": list(self.messages),
            "done": True,
        }


def credential_signer(settings: Settings) -> Callable[[], Signer]:
    """What revokes an erased learner's credentials: built only when they hold some."""
    return lambda: Signer(signing_key(settings, create=False), require_public_url(settings))


def _finished_deliveries(table: Table) -> ColumnElement[bool] | None:
    """The sweep leaves the bodies of deliveries still to be processed: they are dropped once
    processed, by erasing again (or by the inbox's retention)."""
    if table.name != InboxDelivery.__tablename__:
        return None
    return table.c.status.in_(FINISHED_DELIVERIES)


def _drop_bodies(session: Session, learner: Learner) -> int:
    """Drop the raw bodies of the finished deliveries about the learner; how many."""
    learner_id = id_of(learner)
    order_ids = learner_order_ids(session, learner_id)
    subscriptions = [
        int(s)
        for s in session.exec(
            select(Subscription.id).where(Subscription.learner_id == learner_id)
        ).all()
    ]
    dropped = 0
    for delivery in learner_deliveries(session, learner, order_ids, subscriptions):
        if delivery.body is not None and delivery.status in FINISHED_DELIVERIES:
            delivery.body = None
            session.add(delivery)
            dropped += 1
    session.flush()
    return dropped


def find_for_privacy(session: Session, ref: str | int) -> Learner | None:
    """A learner by e-mail (current, former, or erased: the tombstone), customer id or
    pseudonym e-mail; None when nobody was ever known so."""
    found = find_learner(session, ref)
    if found is not None or isinstance(ref, int):
        return found
    erased = erased_learners(session, [str(ref)]).get(str(ref))
    return session.get(Learner, erased) if erased is not None else None


def _count(session: Session, model: Any, *where: Any) -> int:
    return len(session.exec(select(model.id).where(*where)).all())


def _retained(session: Session, learner_id: int) -> dict[str, int]:
    counts = {
        "ledger rows": _count(session, LedgerEntry, LedgerEntry.learner_id == learner_id),
        "orders": len(learner_order_ids(session, learner_id)),
        "seats": _count(session, Seat, Seat.learner_id == learner_id),
        "access windows": _count(session, Access, Access.learner_id == learner_id),
        "subscriptions": _count(session, Subscription, Subscription.learner_id == learner_id),
        "redemptions": _count(session, Redemption, Redemption.learner_id == learner_id),
        "credentials and records (revoked)": _count(
            session, Credential, Credential.learner_id == learner_id
        ),
    }
    return {kind: n for kind, n in counts.items() if n}


def erase_learner(
    session: Session,
    learner: Learner,
    *,
    operator: str,
    via: Via | str,
    signer_for: Callable[[], Signer] | None = None,
    reason: str = "",
    now: datetime | None = None,
) -> ErasureReport:
    """Erase the learner in the caller's unit of work (the caller commits, or rolls back for a
    dry run); an audit row names the operator and the learner's row, nothing erased.

    Raises ErasureRefused, before changing anything, when the learner holds credentials that
    cannot be revoked (no signing key or public URL here).
    """
    now = now or utcnow()
    learner_id = id_of(learner)
    if session.get_bind().dialect.name == "sqlite":
        # Deleted and overwritten content is zeroed in the file, not left in free space.
        session.connection().exec_driver_sql("PRAGMA secure_delete = ON")
    locked = lock_learner(session, learner_id)
    assert locked is not None  # the caller found it in this session
    learner = locked
    report = ErasureReport(
        learner_id, pseudonym_of(learner_id), already_erased=learner.erased_at is not None
    )
    if report.already_erased:
        report.retained = _retained(session, learner_id)
        dropped = _drop_bodies(session, learner)
        if dropped:
            # What the shop sent since (a delivery's raw body is kept until it is processed).
            report.removed["webhook bodies"] = dropped
            report.messages.append(
                f"learner {learner_id} was erased already; {dropped} raw "
                "deliveries received since lost their bodies"
            )
        else:
            report.messages.append(f"learner {learner_id} was erased already; nothing changed")
        return report
    active = session.exec(
        select(Credential).where(
            Credential.learner_id == learner_id, col(Credential.revoked_at).is_(None)
        )
    ).all()
    signer = None
    if active:
        if signer_for is None:
            raise ErasureRefused(
                f"the learner holds {len(active)} credential(s) that must be revoked, and "
                "credentials are not configured here (BRIDGE_PUBLIC_URL and the signing key)"
            )
        signer = signer_for()

    emails = {learner.email}
    emails.update(
        session.exec(select(LearnerEmail.email).where(LearnerEmail.learner_id == learner_id)).all()
    )
    bookings = session.exec(select(Booking).where(Booking.learner_id == learner_id)).all()
    emails.update(b.attendee_email for b in bookings if b.attendee_email)
    coupons = session.exec(
        select(PersonalCoupon).where(PersonalCoupon.learner_id == learner_id)
    ).all()
    emails.update(c.email for c in coupons if c.email)
    claims = session.exec(select(ClaimPlace).where(ClaimPlace.learner_id == learner_id)).all()
    names = {learner.name} | {c.claimant_name for c in claims}
    alias, email = report.pseudonym, pseudonym_email(learner_id)
    removed = report.removed

    for address in sorted(e for e in emails if e):
        insert_ignore(
            session,
            ErasedIdentity,
            {
                "key_hash": identity_hash("email", address),
                "learner_id": learner_id,
                "erased_at": now,
            },
            ["key_hash"],
        )
    if learner.woo_customer_id:
        insert_ignore(
            session,
            ErasedIdentity,
            {
                "key_hash": identity_hash("customer", int(learner.woo_customer_id)),
                "learner_id": learner_id,
                "erased_at": now,
            },
            ["key_hash"],
        )
    removed["e-mail addresses"] = len({e for e in emails if e})
    removed["name"] = int(bool(learner.name))
    session.execute(delete(LearnerEmail).where(col(LearnerEmail.learner_id) == learner_id))
    learner.email, learner.name = email, alias
    learner.erased_at = learner.updated_at = now
    session.add(learner)
    session.flush()

    for booking in bookings:
        if booking.attendee_email:
            booking.key = booking.key.replace(booking.attendee_email, email)
        booking.attendee_email, booking.title, booking.note = "", "", ""
        session.add(booking)
    removed["booking attendee details"] = len(bookings)
    for place in claims:
        place.claimant_name = ""
        session.add(place)
    removed["team-pack claimant names"] = len(claims)
    for coupon in coupons:
        coupon.email = email
        session.add(coupon)
    removed["coupon e-mail restrictions"] = len(coupons)
    tokens = session.exec(
        select(BookingToken).where(
            BookingToken.learner_id == learner_id, col(BookingToken.revoked_at).is_(None)
        )
    ).all()
    for token in tokens:
        token.revoked_at = now
        session.add(token)
    removed["booking links"] = len(tokens)
    removed["page links"] = int(revoke_page_link(session, learner_id))
    apps, stored = erase_wallet(session, learner_id, now)
    removed["connected apps' tokens"] = apps
    removed["credentials apps stored"] = stored
    session.flush()

    for credential in active:
        assert signer is not None
        revoke_credential(session, signer, credential.uuid, REVOCATION_REASON, now)
    held = session.exec(select(Credential).where(Credential.learner_id == learner_id)).all()
    for credential in held:
        # The subject (the learner's hashed address, the signed token that carries it) goes;
        # the row stays so its bit in the status list says "revoked" for good.
        credential.document, credential.jwt, credential.salt = None, "", ""
        session.add(credential)
    removed["credential subjects"] = len(held)
    session.flush()

    removed["webhook bodies"] = _drop_bodies(session, learner)
    session.flush()

    swept = sweep(session, needles(emails, names, email, alias), only=_finished_deliveries)
    removed["other copies"] = sum(swept.values())
    report.retained = _retained(session, learner_id)
    report.messages.append(
        "kept as financial records: ledger amounts, order ids and dates, seats and the "
        "customer id the shop knows the orders by"
    )
    record_action(
        session,
        operator=operator,
        via=via,
        action="learner.erase",
        subject=f"learner:{learner_id}",
        reason=reason,
        details={"removed": dict(removed), "retained": dict(report.retained)},
        at=now,
    )
    return report


def settle_file(engine: Engine) -> bool:
    """After an erasure's commit: move SQLite's write-ahead log into the database file and
    empty it, so the old pages are gone from disk; True when it could (no reader held it)."""
    if engine.dialect.name != "sqlite":
        return True
    raw = engine.raw_connection()  # outside any transaction: a checkpoint cannot run in one
    try:
        cursor = raw.cursor()
        busy = cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        cursor.close()
    finally:
        raw.close()
    return busy is None or not busy[0]


def erase_in_transaction(
    engine: Engine,
    ref: str | int,
    *,
    by_id: bool = False,
    dry_run: bool = False,
    **options: Any,
) -> ErasureReport:
    """Find the learner (``ref`` as find_for_privacy takes it, or their row id with ``by_id``)
    and erase them in one unit of work, rolled back for a dry run; ``options`` are
    erase_learner's."""
    with unit_of_work(engine) as session:
        learner = session.get(Learner, ref) if by_id else find_for_privacy(session, ref)
        if learner is None:
            raise UnknownLearner(f"no learner is known as {ref!r}")
        report = erase_learner(session, learner, **options)
        report.dry_run = dry_run
        if dry_run:
            session.rollback()
        else:
            session.commit()
    if not dry_run and not report.already_erased and not settle_file(engine):
        report.messages.append(
            "the database is busy: SQLite keeps the old pages in its log until the next "
            "checkpoint (stop the service and run the command again to settle them now)"
        )
    return report
