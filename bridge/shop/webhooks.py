"""Which webhooks the bridge needs in the shop, and how to create or repair them (idempotent)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

CORE_TOPICS = (
    "order.created",
    "order.updated",
    "order.deleted",
    "order.restored",
    "product.created",
    "product.updated",
    "product.deleted",
    "product.restored",
    "customer.updated",
)
SUBSCRIPTION_TOPICS = (
    "subscription.created",
    "subscription.updated",
    "subscription.deleted",
    "subscription.switched",
)
RECEIVER_PATH = "/webhooks/woocommerce"
NAME_PREFIX = "creator-bridge"


class WebhookApi(Protocol):
    def list_webhooks(self, status: str = "all") -> list[dict[str, Any]]: ...

    def create_webhook(self, data: dict[str, Any]) -> dict[str, Any]: ...

    def update_webhook(self, webhook_id: int, data: dict[str, Any]) -> dict[str, Any]: ...

    def has_subscriptions(self) -> bool: ...


@dataclass(frozen=True)
class WebhookAction:
    topic: str
    action: str  # "created", "repaired", "ok"
    webhook_id: int | None
    status: str


def delivery_url(public_url: str) -> str:
    return public_url.rstrip("/") + RECEIVER_PATH


def needed_topics(with_subscriptions: bool) -> tuple[str, ...]:
    return CORE_TOPICS + (SUBSCRIPTION_TOPICS if with_subscriptions else ())


def ours(hooks: Sequence[dict[str, Any]], url: str) -> dict[str, dict[str, Any]]:
    """The shop's webhooks that deliver to this bridge, by topic (the newest wins)."""
    found: dict[str, dict[str, Any]] = {}
    for hook in sorted(hooks, key=lambda h: int(h.get("id") or 0)):
        if str(hook.get("delivery_url", "")).rstrip("/") == url:
            found[str(hook.get("topic"))] = hook
    return found


def install_webhooks(api: WebhookApi, public_url: str, secret: str) -> list[WebhookAction]:
    """Create missing webhooks and re-activate (and re-key) ones that are not active."""
    url = delivery_url(public_url)
    existing = ours(api.list_webhooks("all"), url)
    actions = []
    for topic in needed_topics(api.has_subscriptions()):
        hook = existing.get(topic)
        if hook is None:
            created = api.create_webhook(
                {
                    "name": f"{NAME_PREFIX} {topic}",
                    "topic": topic,
                    "delivery_url": url,
                    "secret": secret,
                    "status": "active",
                }
            )
            actions.append(
                WebhookAction(
                    topic, "created", created.get("id"), str(created.get("status", "active"))
                )
            )
        elif hook.get("status") != "active":
            updated = api.update_webhook(int(hook["id"]), {"status": "active", "secret": secret})
            actions.append(
                WebhookAction(
                    topic, "repaired", hook.get("id"), str(updated.get("status", "active"))
                )
            )
        else:
            actions.append(WebhookAction(topic, "ok", hook.get("id"), "active"))
    return actions


def webhook_status(
    api: WebhookApi, public_url: str | None, *, repair: bool = False
) -> list[dict[str, Any]]:
    """Every webhook of the shop, flagging disabled or paused ones; ``repair`` re-enables ours."""
    url = delivery_url(public_url) if public_url else None
    rows = []
    for hook in sorted(api.list_webhooks("all"), key=lambda h: int(h.get("id") or 0)):
        mine = url is not None and str(hook.get("delivery_url", "")).rstrip("/") == url
        status = str(hook.get("status"))
        row = {
            "id": hook.get("id"),
            "topic": hook.get("topic"),
            "status": status,
            "delivery_url": hook.get("delivery_url"),
            "ours": mine,
            "problem": status in ("disabled", "paused"),
            "repaired": False,
        }
        if repair and mine and row["problem"]:
            api.update_webhook(int(hook["id"]), {"status": "active"})
            row["repaired"] = True
        rows.append(row)
    return rows
