"""The outbox transport: claim what is due, send it in batches, record answers, retry, list.

``drain_outbox`` sends what is due through the batch endpoints (at most 100 items a call) and
notes one by one, records each answer, retries with backoff and dead-letters what keeps failing.
A note shows only its worded text: before posting, the order's notes are read (once per order
and drain) and a note whose exact text is already there, beyond the copies the bridge knows it
posted, is adopted instead of sent again: after a crash between POST and recording, or after a
rebuild. A coupon code the shop already has is adopted the same way (codes are derived from
stable facts, so the shop's copy is the bridge's).

A request the shop does not answer in time (a read timeout, a 504) holds back only its own
rows: they are retried after their backoff, marked in doubt, and a create in doubt is looked
for in the shop before it is sent again (a note among the order's notes, a coupon by its code).
The rest of the drain goes on; TIMEOUTS_IN_A_ROW unanswered requests in a row stop it (a shop
that answers nothing), and so do as many as would keep the drain waiting past a third of its
claim's lease. A shop that is down (connection refused, 503, 429) stops the drain.

The rows as people see them (list, show, count, retry) live in ``outbox_rows``; what a drain
reports (``DrainSummary``, with the requests a dry run would send) lives in ``outbox_summary``.
"""

from __future__ import annotations

import logging
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import Engine
from sqlmodel import Session, col, select

from bridge.errors import PermanentError
from bridge.rules.retry import after_failure
from bridge.rules.writeback.identities import claim_note, unclaimed_notes
from bridge.services.queue import OUTBOX, due_select
from bridge.services.writeback.outbox_summary import DrainSummary, PlannedRequest
from bridge.services.writeback.queue import NOTE, release_held_notes, remember_all
from bridge.settings import Settings
from bridge.shop.errors import ShopRequestError, ShopUnavailable
from bridge.shop.protocol import BATCH_LIMIT, BatchResult
from bridge.store.db import unit_of_work
from bridge.store.models import (
    OutboxItem,
    OutboxStatus,
    OutboxWritten,
    PersonalCoupon,
    utcnow,
)

log = logging.getLogger(__name__)

# A claimed row whose drain vanished (crash, restart) is taken up again after this long.
CLAIM_LEASE = timedelta(minutes=15)


DRAIN_LIMIT = 5000  # rows per drain; the rest waits for the next one


COUPON_EXISTS = "woocommerce_rest_coupon_code_already_exists"


# This many requests in a row without an answer in time: the shop answers nothing, stop.
TIMEOUTS_IN_A_ROW = 3


# WooCommerce batch resource per outbox resource, in the order a drain sends them: coupons
# first, so that a note mentioning a coupon finds it in the shop.
BATCH_ORDER = ("coupon", "product", "variation", "order", "customer")


class BatchClient(Protocol):
    """What the drain needs from the shop (bridge.shop.client.WooClient provides it)."""

    def get(self, path: str, params: Mapping[str, Any] | None = None) -> Any: ...

    def post(self, path: str, data: Mapping[str, Any]) -> Any: ...

    def batch(
        self,
        resource: str,
        *,
        create: Iterable[Mapping[str, Any]] = (),
        update: Iterable[Mapping[str, Any]] = (),
        delete: Iterable[int] = (),
    ) -> BatchResult: ...


@dataclass
class _Row:
    """A claimed outbox row, detached from its session."""

    id: int
    resource: str
    operation: str
    target_id: int | None
    target_key: str
    payload: dict[str, Any]
    attempts: int
    in_doubt: bool
    send_alone: bool

    @property
    def data(self) -> Any:
        return self.payload.get("data")


@dataclass
class _Batch:
    """One batch call: its items and, per item, the rows it delivers."""

    resource: str  # as WooClient.batch names it: products, products/18/variations, ...
    action: str  # create or update
    items: list[dict[str, Any]]
    rows: list[list[_Row]]

    def request(self) -> PlannedRequest:
        return PlannedRequest("POST", f"{self.resource}/batch", {self.action: self.items})


