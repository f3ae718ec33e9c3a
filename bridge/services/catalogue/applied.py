"""The catalogue applied on purpose: the file's text stored, and what everyone reads.

`bridge catalog apply` stores the catalogue file's text (``catalogue_version``, newest in force),
its cohorts and offers, moves the waitlists of cohorts whose capacity changed and queues their
stock and notes, in one unit of work (``--dry-run`` rolls it back). Every command, page and job
maps orders with the stored catalogue; a running server sees a newly applied one on its next
request (``AppliedCatalogue`` checks the newest version id, one indexed read). Editing the file
changes nothing until it is applied; the console and `bridge doctor` say when they differ.
"""

from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, func
from sqlmodel import Session, col, select

from bridge.rules.catalogue.catalog import Catalogue, CatalogueError
from bridge.rules.catalogue.catalog_file import parse_catalogue
from bridge.rules.catalogue.changes import Change, capacity_changes, catalogue_changes
from bridge.services.audit import Via, record_action
from bridge.services.catalogue.catalogue import load_catalogue, store_cohorts, store_offers
from bridge.services.cohorts import lock_cohorts, rebalance
from bridge.services.ledger import OrderOutcome
from bridge.services.writeback import enqueue_cohort_stock, enqueue_writebacks_for
from bridge.settings import Settings
from bridge.store.db import unit_of_work
from bridge.store.models import CatalogueVersion, Cohort, Learner, utcnow

# Who applied the catalogue stored because nothing was applied yet (an install from before
# `bridge catalog apply`, or a database that only ever read the file).
FIRST_USE = "the first use (nothing applied before)"


