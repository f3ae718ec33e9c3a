"""Hostile-input rules for webhook bodies: strict JSON, known topics, and payload shapes.

Checked at the edge of the rules, before any rule reads a field: a payload that fails is
rejected once with its reason (never retried), so one poisoned delivery cannot wedge the
service, grow memory, or write a thousand ledger rows.
"""

from __future__ import annotations

import codecs
import functools
import json
import math
import re
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import Any, TypeGuard

import orjson

from bridge.errors import PermanentError

# Ids are stored in BIGINT columns (PostgreSQL and SQLite both stop at 2**63 - 1).
MAX_ID = 2**63 - 1
DEFAULT_MAX_LINE_QUANTITY = 1000
MAX_JSON_DEPTH = 64
# WooCommerce totals are strings such as "29.35"; anything beyond this is not a price.
_AMOUNT = re.compile(r"^-?\d{1,15}(\.\d{1,8})?$")
MAX_AMOUNT = Decimal(10) ** 15
MAX_TEXT = 10_000
BOM = b"\xef\xbb\xbf"
# Fields named date_* or *_date, *_date_gmt hold a date (text or null).
_DATED_ENDS = ("_date_gmt", "_date")

# WooCommerce core topics and WooCommerce Subscriptions' own; any other event is ignored.
HANDLED_EVENTS: Mapping[str, frozenset[str]] = {
    "order": frozenset({"created", "updated", "deleted", "restored"}),
    "product": frozenset({"created", "updated", "deleted", "restored"}),
    "customer": frozenset({"created", "updated", "deleted", "restored"}),
    "subscription": frozenset({"created", "updated", "deleted", "restored", "switched"}),
}


class DeliveryStatus(StrEnum):
    """Where a stored webhook delivery stands (InboxDelivery.status)."""

    RECEIVED = "received"  # waiting to be processed
    PROCESSED = "processed"
    FAILED = "failed"  # retried after a backoff
    DEAD = "dead"  # out of tries: waits for a person
    IGNORED = "ignored"  # nothing the bridge processes
    REJECTED = "rejected"  # the payload breaks a rule: never retried


class BodyRefused(PermanentError):
    """The body is not the strict JSON WooCommerce sends (not UTF-8, BOM, NaN, too deep)."""


class PayloadRejected(PermanentError):
    """The payload parsed but breaks a rule (id out of range, quantity too large, wrong type)."""


def handled_topic(topic: str) -> bool:
    """Only known resource.event pairs are processed; ``order.exploded`` is not an order."""
    resource, _, event = topic.partition(".")
    return event in HANDLED_EVENTS.get(resource, frozenset())


def _refuse_constant(name: str) -> Any:
    raise BodyRefused(f"body is not JSON: {name} is not a JSON number")


def parse_json_body(body: bytes, *, storable: bool = False) -> Any:
    """Parse strict JSON: UTF-8 without BOM, no NaN/Infinity, nesting at most MAX_JSON_DEPTH.

    With ``storable`` (bodies whose strings are stored as they are: the API, claims) a string or
    key holding a NUL or a lone surrogate is refused too, since neither database's text can
    hold one. The WooCommerce receiver leaves them to ``check_payload``, which stores such a
    delivery as rejected (answered 200, so WooCommerce keeps the webhook).
    """
    if body.startswith(BOM):
        raise BodyRefused("body is not JSON: it starts with a byte order mark (BOM)")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise BodyRefused("body is not JSON: it is not UTF-8") from None
    try:
        payload = json.loads(text, parse_constant=_refuse_constant)
    except RecursionError:
        raise BodyRefused(f"body is not JSON: nested deeper than {MAX_JSON_DEPTH} levels") from None
    except ValueError as exc:
        # JSONDecodeError, and int() refusing a number of more than 4,300 digits.
        raise BodyRefused(f"body is not JSON: {str(exc).splitlines()[0][:200]}") from None
    # Nesting past the limit takes more opening brackets than the limit: a body with fewer
    # (every order: about 15) needs no walk.
    if text.count("{") + text.count("[") > MAX_JSON_DEPTH and _depth_exceeds(
        payload, MAX_JSON_DEPTH
    ):
        raise BodyRefused(f"body is not JSON: nested deeper than {MAX_JSON_DEPTH} levels")
    # Strict JSON has no raw control characters in strings and UTF-8 cannot encode a surrogate:
    # both can only come from a \u escape.
    if storable and "\\u" in text:
        problem = _walk_unstorable(payload)
        if problem is not None:
            raise BodyRefused(f"body is not JSON the bridge can store: a string holds {problem}")
    return payload