@dataclass
class _Result:
    kind: str  # sent, failed, dead, released (not tried), deferred (waits for a coupon)
    error: str = ""
    retry_after: float | None = None
    in_doubt: bool | None = None
    send_alone: bool | None = None
    written: Any = None
    woo_id: int | None = None
    adopted: bool = False  # the shop had it already
    timed_out: bool = False  # the request reached the shop and got no answer in time


def _due(session: Session, now: datetime, *, lock: bool) -> list[OutboxItem]:
    """Rows whose time has come (the durable queue's due rows), oldest first, except targets
    another drain is sending now.

    Sending a newer value while an older one is in flight could let the older land last.
    """
    in_flight = select(OutboxItem.target_key).where(
        OutboxItem.status == OutboxStatus.SENDING, col(OutboxItem.next_attempt_at) > now
    )
    dialect = session.get_bind().dialect.name
    statement = due_select(
        OUTBOX,
        dialect,
        now,
        entity=OutboxItem,
        limit=DRAIN_LIMIT,
        where=[col(OutboxItem.target_key).not_in(in_flight)],
        lock=lock,
    )
    return list(session.execute(statement).scalars().all())


def _snapshot(row: OutboxItem) -> _Row:
    assert row.id is not None
    return _Row(
        row.id,
        row.resource,
        row.operation,
        row.target_id,
        row.target_key,
        dict(row.payload or {}),
        row.attempts,
        row.in_doubt,
        row.send_alone,
    )


def _split_unchanged(session: Session, rows: Sequence[_Row]) -> tuple[list[_Row], list[_Row]]:
    """Updates whose newest value equals what was last written need no request (but those
    queued ``always``: cohort stock, which WooCommerce changes by itself)."""
    newest: dict[str, _Row] = {}
    for row in rows:
        if row.operation == "update":
            newest[row.target_key] = row  # rows come in id order: the last one is the newest
    keys = sorted(newest)
    written = (
        {
            w.target_key: w.data
            for w in session.exec(
                select(OutboxWritten).where(col(OutboxWritten.target_key).in_(keys))
            ).all()
        }
        if keys
        else {}
    )
    unchanged_keys = {
        key
        for key, row in newest.items()
        if key in written and written[key] == row.data and not row.payload.get("always")
    }
    send = [row for row in rows if row.target_key not in unchanged_keys]
    unchanged = [row for row in rows if row.target_key in unchanged_keys]
    return send, unchanged


def _merge(item: dict[str, Any], data: Mapping[str, Any]) -> None:
    for name, value in data.items():
        if name == "meta_data" and isinstance(item.get(name), list):
            keys = {meta.get("key") for meta in value}
            item[name] = [m for m in item[name] if m.get("key") not in keys] + list(value)
        else:
            item[name] = value


def _batch_resource(row: _Row) -> str:
    if row.resource == "variation":
        return f"products/{int(row.payload['parent_id'])}/variations"
    return {"product": "products", "order": "orders", "customer": "customers", "coupon": "coupons"}[
        row.resource
    ]


