"""Outcome events from outside the shop: projects started and submitted, interviews, placements.

The shop cannot know that a learner submitted a project or got an interview; a project platform
or the creator says so through ``POST /api/v1/events`` or ``bridge events import FILE.csv``.
Recording is idempotent by a key (the Idempotency-Key, or a CSV line's key): the same key with
the same event changes nothing, the same key with another event is refused. Use cases take a
session and leave the commit to the caller, so an error leaves nothing written.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Engine
from sqlmodel import Session, select

from bridge.services.ledger import UnknownLearner, find_learner, insert_ignore
from bridge.services.redemptions import (
    IDEMPOTENCY_KEY,
    IdempotencyKeyReused,
    InvalidRequest,
    learner_ref,
)
from bridge.store.db import unit_of_work
from bridge.store.models import Access, Learner, LedgerEntry, OutcomeEvent, Seat, utcnow
from bridge.store.models import Offer as OfferRow

EVENT_KINDS = ("project_started", "project_submitted", "interview", "placement")
EVENT_FIELDS = ("kind", "learner", "sku", "occurred_at")
CSV_COLUMNS = (*EVENT_FIELDS, "key")
SKU = re.compile(r"\S{1,100}")
# RFC 3339 as JSON Schema's date-time means it: an offset is required.
RFC3339 = re.compile(
    r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})", re.IGNORECASE | re.ASCII
)
PLAIN_DATE = re.compile(r"\d{4}-\d{2}-\d{2}", re.ASCII)
# Clocks of the systems reporting events drift; a day ahead is a typo, not drift.
FUTURE_SLACK = timedelta(days=1)


@dataclass(frozen=True)
class EventRequest:
    """A checked event; ``learner`` is a normalised e-mail or a customer id."""

    kind: str
    learner: str | int
    sku: str
    occurred_at: datetime  # aware, UTC
    key: str | None  # None: a CSV line without a key, keyed by what it says


@dataclass(frozen=True)
class EventResult:
    """The response body for a recorded event, and whether an earlier one was replayed."""

    body: dict[str, Any]
    replayed: bool
    status_code: int = 201


@dataclass(frozen=True)
class LineError:
    """One problem on one line of an imported file; ``field`` is the column, if one is to blame."""

    line: int
    field: str | None
    problem: str

    def __str__(self) -> str:
        where = f"{self.field}: " if self.field else ""
        return f"line {self.line}: {where}{self.problem}"


@dataclass
class ImportResult:
    """What an import did: events recorded now, lines already recorded before, and errors."""

    recorded: int = 0
    already: int = 0
    errors: list[LineError] = field(default_factory=list)
    committed: bool = False


def parse_time(value: object, name: str, now: datetime, zone: ZoneInfo | None = None) -> datetime:
    """An RFC 3339 date-time with an offset; with ``zone``, a plain date is midnight there."""
    if not isinstance(value, str):
        raise InvalidRequest(name, "must be a date-time string such as 2027-02-01T10:00:00Z")
    text = value
    moment: datetime | None = None
    if zone is not None and PLAIN_DATE.fullmatch(text):
        try:
            moment = datetime.combine(date.fromisoformat(text), time(), tzinfo=zone)
        except ValueError:
            raise InvalidRequest(name, f"{text!r} is not a real date") from None
    elif RFC3339.fullmatch(text):
        try:
            moment = datetime.fromisoformat(text.upper().replace("Z", "+00:00"))
        except ValueError:
            raise InvalidRequest(name, f"{text!r} is not a real date and time") from None
    if moment is None:
        also = " or a plain date (2027-02-01)" if zone is not None else ""
        raise InvalidRequest(
            name, f"must be a date-time with an offset such as 2027-02-01T10:00:00Z or "
            f"2027-02-01T11:00:00+01:00{also}, not {text[:40]!r}")
    try:
        moment = moment.astimezone(UTC)
    except OverflowError:
        raise InvalidRequest(name, f"{text!r} is out of range") from None
    if moment > now + FUTURE_SLACK:
        raise InvalidRequest(name, f"{text!r} is in the future")
    return moment


def _choice(value: object, name: str) -> str:
    if not isinstance(value, str):
        raise InvalidRequest(name, "must be a string: " + ", ".join(EVENT_KINDS))
    if value not in EVENT_KINDS:
        raise InvalidRequest(name, f"{value[:40]!r} is not one of " + ", ".join(EVENT_KINDS))
    return value


def _sku(value: object, name: str = "sku") -> str:
    if not isinstance(value, str):
        raise InvalidRequest(name, "must be a string")
    if not SKU.fullmatch(value):
        raise InvalidRequest(name, "a micro-SKU is 1 to 100 characters, no spaces")
    return value


def check_key(key: str | None, name: str = "Idempotency-Key") -> str:
    if key is None or not key.strip():
        raise InvalidRequest(name, "is required" if name == "Idempotency-Key" else "is empty")
    if not IDEMPOTENCY_KEY.match(key):
        raise InvalidRequest(name, "must be 1-128 visible ASCII characters")
    return key


def event_request(body: Any, idempotency_key: str | None, now: datetime) -> EventRequest:
    """Check an API request, naming the first field that is wrong."""
    key = check_key(idempotency_key)
    if not isinstance(body, Mapping):
        raise InvalidRequest("body", "must be a JSON object")
    unknown = sorted(str(name) for name in body if name not in EVENT_FIELDS)
    if unknown:
        raise InvalidRequest(unknown[0], "is not a field of an event")
    for name in EVENT_FIELDS:
        if body.get(name) is None:
            raise InvalidRequest(name, "is required")
    return EventRequest(
        kind=_choice(body["kind"], "kind"),
        learner=learner_ref(body["learner"]),
        sku=_sku(body["sku"]),
        occurred_at=parse_time(body["occurred_at"], "occurred_at", now),
        key=key,
    )


def known_skus(session: Session) -> set[str]:
    """Micro-SKUs the bridge knows: stored offers, and every SKU that ever conferred something."""
    skus: set[str] = set(session.exec(select(OfferRow.sku)).all())
    for column in (LedgerEntry.offer_sku, Seat.offer_sku, Access.offer_sku):
        skus.update(value for value in session.exec(select(column).distinct()).all() if value)
    return skus


def fingerprint(kind: str, learner_id: int, sku: str, occurred_at: datetime) -> str:
    meaning = {"kind": kind, "learner_id": learner_id, "sku": sku,
               "occurred_at": occurred_at.astimezone(UTC).isoformat()}
    return hashlib.sha256(json.dumps(meaning, sort_keys=True).encode()).hexdigest()


def event_view(row: OutcomeEvent, learner: Learner) -> dict[str, Any]:
    """An event as the API and the CLI show it."""
    return {
        "id": row.id,
        "key": row.key,
        "kind": row.kind,
        "learner": {"id": learner.id, "email": learner.email,
                    "customer_id": learner.woo_customer_id},
        "sku": row.offer_sku,
        "occurred_at": row.occurred_at.astimezone(UTC).isoformat(),
        "recorded_at": row.created_at.astimezone(UTC).isoformat(),
    }


def record_event(session: Session, request: EventRequest, *, skus: Collection[str],
                 source: str) -> EventResult:
    """Record the event once per key; a repeat replays it, another event under the key is refused.

    Raises InvalidRequest (an unknown SKU), UnknownLearner or IdempotencyKeyReused.
    """
    if request.sku not in skus:
        raise InvalidRequest("sku", f"no micro-SKU {request.sku!r} is known to the bridge; "
                             "`bridge catalog` lists them")
    learner = find_learner(session, request.learner)
    if learner is None:
        raise UnknownLearner(f"no learner is known as {request.learner!r}")
    assert learner.id is not None
    meaning = fingerprint(request.kind, learner.id, request.sku, request.occurred_at)
    key = request.key or f"line-{meaning[:40]}"
    # ON CONFLICT DO NOTHING: of two requests with one key at one moment, one inserts, the
    # other waits for it and then compares.
    inserted = insert_ignore(session, OutcomeEvent, {
        "key": key, "kind": request.kind, "learner_id": learner.id, "offer_sku": request.sku,
        "occurred_at": request.occurred_at, "source": source, "fingerprint": meaning,
        "created_at": utcnow(),
    }, ["key"])
    row = session.exec(
        select(OutcomeEvent).where(OutcomeEvent.key == key)
        .execution_options(populate_existing=True)
    ).one()
    if not inserted and row.fingerprint != meaning:
        raise IdempotencyKeyReused(f"key {key!r} was used for a different event")
    return EventResult(event_view(row, learner), replayed=not inserted)


def record_in_transaction(engine: Engine, body: Any, idempotency_key: str | None,
                          now: datetime | None = None) -> EventResult:
    """Check, record and commit in one unit of work; what the API calls."""
    request = event_request(body, idempotency_key, now or utcnow())
    with unit_of_work(engine) as session:
        result = record_event(session, request, skus=known_skus(session), source="api")
        session.commit()
        return result


def parse_events_csv(text: str, zone: ZoneInfo,
                     now: datetime) -> tuple[list[tuple[int, EventRequest]], list[LineError]]:
    """Lines of a CSV file (header: kind,learner,sku,occurred_at and optionally key) as requests.

    Every problem is reported with its line number; blank lines are skipped.
    """
    reader = csv.reader(io.StringIO(text, newline=""))
    header_row = next(reader, None)
    if header_row is None:
        return [], [LineError(1, None, "the file is empty; the first line names the columns "
                              + ",".join(CSV_COLUMNS))]
    header = [name.strip().lower() for name in header_row]
    errors: list[LineError] = []
    missing = [name for name in EVENT_FIELDS if name not in header]
    unknown = [name for name in header if name not in CSV_COLUMNS]
    repeated = sorted({name for name in header if header.count(name) > 1})
    if missing:
        errors.append(LineError(1, None, "missing column " + ", ".join(missing)
                                + " (the columns are " + ",".join(CSV_COLUMNS) + ")"))
    if unknown:
        errors.append(LineError(1, None, "unknown column " + ", ".join(unknown)
                                + " (the columns are " + ",".join(CSV_COLUMNS) + ")"))
    if repeated:
        errors.append(LineError(1, None, "column named twice: " + ", ".join(repeated)))
    if errors:
        return [], errors
    requests: list[tuple[int, EventRequest]] = []
    for cells in reader:
        line = reader.line_num
        if not any(cell.strip() for cell in cells):
            continue
        if len(cells) != len(header):
            errors.append(LineError(line, None, f"has {len(cells)} fields; the header has "
                                    f"{len(header)}"))
            continue
        row = {name: cell.strip() for name, cell in zip(header, cells, strict=True)}
        parsed, problems = _csv_request(row, zone, now)
        errors.extend(LineError(line, name, problem) for name, problem in problems)
        if parsed is not None:
            requests.append((line, parsed))
    return requests, errors


def _csv_request(row: Mapping[str, str], zone: ZoneInfo,
                 now: datetime) -> tuple[EventRequest | None, list[tuple[str, str]]]:
    problems: list[tuple[str, str]] = []
    values: dict[str, Any] = {}
    checks = {
        "kind": lambda text: _choice(text, "kind"),
        "learner": lambda text: learner_ref(text),
        "sku": lambda text: _sku(text),
        "occurred_at": lambda text: parse_time(text, "occurred_at", now, zone),
    }
    for name, check in checks.items():
        if not row.get(name):
            problems.append((name, "is empty"))
            continue
        try:
            values[name] = check(row[name])
        except InvalidRequest as exc:
            problems.append((name, str(exc).removeprefix(f"{name}: ")))
    key = row.get("key") or None
    if key is not None:
        try:
            check_key(key, "key")
        except InvalidRequest as exc:
            problems.append(("key", str(exc).removeprefix("key: ")))
    if problems:
        return None, problems
    return EventRequest(key=key, **values), []


def import_lines(session: Session, lines: Sequence[tuple[int, EventRequest]]) -> ImportResult:
    """Record each line's event in this session; errors are collected, not raised."""
    result = ImportResult()
    skus = known_skus(session)
    for line, request in lines:
        try:
            outcome = record_event(session, request, skus=skus, source="csv")
        except InvalidRequest as exc:
            result.errors.append(LineError(line, exc.field, str(exc).removeprefix(
                f"{exc.field}: ")))
        except UnknownLearner as exc:
            result.errors.append(LineError(line, "learner", str(exc)))
        except IdempotencyKeyReused as exc:
            result.errors.append(LineError(line, "key", str(exc)))
        else:
            if outcome.replayed:
                result.already += 1
            else:
                result.recorded += 1
    return result


def import_csv(engine: Engine, text: str, timezone: str, *, now: datetime | None = None,
               dry_run: bool = False) -> ImportResult:
    """Import a CSV file of events: all of it, or (on any bad line, or a dry run) none of it.

    Lines that parse are still checked against the database, so one run names every problem.
    """
    requests, errors = parse_events_csv(text, ZoneInfo(timezone), now or utcnow())
    with unit_of_work(engine) as session:
        result = import_lines(session, requests)
        result.errors = sorted(errors + result.errors, key=lambda error: error.line)
        if not result.errors and not dry_run:
            session.commit()
            result.committed = True
    return result

