"""The outbox as the planners see it: queue an update or a create, remember what was written.

Updates (order and customer meta, cohort stock, upsell links) are "latest value wins" per
target: one pending row per ``target_key``, and a value equal to what was last written is never
sent. Creates (order notes, personal coupons) happen once per key. Also the small look-ups the
planners share (line of a grant key, local dates, product families).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import select as sa_select
from sqlalchemy import update as sa_update
from sqlmodel import Session, col, select

from bridge.rules.writeback.notes import with_public_url
from bridge.store.bulk import (
    among,
    built,
    insert_ignoring,
    insert_rows,
    listed,
    table_of,
    unindexed,
    update_rows,
)
from bridge.store.models import (
    OutboxItem,
    OutboxStatus,
    OutboxWritten,
    ProductBinding,
    utcnow,
)

STATUSES = tuple(OutboxStatus)


NOTE = "order_note"


# Why a held note waits (its last_error while held): its links need the service's address.
WAITING_FOR_URL = (
    "waiting for BRIDGE_PUBLIC_URL: the note's links would be bare paths; "
    "it is worded and sent once the URL is set"
)


@dataclass(frozen=True)
class Update:
    """One "latest value wins" write-back to queue (or one create, for ``enqueue_creates``)."""

    resource: str
    target_id: int | None
    target_key: str
    data: dict[str, Any]
    extra: Mapping[str, Any] = field(default_factory=dict)
    # Queue it even when it equals what was last written: the shop changes it by itself
    # (WooCommerce reduces and restocks a cohort product's stock on orders and refunds).
    always: bool = False


def enqueue_update(
    session: Session,
    resource: str,
    target_id: int,
    target_key: str,
    data: dict[str, Any],
    extra: Mapping[str, Any] | None = None,
) -> str | None:
    """Latest value wins: fold into the pending row, or add one unless nothing changed."""
    queued = enqueue_updates(session, [Update(resource, target_id, target_key, data, extra or {})])
    return queued[0] if queued else None


@dataclass
class _Queued:
    """An open outbox row of a target, as ``enqueue_updates`` reads and changes it."""

    id: int
    status: str
    payload: Any


_OPEN = [OutboxStatus.PENDING, OutboxStatus.SENDING, OutboxStatus.DEAD]
_DEFAULTS: dict[str, Any] = {}


def enqueue_updates(session: Session, updates: Sequence[Update]) -> list[str]:
    """Queue several updates with a few queries; returns the keys queued (not the unchanged)."""
    if not updates:
        return []
    # Pending ORM changes first: the reads below are Core statements, which do not autoflush.
    session.flush()
    items = table_of(OutboxItem)
    keys = sorted({update.target_key for update in updates})
    rows: dict[str, list[_Queued]] = defaultdict(list)
    written: dict[str, Any] = {}
    done = table_of(OutboxWritten)
    open_rows = built(
        "open outbox rows",
        lambda: (
            sa_select(items.c.id, items.c.target_key, items.c.status, items.c.payload)
            .where(among(items.c.target_key, name="keys"), unindexed(items.c.status).in_(_OPEN))
            .order_by(items.c.id)
            .with_for_update()
        ),
    )
    last_written = built(
        "last written",
        lambda: sa_select(done.c.target_key, done.c.data).where(
            among(done.c.target_key, name="keys")
        ),
    )
    for start in range(0, len(keys), 500):
        chunk = {"keys": listed(keys[start : start + 500])}
        for row_id, key, status, payload in session.execute(open_rows, chunk).all():
            rows[key].append(_Queued(row_id, status, payload))
        for key, data in session.execute(last_written, chunk).all():
            written[key] = data
    queued: list[str] = []
    fresh: dict[str, dict[str, Any]] = {}  # new rows by target, as plain values
    superseded: list[int] = []
    repayloaded: dict[int, dict[str, Any]] = {}
    for update in updates:
        payload = {"data": update.data, **update.extra}
        if update.always:
            payload["always"] = True  # the drain sends it even if it equals what was written
        if update.target_key in fresh:
            fresh[update.target_key]["payload"] = payload  # queued by this call: latest wins
            queued.append(update.target_key)
            continue
        existing = rows.get(update.target_key, [])
        for row in existing:
            if row.status == OutboxStatus.DEAD:
                # A newer value makes the failed one moot; retrying it would write an old value.
                row.status = OutboxStatus.SUPERSEDED
                superseded.append(row.id)
        pending = [row for row in existing if row.status == OutboxStatus.PENDING]
        if pending:
            if pending[-1].payload != payload:
                pending[-1].payload = payload
                repayloaded[pending[-1].id] = payload
            queued.append(update.target_key)
            continue
        in_flight = any(row.status == OutboxStatus.SENDING for row in existing)
        if (
            not in_flight
            and not update.always
            and update.target_key in written
            and (written[update.target_key] == update.data)
        ):
            continue
        fresh[update.target_key] = {
            "resource": update.resource,
            "operation": "update",
            "target_id": update.target_id,
            "target_key": update.target_key,
            "payload": payload,
            "created_at": utcnow(),
        }
        queued.append(update.target_key)
    if superseded:
        session.execute(
            sa_update(items)
            .where(among(items.c.id, superseded))
            .values(status=OutboxStatus.SUPERSEDED)
        )
    if repayloaded:
        update_rows(
            session, items, [{"id": row_id, "payload": p} for row_id, p in repayloaded.items()]
        )
    insert_outbox_rows(session, list(fresh.values()))  # one statement for all the new rows
    return queued


def insert_outbox_rows(session: Session, rows: Sequence[dict[str, Any]]) -> None:
    """New outbox rows from plain values (the model's defaults for the rest), in one statement;
    building an ORM object per row costs more than the insert."""
    if not rows:
        return
    if not _DEFAULTS:
        template = OutboxItem(resource="", operation="", target_key="", payload={})
        columns = [c.key for c in table_of(OutboxItem).columns if c.key != "id"]
        _DEFAULTS.update({key: getattr(template, key) for key in columns})
        _DEFAULTS.pop("created_at", None)  # each row names its own moment (below)
    now = utcnow()
    insert_rows(session, OutboxItem, [{**_DEFAULTS, "created_at": now, **row} for row in rows])


def enqueue_create(
    session: Session,
    resource: str,
    target_id: int | None,
    target_key: str,
    data: dict[str, Any],
    extra: Mapping[str, Any] | None = None,
) -> str | None:
    """Created once per key: a key already in the outbox is never queued again."""
    queued = enqueue_creates(session, [Update(resource, target_id, target_key, data, extra or {})])
    return queued[0] if queued else None


def enqueue_creates(session: Session, creates: Sequence[Update]) -> list[str]:
    """Several creates in three statements; returns the keys queued (the new ones), in order.

    ``Update`` carries a create's target and data too; a key given twice is queued once.
    """
    keys = sorted({create.target_key for create in creates})
    known: set[str] = set()
    for start in range(0, len(keys), 500):
        chunk = keys[start : start + 500]
        known.update(
            session.exec(
                select(OutboxItem.target_key).where(among(col(OutboxItem.target_key), chunk))
            ).all()
        )
        known.update(
            session.exec(
                select(OutboxWritten.target_key).where(among(col(OutboxWritten.target_key), chunk))
            ).all()
        )
    fresh: list[dict[str, Any]] = []
    for create in creates:
        if create.target_key in known:
            continue
        known.add(create.target_key)
        row: dict[str, Any] = {
            "resource": create.resource,
            "operation": "create",
            "target_id": create.target_id,
            "target_key": create.target_key,
            "payload": {"data": create.data, **create.extra},
            "created_at": utcnow(),
        }
        if create.extra.get("relative_links"):
            # Links that need BRIDGE_PUBLIC_URL: held, not sent, until it is set.
            row.update(status=OutboxStatus.HELD, last_error=WAITING_FOR_URL)
        fresh.append(row)
    insert_outbox_rows(session, fresh)
    return [row["target_key"] for row in fresh]


def release_held_notes(session: Session, public_url: str | None) -> int:
    """Word the held notes' links with ``public_url`` and make them due (same rows, same keys:
    each is still sent once); how many. Nothing happens while the URL is not set."""
    if not public_url:
        return 0
    held = session.exec(
        select(OutboxItem)
        .where(OutboxItem.status == OutboxStatus.HELD)
        .order_by(col(OutboxItem.id))
        .with_for_update()
    ).all()
    for row in held:
        payload = dict(row.payload or {})
        links = payload.pop("relative_links", None) or []
        data = dict(payload.get("data") or {})
        data["note"] = with_public_url(str(data.get("note") or ""), links, public_url)
        row.payload = {**payload, "data": data}
        row.status = OutboxStatus.PENDING
        row.last_error = ""
        row.next_attempt_at = None
        session.add(row)
    session.flush()
    return len(held)


def line_of(grant_key: str | None) -> int | None:
    """The order line a grant key names (``order:<id>:line:<line id>:...``)."""
    parts = (grant_key or "").split(":")
    if len(parts) > 3 and parts[0] == "order" and parts[2] == "line" and parts[3].isdigit():
        return int(parts[3])
    return None


def local_date(moment: datetime | None, zone: str = "UTC") -> str | None:
    if moment is None:
        return None
    try:
        tz = ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError):
        tz = ZoneInfo("UTC")
    return moment.astimezone(tz).date().isoformat()


def product_families(session: Session, woo_ids: Iterable[int]) -> dict[int, int]:
    """Variation id -> its product id, for the ids that are variations."""
    ids = sorted(set(woo_ids))
    if not ids:
        return {}
    rows = session.exec(
        select(ProductBinding.woo_id, ProductBinding.parent_id).where(
            col(ProductBinding.woo_id).in_(ids), ProductBinding.parent_id != 0
        )
    ).all()
    return {int(woo_id): int(parent) for woo_id, parent in rows}


def remember_written(
    session: Session, target_key: str, resource: str, target_id: int | None, data: Any
) -> None:
    """Record what the shop holds for a target (after a write, or as read from the shop)."""
    remember_all(session, [(target_key, resource, target_id, data)])


def remember_all(session: Session, entries: Sequence[tuple[str, str, int | None, Any]]) -> None:
    """Record several targets at once; for one key given twice, the later entry wins."""
    latest = {key: (key, resource, target_id, data) for key, resource, target_id, data in entries}
    if not latest:
        return
    known = {
        row.target_key: row
        for row in session.exec(
            select(OutboxWritten).where(col(OutboxWritten.target_key).in_(sorted(latest)))
        ).all()
    }
    moment = utcnow()
    fresh = [
        {
            "target_key": key,
            "resource": resource,
            "target_id": target_id,
            "data": data,
            "written_at": moment,
        }
        for key, resource, target_id, data in latest.values()
        if key not in known
    ]
    if fresh:
        statement = insert_ignoring(session, table_of(OutboxWritten), ["target_key"])
        inserted = session.exec(statement, params=fresh).rowcount
        if inserted != len(fresh):
            # Another drain recorded some of these targets at the same moment: ours is newer.
            known.update(
                (row.target_key, row)
                for row in session.exec(
                    select(OutboxWritten).where(
                        col(OutboxWritten.target_key).in_([v["target_key"] for v in fresh])
                    )
                ).all()
            )
    for key, _resource, _target_id, data in latest.values():
        row = known.get(key)
        if row is not None:
            row.data = data
            row.written_at = moment
            session.add(row)
    session.flush()


def latest(session: Session, statement: Any) -> Any:
    return session.exec(statement.limit(1)).first()