def _plan_batches(rows: Sequence[_Row]) -> list[_Batch]:
    """Group rows into batch calls: one item per target, at most 100 items a call.

    Rows that WooCommerce refused inside a batch before go in a call of their own.
    """
    batches: list[_Batch] = []
    for resource in BATCH_ORDER:
        mine = [row for row in rows if row.resource == resource]
        by_path: dict[tuple[str, str], list[_Row]] = defaultdict(list)
        for row in mine:
            by_path[(_batch_resource(row), row.operation)].append(row)
        for (path, operation), group in by_path.items():
            items: list[tuple[dict[str, Any], list[_Row], bool]] = []
            if operation == "update":
                by_target: dict[int | None, tuple[dict[str, Any], list[_Row]]] = {}
                sent_alone: set[int | None] = set()
                for row in group:  # id order: a newer value of one target overrides an older
                    item, delivered = by_target.setdefault(
                        row.target_id, ({"id": row.target_id}, [])
                    )
                    _merge(item, row.data or {})
                    delivered.append(row)
                    if row.send_alone:
                        sent_alone.add(row.target_id)
                items = [
                    (item, delivered, target in sent_alone)
                    for target, (item, delivered) in by_target.items()
                ]
            else:
                items = [(dict(row.data or {}), [row], row.send_alone) for row in group]
            together = [(item, delivered) for item, delivered, alone in items if not alone]
            for start in range(0, len(together), BATCH_LIMIT):
                chunk = together[start : start + BATCH_LIMIT]
                batches.append(
                    _Batch(
                        path,
                        operation,
                        [item for item, _ in chunk],
                        [delivered for _, delivered in chunk],
                    )
                )
            for item, delivered, alone in items:
                if alone:
                    batches.append(_Batch(path, operation, [item], [delivered]))
    return batches


def _note_requests(row: _Row, read: set[int]) -> list[PlannedRequest]:
    """The order's notes are read once per drain, then the note is posted unless it is there."""
    path = f"orders/{row.target_id}/notes"
    requests = [] if row.target_id in read else [PlannedRequest("GET", path)]
    read.add(int(row.target_id or 0))
    condition = "only if the order shows no note with this text that the bridge did not post"
    return [*requests, PlannedRequest("POST", path, row.data, condition=condition)]


def _unmet(session: Session, row: _Row, present: Iterable[str] = ()) -> set[str]:
    """What a note still waits for: targets it mentions that the shop does not hold yet."""
    requires = set(row.payload.get("requires") or []) - set(present)
    if not requires:
        return set()
    written = session.exec(
        select(OutboxWritten.target_key).where(col(OutboxWritten.target_key).in_(sorted(requires)))
    ).all()
    return requires - set(written)


def _shop_level(exc: ShopRequestError) -> bool:
    """A refusal about the key or the address, not the item: stop, do not burn attempts."""
    return exc.status in (None, 401, 403) or exc.code == "rest_no_route"


def _send_batch(client: BatchClient, batch: _Batch) -> tuple[dict[int, _Result], str]:
    """Send one batch call; the result per row id, and why to stop (empty to go on)."""
    results: dict[int, _Result] = {}
    try:
        answer = (
            client.batch(batch.resource, update=batch.items)
            if batch.action == "update"
            else client.batch(batch.resource, create=batch.items)
        )
    except ShopUnavailable as exc:
        for delivered in batch.rows:
            for row in delivered:
                # A create may have been applied before the answer was lost.
                results[row.id] = _Result(
                    "failed",
                    str(exc),
                    exc.retry_after,
                    in_doubt=batch.action == "create" or None,
                    timed_out=exc.timed_out,
                )
        # Not answered in time: only these rows wait; the shop is there, the drain goes on.
        return results, "" if exc.timed_out else str(exc)
    except ShopRequestError as exc:
        if _shop_level(exc):
            for delivered in batch.rows:
                for row in delivered:
                    results[row.id] = _Result("released", str(exc))
            return results, str(exc)
        whole = len(batch.items) > 1
        for delivered in batch.rows:
            for row in delivered:
                # Refused as a whole: one bad item spoils a batch, so each goes alone next time.
                results[row.id] = (
                    _Result("failed", str(exc), send_alone=True)
                    if whole
                    else _Result("dead", str(exc))
                )
        return results, ""
    if batch.action == "update":
        failed = {error.id: error for error in answer.failed}
        for item, delivered in zip(batch.items, batch.rows, strict=True):
            error = failed.get(item["id"])
            for row in delivered:
                if error is None:
                    results[row.id] = _Result("sent", written=True)
                elif error.code.endswith("_invalid_id"):  # woocommerce_rest_shop_order_...
                    # The shop has no such order (product, customer): final, as for a note.
                    results[row.id] = _Result("dead", f"{error.code}: {error.message}")
                else:
                    results[row.id] = _Result(
                        "failed", f"{error.code}: {error.message}", send_alone=True
                    )
        return results, ""
    created = {str(obj.get("code", "")).lower(): obj for obj in answer.succeeded}
    refused = {str(error.item.get("code", "")).lower(): error for error in answer.failed}
    for item, delivered in zip(batch.items, batch.rows, strict=True):
        code = str(item.get("code", "")).lower()
        error = refused.get(code)
        for row in delivered:
            if error is None and code in created:
                woo_id = created[code].get("id")
                results[row.id] = _Result(
                    "sent",
                    written={"id": woo_id, "code": code},
                    woo_id=woo_id if isinstance(woo_id, int) else None,
                )
            elif error is not None and error.code == COUPON_EXISTS:
                # An attempt whose answer was lost, or the bridge before a rebuild, made it:
                # codes follow from the rule and the learner, so it is ours if it is theirs.
                results[row.id] = _adopt_coupon(client, item)
            elif error is not None:
                results[row.id] = _Result(
                    "failed", f"{error.code}: {error.message}", send_alone=True
                )
            else:
                results[row.id] = _Result(
                    "failed", "WooCommerce did not report on this item", in_doubt=True
                )
    return results, ""


