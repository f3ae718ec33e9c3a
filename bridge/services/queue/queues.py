"""The two durable queues, described once: the webhook inbox and the write-back outbox.

Both tables keep ``status``, ``attempts``, ``last_error`` and ``next_attempt_at``; a row is due
when its status is one a claim takes and its ``next_attempt_at`` is empty or past (a claim's
lease that ran out is past too, so a row whose worker died is taken again).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Table
from sqlmodel import SQLModel

from bridge.rules.inbound.payloads import DeliveryStatus
from bridge.store.bulk import table_of
from bridge.store.models import InboxDelivery, OutboxItem, OutboxStatus


@dataclass(frozen=True)
class Queue:
    """One durable queue: its table and what its statuses mean."""

    name: str
    model: type[SQLModel]
    statuses: tuple[str, ...]  # every status, in the order filters list them
    due: tuple[str, ...]  # statuses a claim takes once next_attempt_at is empty or past
    dead: str  # dead-lettered: out of attempts, waits for a person
    retry_to: str  # the status retry-now gives a row
    retryable: tuple[str, ...]  # statuses a row retried by its id may have
    listed: tuple[str, ...]  # the columns a listing shows
    shown: tuple[str, ...]  # the further columns one row shows
    default_statuses: tuple[str, ...] | None  # a listing without a filter (None: every status)
    newest_first: bool  # a listing's default order
    on_retry: Mapping[str, Any] = field(default_factory=dict)  # what retry-now also resets

    @property
    def table(self) -> Table:
        return table_of(self.model)


INBOX = Queue(
    name="inbox",
    model=InboxDelivery,
    statuses=(
        DeliveryStatus.RECEIVED,
        DeliveryStatus.PROCESSED,
        DeliveryStatus.FAILED,
        DeliveryStatus.DEAD,
        DeliveryStatus.REJECTED,
        DeliveryStatus.IGNORED,
    ),
    due=(DeliveryStatus.RECEIVED, DeliveryStatus.FAILED),
    dead=DeliveryStatus.DEAD,
    retry_to=DeliveryStatus.FAILED,
    retryable=(DeliveryStatus.FAILED, DeliveryStatus.DEAD, DeliveryStatus.REJECTED),
    listed=(
        "id",
        "topic",
        "resource_id",
        "status",
        "attempts",
        "last_error",
        "received_at",
        "next_attempt_at",
        "processed_at",
        "delivery_id",
    ),
    shown=("headers", "business_key", "body"),
    default_statuses=None,
    newest_first=True,
)

OUTBOX = Queue(
    name="outbox",
    model=OutboxItem,
    statuses=tuple(OutboxStatus),
    # A row left 'sending' by a drain that died is due again once its claim's lease ends.
    due=(OutboxStatus.PENDING, OutboxStatus.SENDING),
    dead=OutboxStatus.DEAD,
    retry_to=OutboxStatus.PENDING,
    retryable=(OutboxStatus.DEAD, OutboxStatus.PENDING),
    listed=(
        "id",
        "status",
        "resource",
        "operation",
        "target_id",
        "target_key",
        "attempts",
        "last_error",
        "next_attempt_at",
        "created_at",
        "sent_at",
        "in_doubt",
        "send_alone",
    ),
    shown=("payload",),
    default_statuses=(
        OutboxStatus.PENDING,
        OutboxStatus.SENDING,
        OutboxStatus.HELD,
        OutboxStatus.DEAD,
    ),
    newest_first=False,
    # ``in_doubt`` is kept: a create that may have reached the shop is still looked for first.
    on_retry={"claimed_at": None},
)

QUEUES = {queue.name: queue for queue in (INBOX, OUTBOX)}