def unstorable(text: str) -> str | None:
    """What in ``text`` no database column can hold (a NUL, a lone surrogate), or None.

    PostgreSQL text refuses NUL; a lone surrogate (a JSON ``\\ud800`` escape, or an argument
    the OS could not decode) has no UTF-8 form, so neither SQLite nor PostgreSQL takes it.
    """
    if "\x00" in text:
        return "a NUL character"
    if _lone_surrogate(text):
        return "a lone surrogate"
    return None


def _lone_surrogate(text: str) -> bool:
    # A str holds a surrogate code point only unpaired (pairs decode to one character), and
    # encoding finds one ten times faster than a search.
    if text.isascii():
        return False
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def _walk_unstorable(value: Any) -> str | None:
    """``unstorable`` of the first string (key or value) in a parsed JSON tree that has it."""
    stack = [value]
    while stack:
        node = stack.pop()
        if isinstance(node, str):
            problem = unstorable(node)
            if problem is not None:
                return problem
        elif isinstance(node, dict):
            stack.extend(node.keys())
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return None


def _depth_exceeds(value: Any, limit: int) -> bool:
    """Without recursion, so that the check itself cannot overflow the stack."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict):
            children: Any = node.values()
        elif isinstance(node, list):
            children = node
        else:
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children)
    return False


@functools.lru_cache(maxsize=4096)
def _amount_text_ok(value: str) -> bool:
    """An amount given as text is a finite decimal (remembered: a shop's orders repeat the
    same few prices, and each order carries a dozen amounts)."""
    if not _AMOUNT.match(value.strip()):
        return False
    try:
        return Decimal(value.strip()).is_finite()
    except InvalidOperation:
        return False


class _Check:
    """Walks one payload, naming the first field that breaks a rule."""

    def __init__(self, resource: str, max_quantity: int) -> None:
        self.resource = resource
        self.max_quantity = max_quantity

    def fail(self, where: str, problem: str) -> PayloadRejected:
        return PayloadRejected(f"{self.resource} {where} {problem}")

    def id(
        self,
        obj: Mapping[str, Any],
        name: str,
        where: str,
        *,
        required: bool = False,
        zero: bool = True,
    ) -> None:
        value = obj.get(name)
        if value is None and not required:
            return
        if not _is_int(value):
            raise self.fail(f"{where}{name}", f"must be a whole number, not {_shown(value)}")
        low = 0 if zero else 1
        if not low <= value <= MAX_ID:
            raise self.fail(
                f"{where}{name}",
                f"must be {'0 or more' if zero else 'positive'} and below 2^63, "
                f"not {_shown(value)}",
            )

    def amount(self, obj: Mapping[str, Any], name: str, where: str) -> None:
        value = obj.get(name)
        if value is None or value == "":
            return
        if _is_int(value):
            ok = abs(value) < MAX_AMOUNT
        elif isinstance(value, float):
            ok = math.isfinite(value) and abs(value) < MAX_AMOUNT
        elif isinstance(value, str):
            ok = _amount_text_ok(value)
        else:
            ok = False
        if not ok:
            raise self.fail(
                f"{where}{name}", f"must be a finite decimal amount, not {_shown(value)}"
            )

    def text(
        self,
        obj: Mapping[str, Any],
        name: str,
        where: str,
        *,
        required: bool = False,
        limit: int = MAX_TEXT,
    ) -> None:
        value = obj.get(name)
        if value is None and not required:
            return
        if not isinstance(value, str) or len(value) > limit:
            raise self.fail(
                f"{where}{name}", f"must be text of at most {limit} characters, not {_shown(value)}"
            )

    def obj(self, obj: Mapping[str, Any], name: str, where: str) -> Mapping[str, Any]:
        value = obj.get(name)
        # PHP writes an empty associative array as [].
        if value is None or value == []:
            return {}
        if not isinstance(value, dict):
            raise self.fail(f"{where}{name}", f"must be an object, not {_shown(value)}")
        return value

    def objects(self, obj: Mapping[str, Any], name: str, where: str) -> list[Mapping[str, Any]]:
        value = obj.get(name)
        if value is None:
            return []
        if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
            raise self.fail(f"{where}{name}", "must be a list of objects")
        return value

    def meta(self, obj: Mapping[str, Any], where: str) -> None:
        for index, row in enumerate(self.objects(obj, "meta_data", where)):
            self.text(row, "key", f"{where}meta_data[{index}].")

    def quantity(self, line: Mapping[str, Any], where: str) -> None:
        value = line.get("quantity")
        if value is None:
            return
        if not _is_int(value):
            raise self.fail(f"{where}quantity", f"must be a whole number, not {_shown(value)}")
        if not 0 <= value <= self.max_quantity:
            raise self.fail(
                f"{where}quantity",
                f"must be between 0 and {self.max_quantity} "
                f"(BRIDGE_MAX_LINE_QUANTITY), not {_shown(value)}",
            )

    def lines(self, payload: Mapping[str, Any]) -> None:
        for index, line in enumerate(self.objects(payload, "line_items", "")):
            where = f"line_items[{index}]."
            self.id(line, "id", where, required=True, zero=False)
            self.id(line, "product_id", where)
            self.id(line, "variation_id", where)
            self.quantity(line, where)
            self.text(line, "sku", where)
            self.text(line, "name", where)
            for name in ("total", "subtotal", "total_tax", "subtotal_tax", "price"):
                self.amount(line, name, where)
            self.meta(line, where)

    def dates(self, payload: Mapping[str, Any]) -> None:
        for name, value in payload.items():
            if value is None or (isinstance(value, str) and len(value) <= 40):
                continue  # fine whether or not the field is a date
            dated = name.startswith("date_") or name.endswith(_DATED_ENDS)
            if dated:
                raise self.fail(name, f"must be a date text or null, not {_shown(value)}")

    def order_like(self, payload: Mapping[str, Any]) -> None:
        self.text(payload, "status", "", required=True, limit=64)
        self.id(payload, "customer_id", "")
        self.id(payload, "parent_id", "")
        self.text(payload, "currency", "", limit=16)
        for name in ("total", "discount_total", "shipping_total", "total_tax", "cart_tax"):
            self.amount(payload, name, "")
        billing = self.obj(payload, "billing", "")
        self.text(billing, "email", "billing.", limit=320)
        self.obj(payload, "shipping", "")
        self.dates(payload)
        self.meta(payload, "")
        self.lines(payload)
        for index, refund in enumerate(self.objects(payload, "refunds", "")):
            self.id(refund, "id", f"refunds[{index}].", required=True, zero=False)
            self.amount(refund, "total", f"refunds[{index}].")
        for name in ("coupon_lines", "fee_lines", "shipping_lines", "tax_lines"):
            for index, line in enumerate(self.objects(payload, name, "")):
                self.amount(line, "total", f"{name}[{index}].")

    def product(self, payload: Mapping[str, Any]) -> None:
        self.id(payload, "parent_id", "")
        self.text(payload, "sku", "")
        self.text(payload, "name", "")
        self.text(payload, "type", "", limit=64)
        for name in ("price", "regular_price", "sale_price"):
            self.amount(payload, name, "")
        value = payload.get("stock_quantity")
        if value is not None and not (_is_int(value) and abs(value) <= MAX_ID):
            raise self.fail("stock_quantity", f"must be a whole number, not {_shown(value)}")
        variations = payload.get("variations")
        if variations is not None and not (
            isinstance(variations, list) and all(_is_int(v) and 0 < v <= MAX_ID for v in variations)
        ):
            raise self.fail("variations", "must be a list of positive ids")
        self.dates(payload)
        self.meta(payload, "")

    def customer(self, payload: Mapping[str, Any]) -> None:
        self.text(payload, "email", "", limit=320)
        billing = self.obj(payload, "billing", "")
        self.text(billing, "email", "billing.", limit=320)
        self.obj(payload, "shipping", "")
        self.dates(payload)
        self.meta(payload, "")


def classify(
    topic: str,
    payload: Any,
    handled: frozenset[str],
    *,
    max_quantity: int = DEFAULT_MAX_LINE_QUANTITY,
) -> tuple[DeliveryStatus, str]:
    """``("received", "")`` to process, ``("ignored", why)`` or ``("rejected", why)``.

    Only WooCommerce resources are judged here; other handled sources pass as received.
    """
    resource = topic.partition(".")[0]
    if resource not in handled:
        return DeliveryStatus.IGNORED, f"topic {topic[:64]!r} is not one the bridge processes"
    if resource not in HANDLED_EVENTS:
        # Another source (a booking tool): its receiver checked it.
        return DeliveryStatus.RECEIVED, ""
    if not handled_topic(topic):
        return DeliveryStatus.IGNORED, f"topic {topic[:64]!r} is not one the bridge processes"
    if payload in ([], {}):
        # WooCommerce sends a literal [] for some events on resources that no longer exist.
        return DeliveryStatus.IGNORED, "empty body"
    try:
        check_payload(resource, payload, max_quantity=max_quantity)
    except PayloadRejected as exc:
        return DeliveryStatus.REJECTED, str(exc)
    return DeliveryStatus.RECEIVED, ""


def check_payload(
    resource: str,
    payload: Any,
    *,
    max_quantity: int = DEFAULT_MAX_LINE_QUANTITY,
    text: PayloadText | None = None,
) -> None:
    """Raise PayloadRejected naming the first field of ``payload`` that breaks a rule.

    ``text`` is ``payload_text(payload)`` when the caller has it already (the fingerprint is
    made of it), taken while the payload is as it is now; without it, it is made here.
    """
    if not isinstance(payload, dict):
        raise PayloadRejected(f"{resource} payload must be a JSON object, not {_shown(payload)}")
    order_id = payload.get("id")
    if not (type(order_id) is int and 0 < order_id <= MAX_ID):
        _Check(resource, max_quantity).id(payload, "id", "", required=True, zero=False)
    if not (text.plain if text is not None else _plain(payload)):
        # A NUL, a lone surrogate, or a payload that is not plain JSON: said precisely.
        _check_storable(resource, payload)
    if len(payload) == 1:
        return  # *.deleted sends only the id
    # The common case, a payload that breaks no rule, is checked at once; the first field that
    # breaks one is named by the walk below.
    if resource in ("order", "subscription"):
        if _order_like_ok(payload, max_quantity, text.layout if text is not None else None):
            return
        _Check(resource, max_quantity).order_like(payload)
    elif resource == "product":
        _Check(resource, max_quantity).product(payload)
    elif resource == "customer":
        _Check(resource, max_quantity).customer(payload)


def _check_storable(resource: str, payload: dict[str, Any]) -> None:
    text = _json_text(payload)
    if _has_nul(payload, text):
        raise PayloadRejected(f"{resource} payload contains a NUL character")
    surrogate = (
        _lone_surrogate(text)
        if text is not None
        else (_walk_unstorable(payload) == "a lone surrogate")
    )
    if surrogate:
        raise PayloadRejected(f"{resource} payload contains a lone surrogate")


# Sorted, compact, ASCII: the order part of the fingerprint (bridge.rules.fingerprints).
_ENCODER = json.JSONEncoder(sort_keys=True, separators=(",", ":"))
# Where orjson's sorted text differs from _ENCODER's: a float below 1e-4 (``0.00001`` against
# ``1e-05``; orjson's other floats are written as the standard library writes them), and every
# character outside printable ASCII but the control characters (raw against ``\\uXXXX``).
_SMALL_FLOAT = b"0.0000"
_EXPONENT = re.compile(rb"[0-9][eE]-")
_EXACT_TYPES = (
    orjson.OPT_PASSTHROUGH_DATETIME
    | orjson.OPT_PASSTHROUGH_DATACLASS
    | orjson.OPT_PASSTHROUGH_SUBCLASS
)
# orjson writes moments, dataclasses and subclasses of str, int, dict and list by itself; the
# standard library refuses the first two and writes the others its own way: all go to it.
_EXACT_TYPES_SORTED = _EXACT_TYPES | orjson.OPT_SORT_KEYS


def sorted_json(value: Any) -> str:
    """``_ENCODER.encode(value)``, the same text, made by orjson (several times faster).

    What orjson refuses or would write otherwise goes to the standard library: non-text keys,
    integers past 64 bits, lone surrogates, deep nesting, values that are not plain JSON types
    (moments, dataclasses, subclasses), a float the two write differently. The difference left:
    a non-finite float is ``null`` here, ``NaN`` there; WooCommerce never sends one (PHP's
    json_encode cannot write it, and ``parse_json_body`` refuses it in a webhook's body).
    Searched as bytes: C's memchr, where a regular expression walks the text in Python's
    engine.
    """
    try:
        raw = orjson.dumps(value, option=_EXACT_TYPES_SORTED)
    except TypeError:  # orjson.JSONEncodeError is one
        return _ENCODER.encode(value)
    if _SMALL_FLOAT in raw or ((b"e-" in raw or b"E-" in raw) and _EXPONENT.search(raw)):
        return _ENCODER.encode(value)
    if raw.isascii():
        text = raw.decode("ascii")
    else:
        text = raw.decode("utf-8").encode("ascii", _JSON_ASCII).decode("ascii")
    if "\x7f" in text:  # ASCII, but outside what the standard library leaves as it is
        text = text.replace("\x7f", "\\u007f")
    return text


def _json_ascii(error: UnicodeError) -> tuple[str, int]:
    """Codec error handler: non-ASCII characters as the standard library's ASCII JSON writes
    them, ``\\uXXXX`` (astral ones as a surrogate pair); called once per run of them."""
    assert isinstance(error, UnicodeEncodeError)
    escaped = []
    for character in error.object[error.start : error.end]:
        code = ord(character)
        if code < 0x10000:
            escaped.append(f"\\u{code:04x}")
        else:
            code -= 0x10000
            escaped.append(f"\\u{0xD800 | (code >> 10):04x}\\u{0xDC00 | (code & 0x3FF):04x}")
    return "".join(escaped), error.end


_JSON_ASCII = "bridge-json-ascii"
codecs.register_error(_JSON_ASCII, _json_ascii)


def _plain(payload: dict[str, Any]) -> bool:
    """``payload_text(payload).plain``, without the fingerprint's text (no order, no split):
    orjson refuses a lone surrogate, and writes a NUL as ``\\u0000``."""
    try:
        text = orjson.dumps(payload, option=_EXACT_TYPES)
    except TypeError:
        return False
    return b"\\u0000" not in text


# A payload's underscored field names and those that may hold a date (``_layout``).
_Layout = tuple[tuple[str, ...], tuple[str, ...]]


class PayloadText:
    """A payload as JSON text, made once for the payload rules and the order's fingerprint.

    ``fields``: the payload without its top-level underscored fields (links, which differ
    between a webhook and the REST API) as sorted, compact, ASCII JSON; None when the payload
    is not plain JSON (then the rules walk it). ``plain``: the text shows that no string or
    key of the whole payload holds a NUL or a surrogate (each would be a ``\\u`` escape).
    """

    __slots__ = ("fields", "plain", "layout")

    def __init__(self, fields: str | None, plain: bool, layout: _Layout | None = None) -> None:
        self.fields = fields
        self.plain = plain
        self.layout = layout  # ``_layout(payload)``, for the payload rules


def payload_text(payload: Mapping[str, Any]) -> PayloadText:
    """The payload's ``PayloadText`` (one JSON encoding; never raises)."""
    layout = _layout(payload)
    try:
        if layout is None:
            raise TypeError("a field name is not text")
        underscored = layout[0]
        if not underscored:
            fields = sorted_json(payload if isinstance(payload, dict) else dict(payload))
        else:
            kept = dict(payload)
            for name in underscored:
                del kept[name]
            fields = sorted_json(kept)
    except (TypeError, ValueError, RecursionError):
        return PayloadText(None, False)
    plain = "\\u0000" not in fields and "\\ud" not in fields
    if plain and underscored:
        plain = _plain_and_storable({name: payload[name] for name in underscored})
    return PayloadText(fields, plain, layout)


def _plain_and_storable(value: Any) -> bool:
    """Only plain JSON values (exact types) and no text that holds a NUL or a surrogate: True
    only when sure (for a few small fields; a payload's text is searched instead)."""
    stack = [value]
    budget = 10_000  # a value that holds itself is not JSON: the rules say so
    while stack:
        budget -= 1
        if budget < 0:
            return False
        node = stack.pop()
        kind = type(node)
        if kind is str:
            if "\x00" in node or (not node.isascii() and _lone_surrogate(node)):
                return False
        elif kind is dict:
            stack.extend(node)
            stack.extend(node.values())
        elif kind is list:
            stack.extend(node)
        elif node is not None and kind not in (int, float, bool):
            return False
    return True


# Field names of a payload -> (its underscored names, its names that may hold a date); a shop
# sends the same few layouts.
_LAYOUTS: dict[tuple[Any, ...], _Layout | None] = {}


def _layout(payload: Mapping[str, Any]) -> _Layout | None:
    """The payload's underscored field names and those that hold a date (``_Check.dates``);
    None if a name is not text."""
    names = tuple(payload)
    try:
        return _LAYOUTS[names]
    except KeyError:
        pass
    layout: _Layout | None = None
    if all(type(name) is str for name in names):
        layout = (
            tuple(name for name in names if name.startswith("_")),
            tuple(name for name in names if name.startswith("date_") or name.endswith(_DATED_ENDS)),
        )
    if len(_LAYOUTS) >= 256:
        _LAYOUTS.clear()
    _LAYOUTS[names] = layout
    return layout


# Amount texts ``_amount_text_ok`` passed (a shop's orders repeat a few prices), at most 4096.
_AMOUNTS_OK: set[str] = {""}


def _amount_ok(value: Any) -> bool:
    """``_Check.amount`` passes (sure only when True)."""
    kind = type(value)
    if kind is str:
        if value in _AMOUNTS_OK:
            return True
        if not _amount_text_ok(value):
            return False
        if len(_AMOUNTS_OK) < 4096:
            _AMOUNTS_OK.add(value)
        return True
    if value is None:
        return True
    if kind is int:
        return bool(-MAX_AMOUNT < value < MAX_AMOUNT)
    if kind is float:
        return math.isfinite(value) and abs(value) < MAX_AMOUNT
    return False


def _meta_ok(rows: Any) -> bool:
    """``_Check.meta`` passes (sure only when True)."""
    if rows is None:
        return True
    if type(rows) is not list:
        return False
    for row in rows:
        if type(row) is not dict:
            return False
        key = row.get("key")
        if key is not None and (type(key) is not str or len(key) > MAX_TEXT):
            return False
    return True


def _order_like_ok(
    payload: dict[str, Any], max_quantity: int, layout: _Layout | None = None
) -> bool:
    """``_Check.order_like`` finds nothing: True only when sure (else the walk says why).

    The same rules, without naming anything; exact types only (a subclass goes to the walk).
    """
    get = payload.get
    ok = _AMOUNTS_OK
    value = get("status")
    if type(value) is not str or len(value) > 64:
        return False
    value = get("customer_id")
    if value is not None and not (type(value) is int and 0 <= value <= MAX_ID):
        return False
    value = get("parent_id")
    if value is not None and not (type(value) is int and 0 <= value <= MAX_ID):
        return False
    value = get("currency")
    if value is not None and (type(value) is not str or len(value) > 16):
        return False
    for name in ("total", "discount_total", "shipping_total", "total_tax", "cart_tax"):
        value = get(name)
        if not (value is None or (type(value) is str and value in ok) or _amount_ok(value)):
            return False
    billing = get("billing")
    if type(billing) is dict:
        value = billing.get("email")
        if value is not None and (type(value) is not str or len(value) > 320):
            return False
    elif billing is not None and billing != []:
        return False
    value = get("shipping")
    if value is not None and type(value) is not dict and value != []:
        return False
    if layout is None:
        layout = _layout(payload)
        if layout is None:
            return False
    for name in layout[1]:
        value = payload[name]
        if not (value is None or (type(value) is str and len(value) <= 40)):
            return False
    if not _meta_ok(get("meta_data")):
        return False
    lines = get("line_items")
    if lines is not None:
        if type(lines) is not list:
            return False
        for line in lines:
            if type(line) is not dict:
                return False
            lget = line.get
            value = lget("id")
            if not (type(value) is int and 0 < value <= MAX_ID):
                return False
            value = lget("product_id")
            if value is not None and not (type(value) is int and 0 <= value <= MAX_ID):
                return False
            value = lget("variation_id")
            if value is not None and not (type(value) is int and 0 <= value <= MAX_ID):
                return False
            value = lget("quantity")
            if value is not None and not (type(value) is int and 0 <= value <= max_quantity):
                return False
            value = lget("sku")
            if value is not None and (type(value) is not str or len(value) > MAX_TEXT):
                return False
            value = lget("name")
            if value is not None and (type(value) is not str or len(value) > MAX_TEXT):
                return False
            for name in ("total", "subtotal", "total_tax", "subtotal_tax", "price"):
                value = lget(name)
                if not (value is None or (type(value) is str and value in ok) or _amount_ok(value)):
                    return False
            if not _meta_ok(lget("meta_data")):
                return False
    refunds = get("refunds")
    if refunds is not None:
        if type(refunds) is not list:
            return False
        for refund in refunds:
            if type(refund) is not dict:
                return False
            value = refund.get("id")
            if not (type(value) is int and 0 < value <= MAX_ID):
                return False
            if not _amount_ok(refund.get("total")):
                return False
    for name in ("coupon_lines", "fee_lines", "shipping_lines", "tax_lines"):
        rows = get(name)
        if rows is None:
            continue
        if type(rows) is not list:
            return False
        for row in rows:
            if type(row) is not dict or not _amount_ok(row.get("total")):
                return False
    return True


# In JSON text a NUL is always written ``\u0000``; an escape that follows an even run of
# backslashes (each pair one literal backslash) is one.
_NUL_ESCAPE = re.compile(r"(?<!\\)(?:\\\\)*\\u0000")


def _json_text(value: Any) -> str | None:
    """The payload as JSON text (lone surrogates kept as they are), None if it has none."""
    try:
        return json.dumps(value, ensure_ascii=False, check_circular=False)
    except (TypeError, ValueError):
        return None


def _has_nul(value: Any, text: str | None = None) -> bool:
    """A NUL anywhere (keys included): PostgreSQL text cannot hold it.

    Searched in the payload's JSON text: the encoder is C, a walk of the tree in Python
    costs several times more for an order.
    """
    text = text if text is not None else _json_text(value)
    if text is None:
        return _walk_has_nul(value)
    return "\\u0000" in text and _NUL_ESCAPE.search(text) is not None


def _walk_has_nul(value: Any) -> bool:
    stack = [value]
    while stack:
        node = stack.pop()
        if isinstance(node, str):
            if "\x00" in node:
                return True
        elif isinstance(node, dict):
            stack.extend(node.keys())
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return False


def _is_int(value: Any) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def _shown(value: Any) -> str:
    """A short, safe picture of a value for a reason line (huge numbers are not printed)."""
    if _is_int(value):
        digits = len(str(abs(value))) if abs(value) < 10**50 else 51
        return repr(value) if digits <= 20 else f"a {digits}+ digit number"
    if isinstance(value, (dict, list)):
        return f"a JSON {'object' if isinstance(value, dict) else 'list'}"
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."
