"""Outcome events from outside the shop: projects started, submitted and accepted, assessments
passed, interviews, placements.

The shop cannot know that a learner submitted a project or got an interview; a project platform
or the creator says so through ``POST /api/v1/events`` or ``bridge events import FILE.csv``.
Recording is idempotent by a key (the Idempotency-Key, or a CSV line's key): the same key with
the same event changes nothing, the same key with another event is refused. ``assessment_passed``
and ``project_accepted`` also issue the learner's Open Badges credential for the SKU, once
(bridge.services.credentials.credentials); a learner who cannot get one is refused and
nothing is recorded.
Use cases take a session and leave the commit to the caller, so an error leaves nothing written.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
import uuid
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Engine
from sqlmodel import Session, col, select

from bridge.rules.credentials import CREDENTIAL_EVENTS, CredentialStatus, credential_url
from bridge.rules.words import did_you_mean
from bridge.services.bookings import (
    IDEMPOTENCY_KEY,
    IdempotencyKeyReused,
    InvalidRequest,
    learner_ref,
    sent_key,
    token_key,
)
from bridge.services.credentials.credentials import (
    CredentialRefused,
    CredentialsNotConfigured,
    Issuing,
    check_offer,
    issue_credential,
    live_credential,
)
from bridge.services.credentials.records import complete_pathways
from bridge.services.learners import unknown_learner
from bridge.services.ledger import UnknownLearner, find_learner
from bridge.store.bulk import insert_ignore
from bridge.store.db import unit_of_work
from bridge.store.models import (
    Access,
    Credential,
    Learner,
    LedgerEntry,
    OutcomeEvent,
    Seat,
    utcnow,
)
from bridge.store.models import Offer as OfferRow

EVENT_KINDS = ("project_started", "project_submitted", "interview", "placement", *CREDENTIAL_EVENTS)
EVENT_FIELDS = ("kind", "learner", "sku", "occurred_at")
OPTIONAL_FIELDS = ("evidence",)
CSV_COLUMNS = (*EVENT_FIELDS, "key", *OPTIONAL_FIELDS)
EVIDENCE = re.compile(r"https?://\S{1,490}", re.IGNORECASE | re.ASCII)
# Builds what issuing a credential needs (settings, key, catalogue), only when an event needs it.
IssuingFactory = Callable[[], Issuing]
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
    evidence: str | None = None  # a URL, for the events that issue a credential
    token_name: str | None = None  # the API token's that sent it: its keys are its own


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
    # The credentials the import's lines issued: {line, learner, sku, id, url}.
    credentials: list[dict[str, Any]] = field(default_factory=list)


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
            name,
            f"must be a date-time with an offset such as 2027-02-01T10:00:00Z or "
            f"2027-02-01T11:00:00+01:00{also}, not {text[:40]!r}",
        )
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


def _evidence(value: object, kind: str | None) -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str) or not EVIDENCE.fullmatch(value):
        raise InvalidRequest("evidence", "must be an http(s) URL of at most 500 characters")
    if kind is not None and kind not in CREDENTIAL_EVENTS:
        raise InvalidRequest("evidence", "is only for " + " and ".join(CREDENTIAL_EVENTS))
    return value


def check_key(key: str | None, name: str = "Idempotency-Key") -> str:
    if key is None or not key.strip():
        raise InvalidRequest(name, "is required" if name == "Idempotency-Key" else "is empty")
    if not IDEMPOTENCY_KEY.match(key):
        raise InvalidRequest(name, "must be 1-128 visible ASCII characters")
    return key


def event_request(
    body: Any, idempotency_key: str | None, now: datetime, token_name: str | None = None
) -> EventRequest:
    """Check an API request, naming the first field that is wrong."""
    key = check_key(idempotency_key)
    if not isinstance(body, Mapping):
        raise InvalidRequest("body", "must be a JSON object")
    unknown = sorted(
        str(name) for name in body if name not in EVENT_FIELDS and name not in OPTIONAL_FIELDS
    )
    if unknown:
        raise InvalidRequest(unknown[0], "is not a field of an event")
    for name in EVENT_FIELDS:
        if body.get(name) is None:
            raise InvalidRequest(name, "is required")
    kind = _choice(body["kind"], "kind")
    return EventRequest(
        kind=kind,
        learner=learner_ref(body["learner"]),
        sku=_sku(body["sku"]),
        occurred_at=parse_time(body["occurred_at"], "occurred_at", now),
        key=key,
        evidence=_evidence(body.get("evidence"), kind),
        token_name=token_name,
    )


def known_skus(session: Session) -> set[str]:
    """Micro-SKUs the bridge knows: stored offers, and every SKU that ever conferred something."""
    skus: set[str] = set(session.exec(select(OfferRow.sku)).all())
    for column in (LedgerEntry.offer_sku, Seat.offer_sku, Access.offer_sku):
        skus.update(value for value in session.exec(select(column).distinct()).all() if value)
    return skus


def fingerprint(
    kind: str, learner_id: int, sku: str, occurred_at: datetime, evidence: str | None = None
) -> str:
    meaning = {
        "kind": kind,
        "learner_id": learner_id,
        "sku": sku,
        "occurred_at": occurred_at.astimezone(UTC).isoformat(),
    }
    if evidence:
        meaning["evidence"] = evidence
    return hashlib.sha256(json.dumps(meaning, sort_keys=True).encode()).hexdigest()


def event_view(row: OutcomeEvent, learner: Learner, key: str | None = None) -> dict[str, Any]:
    """An event as the API and the CLI show it; ``key`` as its sender sent it, if known."""
    return {
        "id": row.id,
        "key": key or sent_key(row.key),
        "kind": row.kind,
        "learner": {
            "id": learner.id,
            "email": learner.email,
            "customer_id": learner.woo_customer_id,
        },
        "sku": row.offer_sku,
        "occurred_at": row.occurred_at.astimezone(UTC).isoformat(),
        "recorded_at": row.created_at.astimezone(UTC).isoformat(),
    }


def credential_summary(row: Credential, public_url: str) -> dict[str, Any]:
    """The credential an event issued, as the API and the CLI show it."""
    return {
        "id": row.uuid,
        "url": credential_url(public_url, uuid.UUID(row.uuid)),
        "status": CredentialStatus.REVOKED if row.revoked_at else CredentialStatus.ACTIVE,
        "issued_at": row.issued_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }


def _prepare(factory: IssuingFactory | None, requests: Sequence[EventRequest]) -> None:
    """Build what issuing needs before the transaction: reading the catalogue may write it."""
    if factory is not None and any(r.kind in CREDENTIAL_EVENTS for r in requests):
        factory()


def _issuing(factory: IssuingFactory | None) -> Issuing:
    if factory is None:
        raise CredentialsNotConfigured("this process cannot issue credentials")
    return factory()


def record_event(
    session: Session,
    request: EventRequest,
    *,
    skus: Collection[str],
    source: str,
    issuing: IssuingFactory | None = None,
) -> EventResult:
    """Record the event once per key; a repeat replays it, another event under the key is refused.

    An ``assessment_passed`` or ``project_accepted`` event also issues the learner's credential.
    Raises InvalidRequest (an unknown SKU, a learner who cannot get the credential),
    UnknownLearner, IdempotencyKeyReused or CredentialsNotConfigured.
    """
    if request.sku not in skus:
        hint = did_you_mean(request.sku, skus) or "`bridge catalog` lists them"
        raise InvalidRequest("sku", f"no micro-SKU {request.sku!r} is known to the bridge; {hint}")
    learner = find_learner(session, request.learner)
    if learner is None:
        raise UnknownLearner(f"no learner is known as {request.learner!r}")
    assert learner.id is not None
    setup: Issuing | None = None
    if request.kind in CREDENTIAL_EVENTS:
        setup = _issuing(issuing)
        try:
            check_offer(
                setup.catalogue, request.sku, setup.public_url, CREDENTIAL_EVENTS[request.kind]
            )
        except CredentialRefused as exc:
            raise InvalidRequest(exc.field, str(exc)) from None
    meaning = fingerprint(
        request.kind, learner.id, request.sku, request.occurred_at, request.evidence
    )
    key = _stored_key(session, request) or f"line-{meaning[:40]}"
    # ON CONFLICT DO NOTHING: of two requests with one key at one moment, one inserts, the
    # other waits for it and then compares.
    inserted = insert_ignore(
        session,
        OutcomeEvent,
        {
            "key": key,
            "kind": request.kind,
            "learner_id": learner.id,
            "offer_sku": request.sku,
            "occurred_at": request.occurred_at,
            "source": source,
            "fingerprint": meaning,
            "created_at": utcnow(),
        },
        ["key"],
    )
    row = session.exec(
        select(OutcomeEvent)
        .where(OutcomeEvent.key == key)
        .execution_options(populate_existing=True)
    ).one()
    if not inserted and row.fingerprint != meaning:
        raise IdempotencyKeyReused(f"key {request.key or key!r} was used for a different event")
    body = event_view(row, learner, request.key)
    if setup is not None:
        credential = _event_credential(session, setup, learner, request, key, row, inserted)
        body["credential"] = credential_summary(credential, setup.public_url)
    return EventResult(body, replayed=not inserted)


def _stored_key(session: Session, request: EventRequest) -> str | None:
    """The event's key as stored: the token's own; a key stored before keys were per token
    (shared by every token and the CSV import, and still) when the token has none of its own."""
    if request.key is None or request.token_name is None:
        return request.key
    own = token_key(request.key, request.token_name)
    found = session.exec(
        select(OutcomeEvent.key).where(col(OutcomeEvent.key).in_([own, request.key]))
    ).all()
    return request.key if request.key in found and own not in found else own


def _line_source(request: EventRequest, learner: Learner) -> str:
    """A keyless CSV line's credential source: what it says, with the e-mail, not a row id."""
    meaning = json.dumps(
        {
            "kind": request.kind,
            "learner": learner.email,
            "sku": request.sku,
            "occurred_at": request.occurred_at.astimezone(UTC).isoformat(),
            "evidence": request.evidence,
        },
        sort_keys=True,
    )
    return "event:line-" + hashlib.sha256(meaning.encode()).hexdigest()[:40]