def digest_of(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def read_file_text(path: str | Path) -> str:
    """The catalogue file's text; errors name the file, as read_catalogue_file's do."""
    path = Path(path)
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise CatalogueError(
            str(path),
            "(file)",
            "not found; set BRIDGE_CATALOG_FILE, or run `bridge init` to write the example",
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise CatalogueError(str(path), "(file)", f"cannot be read: {exc}") from None


def newest_version(session: Session) -> CatalogueVersion | None:
    return session.exec(
        select(CatalogueVersion).order_by(col(CatalogueVersion.id).desc()).limit(1)
    ).first()


def newest_version_id(session: Session) -> int | None:
    value = session.exec(select(func.max(CatalogueVersion.id))).one()
    return int(value) if value is not None else None


def _store_version(session: Session, text: str, file_name: str, by: str) -> CatalogueVersion:
    row = CatalogueVersion(
        digest=digest_of(text), text=text, file_name=file_name[:500], applied_by=by[:200]
    )
    session.add(row)
    session.flush()
    return row


def applied_catalogue(session: Session, path: str | Path) -> tuple[Catalogue, CatalogueVersion]:
    """The catalogue in force and its version; the file is applied first when none is."""
    version = newest_version(session)
    if version is None:
        text = read_file_text(path)
        catalogue = parse_catalogue(text, str(path))
        version = _store_version(session, text, str(path), FIRST_USE)
        store_cohorts(session, catalogue)
        store_offers(session, catalogue)
        return catalogue, version
    return parse_catalogue(version.text, version.file_name or "the applied catalogue"), version


def current_catalogue(engine: Engine, path: str | Path) -> Catalogue:
    """The catalogue in force, read once (commits the first application when there was none)."""
    return catalogue_in_force(engine, path)[0]


def catalogue_in_force(engine: Engine, path: str | Path) -> tuple[Catalogue, FileStatus]:
    """The catalogue in force and how the file stands against it.

    Nothing applied and no file: an empty catalogue (product meta alone maps products).
    """
    with unit_of_work(engine) as session:
        if newest_version_id(session) is None and not Path(path).is_file():
            return Catalogue(), file_status(session, path)
        catalogue, _ = applied_catalogue(session, path)
        status = file_status(session, path)
        session.commit()
    return catalogue, status


class AppliedCatalogue:
    """A process's copy of the catalogue in force, parsed again only when a newer one is applied."""

    def __init__(self, engine: Engine, path: str | Path) -> None:
        self.engine, self.path = engine, Path(path)
        self._version: int | None = None
        self._catalogue: Catalogue | None = None
        self._lock = threading.Lock()

    def get(self) -> Catalogue:
        with self._lock:
            with unit_of_work(self.engine) as session:
                newest = newest_version_id(session)
                if self._catalogue is not None and newest == self._version:
                    return self._catalogue
                if newest is None and not self.path.is_file():
                    # Nothing applied and no file: an empty catalogue (product meta alone maps
                    # products), applied as soon as a file appears.
                    return Catalogue()
                catalogue, version = applied_catalogue(session, self.path)
                session.commit()
            self._catalogue, self._version = catalogue, version.id
            return catalogue


@dataclass(frozen=True)
class FileStatus:
    """The catalogue file against the catalogue in force."""

    file: str
    applied: bool  # a catalogue has been applied
    differs: bool  # the file's text is not the one in force (or the file is missing)
    missing: bool = False
    applied_at: datetime | None = None
    applied_by: str = ""

    def message(self) -> str | None:
        if self.missing:
            return f"the catalogue file {self.file} is missing; the applied catalogue is in force"
        if not self.applied:
            return f"no catalogue applied yet: run `bridge catalog apply` to apply {self.file}"
        if self.differs:
            return (
                f"{self.file} differs from the catalogue applied "
                f"{self.applied_at:%Y-%m-%d %H:%M} UTC: `bridge catalog apply --dry-run` "
                "shows what applying it would change"
                if self.applied_at
                else f"{self.file} differs from the applied catalogue"
            )
        return None


def file_status(session: Session, path: str | Path) -> FileStatus:
    version = newest_version(session)
    try:
        text: str | None = read_file_text(path)
    except CatalogueError:
        text = None
    if version is None:
        return FileStatus(str(path), applied=False, differs=True, missing=text is None)
    return FileStatus(
        str(path),
        applied=True,
        differs=text is None or digest_of(text) != version.digest,
        missing=text is None,
        applied_at=version.applied_at,
        applied_by=version.applied_by,
    )


@dataclass
class CohortEffect:
    """What applying did to one cohort's seats."""

    cohort: str
    capacity_before: int
    capacity_after: int
    promoted: list[str] = field(default_factory=list)  # e-mails, in purchase order
    deferred: list[str] = field(default_factory=list)
    over_capacity: int = 0
    waitlisted: int = 0

    def describe(self) -> str:
        text = f"cohort {self.cohort}: capacity {self.capacity_before} -> {self.capacity_after}"
        if self.promoted:
            text += f"; promotes {', '.join(self.promoted)} from the waitlist"
        if self.deferred:
            text += f"; back on the waitlist (paid later, never told): {', '.join(self.deferred)}"
        if self.over_capacity:
            text += f"; over capacity by {self.over_capacity} (nobody loses a seat)"
        if not (self.promoted or self.deferred or self.over_capacity):
            text += "; no seat changes hands"
        if self.waitlisted:
            text += f"; {self.waitlisted} still waiting"
        return text


@dataclass
class ApplyResult:
    file: str
    dry_run: bool
    unchanged: bool
    changes: list[Change]
    seats: list[CohortEffect]
    version_id: int | None = None
    writebacks: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "file": self.file,
            "dry_run": self.dry_run,
            "unchanged": self.unchanged,
            "version": self.version_id,
            "changes": [change.as_dict() for change in self.changes],
            "seats": [
                {
                    "cohort": e.cohort,
                    "capacity_before": e.capacity_before,
                    "capacity_after": e.capacity_after,
                    "promoted": e.promoted,
                    "deferred": e.deferred,
                    "over_capacity": e.over_capacity,
                    "waitlisted": e.waitlisted,
                }
                for e in self.seats
            ],
            "writebacks": len(self.writebacks),
        }


def apply_catalogue(
    engine: Engine,
    path: str | Path,
    settings: Settings,
    *,
    operator: str,
    via: Via | str = Via.CLI,
    dry_run: bool = False,
    now: datetime | None = None,
) -> ApplyResult:
    """Store the file's catalogue and do what it changes, in one unit of work.

    The file is parsed first (a bad file changes nothing). Cohorts whose capacity changed are
    allocated again: raising it promotes the waitlist in purchase order ("seat freed up" notes),
    lowering it evicts nobody; their stock is written back. Applying the text in force again
    changes nothing. ``dry_run`` runs it all and rolls it back.
    """
    now = now or utcnow()
    text = read_file_text(path)
    new = parse_catalogue(text, str(path))
    with unit_of_work(engine) as session:
        version = newest_version(session)
        old = (
            parse_catalogue(version.text, version.file_name or "the applied catalogue")
            if version is not None
            else None
        )
        changes = catalogue_changes(old, new)
        unchanged = version is not None and version.digest == digest_of(text)
        result = ApplyResult(str(path), dry_run, unchanged, changes, [])
        if unchanged:
            return result
        capacities = capacity_changes(changes)
        cohorts = lock_cohorts(session, [c for c in capacities if _stored(session, c)])
        stored = _store_version(session, text, str(path), operator)
        result.version_id = stored.id
        store_cohorts(session, new)
        store_offers(session, new)
        merged = load_catalogue(session, new)
        outcomes: dict[int, OrderOutcome] = {}
        for code, row in cohorts.items():
            moved = rebalance(session, row, now=now)
            effect = CohortEffect(code, *capacities[code])
            effect.over_capacity = moved.seating.over_capacity
            effect.waitlisted = len(moved.seating.waitlisted)
            emails = _emails(session, {e.learner_id for e in moved.events})
            for event in moved.events:
                target = effect.promoted if event.kind == "seat_promoted" else effect.deferred
                target.append(emails.get(event.learner_id, str(event.learner_id)))
                order = int(event.order_id or 0)
                outcome = outcomes.setdefault(
                    order, OrderOutcome(order, True, event.learner_id, [])
                )
                outcome.events.append(event)
            result.seats.append(effect)
        result.writebacks = enqueue_writebacks_for(
            session, [(outcome, True) for outcome in outcomes.values()], merged, settings, now=now
        )
        result.writebacks += enqueue_cohort_stock(session, merged, sorted(cohorts), always=True)
        record_action(
            session,
            operator=operator,
            via=via,
            action="catalogue.apply",
            subject=f"catalogue:{stored.id}",
            details={
                "digest": stored.digest[:16],
                "changes": len(changes),
                "promoted": sum(len(e.promoted) for e in result.seats),
                "dry_run": dry_run,
            },
            at=now,
        )
        if dry_run:
            session.rollback()
        else:
            session.commit()
    return result


def _stored(session: Session, code: str) -> bool:
    return session.get(Cohort, code) is not None


def _emails(session: Session, ids: set[int]) -> dict[int, str]:
    if not ids:
        return {}
    return {
        int(learner.id or 0): learner.email
        for learner in session.exec(select(Learner).where(col(Learner.id).in_(sorted(ids)))).all()
    }