def _adopt_coupon(client: BatchClient, item: Mapping[str, Any]) -> _Result:
    """Look up a coupon code the shop refused as existing: the learner's own is adopted."""
    code = str(item.get("code") or "").lower()
    found, _ = _find_coupon(client, item, "exists; reading it failed")
    return found or _Result(
        "failed", f"coupon {code} is said to exist but is not found", in_doubt=True
    )


def _find_coupon(
    client: BatchClient, item: Mapping[str, Any], failing: str
) -> tuple[_Result | None, str]:
    """The shop's coupon with the item's code: adopted when it is the learner's, dead when it
    is someone else's, None when the shop has none; and why to stop (the shop is down)."""
    code = str(item.get("code") or "").lower()
    try:
        found = client.get("coupons", {"code": code})
    except (ShopUnavailable, ShopRequestError) as exc:
        down = isinstance(exc, ShopUnavailable) and not exc.timed_out
        return _Result("failed", f"coupon {code} {failing}: {exc}", in_doubt=True), str(
            exc
        ) if down else ""
    coupon = (
        next((c for c in found if isinstance(c, dict)), None) if isinstance(found, list) else None
    )
    if coupon is None:
        return None, ""
    mine = {str(e).lower() for e in item.get("email_restrictions") or []}
    theirs = {str(e).lower() for e in coupon.get("email_restrictions") or []}
    if mine and theirs and not mine & theirs:
        return _Result("dead", f"coupon code {code} exists in the shop for someone else"), ""
    woo_id = coupon.get("id")
    return _Result(
        "sent",
        written={"id": woo_id, "code": code},
        adopted=True,
        woo_id=woo_id if isinstance(woo_id, int) else None,
    ), ""


def _posted_texts(engine: Engine, order_id: int) -> list[str]:
    """The texts of the notes the bridge knows it posted on an order."""
    with unit_of_work(engine) as session:
        rows = session.exec(
            select(OutboxWritten.data).where(
                OutboxWritten.resource == NOTE, OutboxWritten.target_id == order_id
            )
        ).all()
    return [str(data["note"]) for data in rows if isinstance(data, dict) and data.get("note")]


