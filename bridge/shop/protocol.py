"""WooCommerce REST conventions: pages, batches and their answers, dates, headers, error bodies."""

from __future__ import annotations

import email.utils
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import requests

API_VERSION = "wc/v3"


PER_PAGE = 100


BATCH_LIMIT = 100  # WooCommerce answers 413 above 100 items per batch call, all actions counted


KEYS_PAGE = "WooCommerce > Settings > Advanced > REST API"


# Query parameters whose values are credentials (query-string auth) or derived from them (OAuth).
CREDENTIAL_PARAMS = re.compile(
    r"((?:consumer_key|consumer_secret|oauth_consumer_key|oauth_signature|oauth_nonce)=)[^&#\s'\"]*"
)


@dataclass(frozen=True)
class Page:
    """One page of a collection, with WooCommerce's totals from X-WP-Total(Pages)."""

    items: list[dict[str, Any]]
    number: int
    total_pages: int
    total: int
    # False when X-WP-TotalPages was missing and total_pages is a guess from a full page.
    total_pages_known: bool = True


@dataclass(frozen=True)
class BatchItemError:
    """One item of a batch that WooCommerce refused inside an HTTP 200."""

    action: str
    item: dict[str, Any]
    id: int | None
    code: str
    message: str


@dataclass
class BatchResult:
    """What a batch did: the objects WooCommerce returned, and the items it refused."""

    succeeded: list[dict[str, Any]]
    failed: list[BatchItemError]

    @property
    def ok(self) -> bool:
        return not self.failed


@dataclass(frozen=True)
class AccessCheck:
    """One line of `bridge doctor` about the shop: what was checked and, if it failed, the fix."""

    name: str
    ok: bool
    detail: str
    fix: str = ""


def resource_of(path: str) -> str:
    """The resource a path names, ids left out: ``orders/28/refunds`` -> ``orders/refunds``."""
    path = path.split("?", 1)[0].strip("/")
    return "/".join(part for part in path.split("/") if part and not part.isdigit())


def wc_datetime(moment: datetime) -> str:
    """ISO 8601 in UTC without offset, as WooCommerce expects with ``dates_are_gmt=true``."""
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC).replace(tzinfo=None)
    return moment.replace(microsecond=0).isoformat()


def query_items(params: Mapping[str, Any] | None) -> list[tuple[str, str]]:
    """Query parameters as strings WooCommerce reads as meant (a copy: the caller's is kept).

    Booleans become ``true``/``false`` (Python's ``True`` would be signed differently by
    OAuth), lists become comma-separated (WordPress parses those), None is left out.
    """
    items: list[tuple[str, str]] = []
    for key, value in (params or {}).items():
        if value is None:
            continue
        if isinstance(value, bool):
            text = "true" if value else "false"
        elif isinstance(value, list | tuple):
            text = ",".join(str(part) for part in value)
        elif isinstance(value, datetime):
            text = wc_datetime(value)
        else:
            text = str(value)
        items.append((str(key), text))
    return items


def parse_retry_after(value: str | None, now: float) -> float | None:
    """Seconds to wait from a Retry-After header (seconds or an HTTP date); None if absent."""
    if not value:
        return None
    value = value.strip()
    if value.isascii() and value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, when.timestamp() - now)


def int_header(response: requests.Response, name: str) -> int | None:
    try:
        return int(response.headers[name])
    except (KeyError, ValueError):
        return None


def error_body(response: requests.Response) -> tuple[str, str, Mapping[str, Any]]:
    """WooCommerce's ``code``, ``message`` and ``data`` from an error answer, if it is one."""
    try:
        body = response.json()
    except ValueError:
        return "", "", {}
    if not isinstance(body, dict):
        return "", "", {}
    data = body.get("data")
    return (
        str(body.get("code") or ""),
        str(body.get("message") or ""),
        data if isinstance(data, dict) else {},
    )


def collect_batch_answers(
    action: str, sent: list[Any], answers: list[Any], result: BatchResult
) -> None:
    """Match WooCommerce's per-item answers (same order as sent) to the items sent."""
    for index, item in enumerate(sent):
        shown = item if isinstance(item, dict) else {"id": item}
        answer = answers[index] if index < len(answers) else None
        if not isinstance(answer, dict):
            result.failed.append(
                BatchItemError(
                    action,
                    shown,
                    id_of(shown),
                    "bridge_no_answer",
                    "WooCommerce did not report on this item",
                )
            )
        elif "error" in answer:
            error = answer["error"] if isinstance(answer["error"], dict) else {}
            result.failed.append(
                BatchItemError(
                    action,
                    shown,
                    id_of(answer) or id_of(shown),
                    str(error.get("code") or ""),
                    str(error.get("message") or ""),
                )
            )
        else:
            result.succeeded.append(answer)


def id_of(obj: Mapping[str, Any]) -> int | None:
    try:
        return int(obj["id"]) or None
    except (KeyError, TypeError, ValueError):
        return None


def order_admin_url(shop_url: str | None, order_id: int | None, storage: str) -> str | None:
    """The order's page in WP admin: WooCommerce's HPOS orders screen (``admin.php?page=wc-orders
    &action=edit&id=N``, the default since WooCommerce 8.2) or, for ``legacy`` post storage,
    ``post.php?post=N&action=edit``; None without a shop or an order."""
    if not shop_url or not order_id:
        return None
    base = shop_url.rstrip("/") + "/wp-admin/"
    if storage == "legacy":
        return f"{base}post.php?post={int(order_id)}&action=edit"
    return f"{base}admin.php?page=wc-orders&action=edit&id={int(order_id)}"