def _event_credential(
    session: Session,
    setup: Issuing,
    learner: Learner,
    request: EventRequest,
    key: str,
    row: OutcomeEvent,
    inserted: bool,
) -> Credential:
    source = f"event:{key}" if request.key else _line_source(request, learner)
    if not inserted:
        assert learner.id is not None
        found = session.exec(select(Credential).where(Credential.source_key == source)).first()
        found = found or live_credential(session, learner.id, request.sku)
        if found is not None:
            return found
    try:
        result = issue_credential(
            session,
            setup,
            learner,
            request.sku,
            source_key=source,
            event_key=key,
            evidence=[request.evidence] if request.evidence else [],
            awarded_at=min(row.occurred_at, utcnow()),
        )
        if result.created:
            complete_pathways(session, setup, learner)
        return result.credential
    except CredentialRefused as exc:
        raise InvalidRequest(exc.field, str(exc)) from None


def record_in_transaction(
    engine: Engine,
    body: Any,
    idempotency_key: str | None,
    now: datetime | None = None,
    *,
    issuing: IssuingFactory | None = None,
    token_name: str | None = None,
) -> EventResult:
    """Check, record and commit in one unit of work; what the API calls (``token_name``: the
    API token's, whose keys are its own)."""
    request = event_request(body, idempotency_key, now or utcnow(), token_name)
    _prepare(issuing, [request])
    with unit_of_work(engine) as session:
        result = record_event(
            session, request, skus=known_skus(session), source="api", issuing=issuing
        )
        session.commit()
        return result