def _send_note(
    client: BatchClient, engine: Engine, row: _Row, seen: dict[int, Counter[str]]
) -> tuple[_Result, str]:
    """Create one order note unless the order already shows it (look before you create).

    ``seen`` keeps, per order, the notes read during this drain that no recorded post of the
    bridge accounts for, so all the notes of one order cost one read.
    """
    if not isinstance(row.target_id, int) or not 0 < row.target_id < 2**63:
        # orders/-5/notes has no REST route: the shop's rest_no_route would read as
        # "WooCommerce is not active" and stop every drain behind this one row.
        return _Result(
            "dead", f"order id {row.target_id} is not a WooCommerce order id; the note was not sent"
        ), ""
    path = f"orders/{row.target_id}/notes"
    text = str((row.data or {}).get("note") or "")
    try:
        order_id = int(row.target_id or 0)
        if order_id not in seen:
            notes = client.get(path)
            texts = (
                [str(n.get("note") or "") for n in notes if isinstance(n, dict)]
                if isinstance(notes, list)
                else []
            )
            seen[order_id] = unclaimed_notes(texts, _posted_texts(engine, order_id))
        if claim_note(seen[order_id], text):
            return _Result("sent", written={"id": None, "note": text}, adopted=True), ""
        answer = client.post(path, row.data or {})
    except ShopUnavailable as exc:
        # 429 and 503 turn the request away unprocessed; anything else may have created it.
        doubt = True if exc.status not in (429, 503) else None
        # Not answered in time: this note waits (and is looked for first), the drain goes on.
        return _Result(
            "failed", str(exc), exc.retry_after, in_doubt=doubt, timed_out=exc.timed_out
        ), "" if exc.timed_out else str(exc)
    except ShopRequestError as exc:
        if _shop_level(exc):
            return _Result("released", str(exc)), str(exc)
        return _Result("dead", str(exc)), ""
    note_id = answer.get("id") if isinstance(answer, dict) else None
    return _Result("sent", written={"id": note_id, "note": text}), ""


def _record(
    engine: Engine,
    rows: Mapping[int, _Row],
    results: Mapping[int, _Result],
    settings: Settings,
    now: datetime,
    summary: DrainSummary,
) -> None:
    """Write each row's outcome (and what the shop now holds) in one transaction."""
    with unit_of_work(engine) as session:
        stored = {
            row.id: row
            for row in session.exec(
                select(OutboxItem).where(col(OutboxItem.id).in_(sorted(results))).with_for_update()
            ).all()
        }
        written: list[tuple[str, str, int | None, Any]] = []
        for row_id in sorted(results):  # id order: a newer value of a target is written last
            result, snapshot, row = results[row_id], rows[row_id], stored.get(row_id)
            if row is None:
                continue
            row.claimed_at = None
            if result.kind == "sent":
                row.status = OutboxStatus.SENT
                row.sent_at = now
                row.next_attempt_at = None
                row.last_error = ""
                row.in_doubt = False
                data = snapshot.data if result.written is True else result.written
                written.append((snapshot.target_key, snapshot.resource, snapshot.target_id, data))
                if snapshot.resource == "coupon" and result.woo_id is not None:
                    code = str((snapshot.data or {}).get("code") or "")
                    coupon = session.exec(
                        select(PersonalCoupon).where(PersonalCoupon.code == code)
                    ).first()
                    if coupon is not None:
                        coupon.woo_id = result.woo_id
                        session.add(coupon)
                summary.sent += 1
                if result.adopted:
                    summary.adopted += 1
                elif isinstance(snapshot.payload.get("notify"), int):
                    summary.notified.add(snapshot.payload["notify"])
            elif result.kind in ("released", "deferred"):
                row.status = OutboxStatus.PENDING
                row.next_attempt_at = None
                if result.error:
                    row.last_error = result.error[:2000]
                if result.kind == "deferred":
                    summary.deferred += 1
                else:
                    summary.left += 1
            else:
                row.attempts += 1
                row.last_error = result.error[:2000]
                if result.in_doubt is not None:
                    row.in_doubt = result.in_doubt
                if result.send_alone is not None:
                    row.send_alone = result.send_alone
                fate = after_failure(
                    row.attempts, settings.writeback.outbox_max_attempts, now, result.retry_after
                )
                if result.kind == "dead" or fate.dead:
                    row.status = OutboxStatus.DEAD
                    row.next_attempt_at = None
                    summary.dead += 1
                    log.warning(
                        "write-back dead-lettered: %s",
                        row.last_error,
                        extra={"outbox_id": row.id, "target": row.target_key},
                    )
                else:
                    row.status = OutboxStatus.PENDING
                    row.next_attempt_at = fate.next_attempt_at
                    summary.retrying += 1
            session.add(row)
        remember_all(session, written)
        session.commit()