def parse_events_csv(
    text: str, zone: ZoneInfo, now: datetime
) -> tuple[list[tuple[int, EventRequest]], list[LineError]]:
    """Lines of a CSV file (header: kind,learner,sku,occurred_at, optionally key and evidence).

    Every problem is reported with its line number; blank lines are skipped.
    """
    reader = csv.reader(io.StringIO(text, newline=""))
    header_row = next(reader, None)
    if header_row is None:
        return [], [
            LineError(
                1,
                None,
                "the file is empty; the first line names the columns " + ",".join(CSV_COLUMNS),
            )
        ]
    header = [name.strip().lower() for name in header_row]
    errors: list[LineError] = []
    missing = [name for name in EVENT_FIELDS if name not in header]
    unknown = [name for name in header if name not in CSV_COLUMNS]
    repeated = sorted({name for name in header if header.count(name) > 1})
    if missing:
        errors.append(
            LineError(
                1,
                None,
                "missing column "
                + ", ".join(missing)
                + " (the columns are "
                + ",".join(CSV_COLUMNS)
                + ")",
            )
        )
    if unknown:
        errors.append(
            LineError(
                1,
                None,
                "unknown column "
                + ", ".join(unknown)
                + " (the columns are "
                + ",".join(CSV_COLUMNS)
                + ")",
            )
        )
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
            errors.append(
                LineError(line, None, f"has {len(cells)} fields; the header has {len(header)}")
            )
            continue
        row = {name: cell.strip() for name, cell in zip(header, cells, strict=True)}
        parsed, problems = _csv_request(row, zone, now)
        errors.extend(LineError(line, name, problem) for name, problem in problems)
        if parsed is not None:
            requests.append((line, parsed))
    return requests, errors


def _csv_request(
    row: Mapping[str, str], zone: ZoneInfo, now: datetime
) -> tuple[EventRequest | None, list[tuple[str, str]]]:
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
    evidence = None
    try:
        evidence = _evidence(row.get("evidence") or None, values.get("kind"))
    except InvalidRequest as exc:
        problems.append(("evidence", str(exc).removeprefix("evidence: ")))
    if problems:
        return None, problems
    return EventRequest(key=key, evidence=evidence, **values), []


def import_lines(
    session: Session,
    lines: Sequence[tuple[int, EventRequest]],
    issuing: IssuingFactory | None = None,
) -> ImportResult:
    """Record each line's event in this session; errors are collected, not raised."""
    result = ImportResult()
    skus = known_skus(session)
    for line, request in lines:
        try:
            outcome = record_event(session, request, skus=skus, source="csv", issuing=issuing)
        except InvalidRequest as exc:
            result.errors.append(
                LineError(line, exc.field, str(exc).removeprefix(f"{exc.field}: "))
            )
        except UnknownLearner:
            # A file is the operator's: the line names the known e-mail nearest to a typo.
            result.errors.append(
                LineError(line, "learner", str(unknown_learner(session, request.learner)))
            )
        except IdempotencyKeyReused as exc:
            result.errors.append(LineError(line, "key", str(exc)))
        else:
            if outcome.replayed:
                result.already += 1
            else:
                result.recorded += 1
                issued = _issued_by(session, outcome.body)
                if issued is not None:
                    result.credentials.append({"line": line, **issued})
    return result


def _issued_by(session: Session, event: Mapping[str, Any]) -> dict[str, Any] | None:
    """The credential an event's answer names, when this event issued it (not one the
    learner held already)."""
    shown = event.get("credential")
    if not shown:
        return None
    row = session.exec(select(Credential).where(Credential.uuid == shown["id"])).first()
    if row is None or row.event_key != event["key"]:
        return None
    return {
        "learner": event["learner"]["email"],
        "sku": event["sku"],
        "id": shown["id"],
        "url": shown["url"],
    }


def import_csv(
    engine: Engine,
    text: str,
    timezone: str,
    *,
    now: datetime | None = None,
    dry_run: bool = False,
    issuing: IssuingFactory | None = None,
) -> ImportResult:
    """Import a CSV file of events: all of it, or (on any bad line, or a dry run) none of it.

    Lines that parse are still checked against the database, so one run names every problem.
    """
    requests, errors = parse_events_csv(text, ZoneInfo(timezone), now or utcnow())
    _prepare(issuing, [request for _, request in requests])
    with unit_of_work(engine) as session:
        result = import_lines(session, requests, issuing)
        result.errors = sorted(errors + result.errors, key=lambda error: error.line)
        if not result.errors and not dry_run:
            session.commit()
            result.committed = True
    return result