def _look_for_coupons_in_doubt(
    client: BatchClient, rows: Sequence[_Row]
) -> tuple[dict[int, _Result], str]:
    """Coupons whose create may have reached the shop (no answer in time, a drain that died)
    are looked for by code before they are sent again: found, they are adopted (or dead, when
    the code is someone else's); not found, they go in the batch. Why to stop, if the shop is
    down."""
    looked: dict[int, _Result] = {}
    for row in rows:
        if row.resource != "coupon" or row.operation != "create" or not row.in_doubt:
            continue
        found, stop = _find_coupon(client, row.data or {}, "was looked for; that failed")
        if found is not None:
            looked[row.id] = found
        if stop:
            for other in rows:
                if other.resource == "coupon" and other.id not in looked:
                    looked[other.id] = _Result("released")
            return looked, stop
    return looked, ""


class _Timeouts:
    """Counts requests not answered in time; too many in a row mean the shop answers nothing,
    too many in one drain would keep its rows claimed past their lease."""

    def __init__(self, summary: DrainSummary, read_timeout: float) -> None:
        self.summary = summary
        self.in_a_row = self.calls = 0
        # Each costs up to the read timeout: a third of the claim's lease at most.
        self.most = max(
            TIMEOUTS_IN_A_ROW, int(CLAIM_LEASE.total_seconds() / 3 / max(read_timeout, 1.0))
        )

    def after(self, results: Iterable[_Result]) -> str:
        """After one request's results: why to stop, or empty to go on."""
        answered = timed_out = False
        for result in results:
            if result.timed_out:
                self.summary.timed_out += 1
                timed_out = True
            elif result.kind in ("sent", "failed", "dead"):
                answered = True
        if answered:
            self.in_a_row = 0
        if answered or not timed_out:
            return ""
        self.in_a_row += 1
        self.calls += 1
        if self.in_a_row >= TIMEOUTS_IN_A_ROW:
            return (
                f"the shop answered none of the last {self.in_a_row} requests in time; "
                "the rest waits for the next drain"
            )
        if self.calls >= self.most:
            return (
                f"{self.calls} requests were not answered in time in this drain; "
                "the rest waits for the next drain"
            )
        return ""


def _claim(engine: Engine, now: datetime) -> tuple[list[_Row], int]:
    """Take the due rows for this drain; mark unchanged ones done. Returns (rows, unchanged)."""
    with unit_of_work(engine) as session:
        due = _due(session, now, lock=True)
        for row in due:
            if row.claimed_at is not None:
                # Its drain vanished after claiming it: whatever it sent may have arrived.
                row.attempts += 1
                row.in_doubt = row.in_doubt or row.operation == "create"
                row.last_error = "an earlier drain was interrupted; its outcome is unknown"
        rows = [_snapshot(row) for row in due]
        send, unchanged = _split_unchanged(session, rows)
        by_id = {row.id: row for row in due}
        for snapshot in unchanged:
            row = by_id[snapshot.id]
            row.status = OutboxStatus.UNCHANGED
            row.claimed_at = None
            row.next_attempt_at = None
            row.sent_at = now
            session.add(row)
        for snapshot in send:
            row = by_id[snapshot.id]
            row.status = OutboxStatus.SENDING
            row.claimed_at = now
            row.next_attempt_at = now + CLAIM_LEASE
            session.add(row)
        session.commit()
    return send, len(unchanged)


def _plan_dry(engine: Engine, now: datetime, public_url: str | None) -> DrainSummary:
    summary = DrainSummary(dry_run=True)
    with unit_of_work(engine) as session:  # never committed: held notes are worded, rolled back
        release_held_notes(session, public_url)
        rows = [_snapshot(row) for row in _due(session, now, lock=False)]
        send, unchanged = _split_unchanged(session, rows)
        summary.unchanged = len(unchanged)
        for row in send:
            if row.resource == "coupon" and row.operation == "create" and row.in_doubt:
                code = str((row.data or {}).get("code") or "").lower()
                summary.requests.append(
                    PlannedRequest(
                        "GET",
                        f"coupons?code={code}",
                        condition="its create may have reached the shop: looked for first, and "
                        "adopted if there (then not in the batch below)",
                    )
                )
        for batch in _plan_batches([row for row in send if row.resource != NOTE]):
            summary.requests.append(batch.request())
        # Coupons this drain would create count as present for the notes that mention them.
        creating = {row.target_key for row in send if row.resource == "coupon"}
        read: set[int] = set()
        for row in send:
            if row.resource == NOTE and _unmet(session, row, creating):
                summary.deferred += 1
                continue
            if row.resource == NOTE:
                summary.requests.extend(_note_requests(row, read))
            summary.sent += 1  # would be: the real drain's count
            if isinstance(row.payload.get("notify"), int):
                summary.notified.add(row.payload["notify"])
    return summary


def drain_outbox(
    engine: Engine,
    woo_client: BatchClient | None,
    settings: Settings,
    *,
    now: datetime | None = None,
    dry_run: bool = False,
    progress: Any = None,
) -> DrainSummary:
    """Send the due write-backs: batches first (coupons, products, orders, customers), then notes.

    Each call's answer is recorded before the next call. Retryable failures come back with
    exponential backoff and are dead-lettered after BRIDGE_OUTBOX_MAX_ATTEMPTS; when the shop
    is down or refuses the key, the drain stops and leaves the rest for later. ``dry_run``
    returns the exact requests it would send and writes nothing (no shop needed).
    """
    now = now or utcnow()
    if dry_run:
        return _plan_dry(engine, now, settings.web.public_url)
    if woo_client is None:
        raise PermanentError("no shop to write back to: set WOOCOMMERCE_URL and the REST keys")
    if settings.web.public_url:
        # Notes held for want of the URL are worded with it now, then sent like any other.
        with unit_of_work(engine) as session:
            if release_held_notes(session, settings.web.public_url):
                session.commit()
    total = getattr(woo_client, "total_requests", None)
    before = total() if callable(total) else None
    rows, unchanged = _claim(engine, now)
    summary = DrainSummary(unchanged=unchanged)
    if progress is not None:  # anything with set_total(n) and advance(n), e.g. a progress bar
        progress.set_total(len(rows))
    by_id = {row.id: row for row in rows}
    seen: dict[int, Counter[str]] = {}
    looked, stop = _look_for_coupons_in_doubt(woo_client, rows)
    if looked:
        _record(engine, by_id, looked, settings, now, summary)
        if progress is not None:
            progress.advance(len(looked))
    timeouts = _Timeouts(summary, settings.http.read_timeout)
    for batch in _plan_batches(
        [row for row in rows if row.resource != NOTE and row.id not in looked]
    ):
        if stop:
            results = {row.id: _Result("released") for group in batch.rows for row in group}
        else:
            results, stop = _send_batch(woo_client, batch)
            stop = stop or timeouts.after(results.values())
        _record(engine, by_id, results, settings, now, summary)
        if progress is not None:
            progress.advance(len(results))
    for row in (row for row in rows if row.resource == NOTE):
        if stop:
            result = _Result("released")
        else:
            with unit_of_work(engine) as session:
                waiting = _unmet(session, row)
            if waiting:
                result = _Result("deferred")
            else:
                result, stop = _send_note(woo_client, engine, row, seen)
                stop = stop or timeouts.after([result])
        _record(engine, by_id, {row.id: result}, settings, now, summary)
        if progress is not None:
            progress.advance(1)
    summary.stopped = stop
    if callable(total) and before is not None:
        summary.http_requests = total() - before
    if rows or unchanged:
        log.info("outbox drained: %s", summary.summary())
    return summary
