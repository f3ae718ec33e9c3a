"""Write-back rules (pure): order-note wording, personal coupon arithmetic, upsell links.

Plain data in, plain data out; bridge.services.writeback reads the database and the files and
queues what these rules decide.
"""

from __future__ import annotations

import logging
import re
import string
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from bridge.errors import PermanentError
from bridge.rules.catalogue.catalog import Catalogue
from bridge.rules.words import singular_of

# Ledger events (plus the personal coupon offer and an issued credential) that write-back words
# as order notes.
NOTE_EVENTS = (
    "credit_granted",
    "credit_reversed",
    "seat_active",
    "seat_waitlisted",
    "seat_promoted",
    "seat_released",
    "seat_moved",
    "seat_removed",
    "access_granted",
    "access_revoked",
    "coupon_offered",
    "claim_links",
    "credential_issued",
)


log = logging.getLogger(__name__)
_PRICE_WARNED: set[str] = set()  # stacks whose unknown price was already logged as a warning

CENT = Decimal("0.01")


class NoteTemplateError(PermanentError):
    """The order-note templates file cannot be used: which file, which key, why."""


PLACEHOLDERS: Mapping[str, frozenset[str]] = {
    **dict.fromkeys(
        ("credit_granted", "credit_reversed"),
        frozenset({"amount", "credit", "offer", "sku", "units", "order"}),
    ),
    **dict.fromkeys(
        (
            "seat_active",
            "seat_waitlisted",
            "seat_promoted",
            "seat_released",
            "seat_moved",
            "seat_removed",
        ),
        frozenset({"cohort", "cohort_title", "starts", "position", "order"}),
    ),
    **dict.fromkeys(
        ("access_granted", "access_revoked"),
        frozenset({"kind", "offer", "sku", "units", "ends", "order"}),
    ),
    "coupon_offered": frozenset({"code", "discount", "offer", "expires", "title", "order"}),
    "claim_links": frozenset({"places", "offer", "sku", "links", "order"}),
    "credential_issued": frozenset({"achievement", "offer", "sku", "url", "order"}),
}
assert set(PLACEHOLDERS) == set(NOTE_EVENTS)


@dataclass(frozen=True)
class NoteTemplates:
    """Wording of the order notes, one text per event kind, plus the labels that fill them."""

    notes: Mapping[str, str]
    labels: Mapping[str, str] = field(default_factory=dict)

    def label(self, name: str) -> str:
        return self.labels.get(name) or name.replace("_", " ")

    def credit_label(self, credit_type: str, amount: int) -> str:
        """The credit type's words after ``amount``: "1 portfolio review", "2 portfolio reviews".

        The singular is the ``<type>_one`` label when the templates give one.
        """
        label = self.label(credit_type)
        if abs(amount) != 1:
            return label
        return self.labels.get(f"{credit_type}_one") or singular_of(label)

    def render(self, kind: str, context: Mapping[str, Any]) -> str:
        """The note for one event; empty when the creator turned that note off."""
        text = self.notes.get(kind, "")
        if not text:
            return ""
        values = {
            name: "" if context.get(name) is None else str(context[name])
            for name in PLACEHOLDERS[kind]
        }
        return " ".join(text.format_map(values).split())


def parse_note_templates(
    text: str, source: str, base: NoteTemplates | None = None
) -> NoteTemplates:
    """Read a templates TOML text over ``base``, rejecting unknown keys and placeholders."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise NoteTemplateError(f"{source}: not valid TOML: {exc}") from None
    unknown = sorted(set(data) - {"notes", "labels"})
    if unknown:
        raise NoteTemplateError(f"{source}: unknown table {unknown[0]!r} (expected notes, labels)")
    notes = dict(base.notes) if base else {}
    labels = dict(base.labels) if base else {}
    for kind, value in (data.get("notes") or {}).items():
        where = f"{source}: notes.{kind}"
        if kind not in PLACEHOLDERS:
            raise NoteTemplateError(f"{where}: unknown event (known: {', '.join(NOTE_EVENTS)})")
        if not isinstance(value, str):
            raise NoteTemplateError(f"{where}: must be a string")
        _check_placeholders(where, value, PLACEHOLDERS[kind])
        notes[kind] = value
    for name, value in (data.get("labels") or {}).items():
        if not isinstance(value, str):
            raise NoteTemplateError(f"{source}: labels.{name}: must be a string")
        labels[name] = value
    return NoteTemplates(notes=notes, labels=labels)


def _check_placeholders(where: str, text: str, allowed: frozenset[str]) -> None:
    try:
        fields = [name for _, name, _, _ in string.Formatter().parse(text) if name is not None]
    except ValueError as exc:
        hint = "write {{ and }} for literal braces"
        raise NoteTemplateError(f"{where}: {exc} ({hint})") from None
    for name in fields:
        if name not in allowed:
            raise NoteTemplateError(
                f"{where}: unknown placeholder {{{name}}} (this note knows "
                + ", ".join(f"{{{known}}}" for known in sorted(allowed))
                + ")"
            )
    try:
        text.format_map(dict.fromkeys(allowed, "x"))
    except (ValueError, IndexError) as exc:
        raise NoteTemplateError(f"{where}: {exc}") from None


@dataclass(frozen=True)
class CouponOffer:
    """A personal coupon the rules say a learner should get now."""

    rule: str  # "stack:<name>" or "coupon:<name>": one coupon per learner and rule, ever
    title: str
    discount_type: str
    amount: Decimal
    offer_skus: tuple[str, ...]  # what the coupon discounts
    expires_days: int


def stack_remainder_discount(
    course_price: Decimal, paid: Mapping[str, Decimal], missing_prices: Mapping[str, Decimal]
) -> Decimal:
    """The discount that makes the rest of a stack cost the course price less what was paid.

    With offers at 149, 390 and 49 and a course price of 490, a learner who paid 149 has 341
    left to pay; the two missing offers list at 439, so the coupon takes 98 off. Never negative.
    """
    remainder = max(Decimal(0), course_price - sum(paid.values(), Decimal(0)))
    rest = sum(missing_prices.values(), Decimal(0))
    return max(Decimal(0), rest - remainder).quantize(CENT, rounding=ROUND_HALF_UP)


def personal_coupon_offers(
    catalogue: Catalogue,
    held: Iterable[str],
    paid: Mapping[str, Decimal],
    list_prices: Mapping[str, Decimal],
    taken: Iterable[str] = (),
    *,
    free_counts: bool = False,
) -> list[CouponOffer]:
    """The coupons a learner holding ``held`` SKUs should get, leaving out rules in ``taken``.

    A stack the learner holds some (not all) offers of gets a fixed-cart coupon for the rest;
    a held offer's price is what was paid for it (``paid``), else its list price. A
    ``first_paid_offer`` rule applies once the learner paid money (a line above zero) for an
    offer other than its own and does not hold that one: a €0 free preview earns nothing.
    """
    held = set(held)
    taken = set(taken)
    found: list[CouponOffer] = []
    if not held:
        return found
    for stack in catalogue.stacks:
        rule = f"stack:{stack.name}"
        have = [sku for sku in stack.skus if sku in held]
        missing = [sku for sku in stack.skus if sku not in held]
        if rule in taken or not have or not missing:
            continue
        prices = {sku: paid.get(sku, list_prices.get(sku)) for sku in have}
        if any(price is None for price in prices.values()) or any(
            sku not in list_prices for sku in missing
        ):
            # Said once per stack and process: a sync would otherwise warn once per order.
            level = logging.DEBUG if stack.name in _PRICE_WARNED else logging.WARNING
            _PRICE_WARNED.add(stack.name)
            log.log(
                level,
                "stack coupon skipped: a price is unknown (run `bridge catalog sync`)",
                extra={"stack": stack.name},
            )
            continue
        amount = stack_remainder_discount(
            stack.course_price,
            {sku: price for sku, price in prices.items() if price is not None},
            {sku: list_prices[sku] for sku in missing},
        )
        if amount > 0:
            found.append(
                CouponOffer(
                    rule,
                    stack.title or stack.name,
                    "fixed_cart",
                    amount,
                    tuple(missing),
                    stack.coupon_expires_days,
                )
            )
    for coupon in catalogue.coupon_rules:
        rule = f"coupon:{coupon.name}"
        if rule in taken or coupon.offer in held or coupon.when != "first_paid_offer":
            continue
        if not any(price > 0 or free_counts for sku, price in paid.items() if sku != coupon.offer):
            continue
        found.append(
            CouponOffer(
                rule,
                coupon.name,
                coupon.discount_type,
                coupon.amount,
                (coupon.offer,),
                coupon.expires_days,
            )
        )
    return found


def upsell_links(
    catalogue: Catalogue, family: Mapping[int, int]
) -> dict[int, dict[str, list[int]]]:
    """Product id -> its ``upsell_ids`` and ``cross_sell_ids`` from the catalogue's stacks.

    Each product selling an offer of a stack points its upsells at the stack's ``upsells``
    (by default the subscription offers) and its cross-sells at the stack's other offers.
    ``family`` maps a variation id to its product id (upsells live on products).
    """

    def products(sku: str) -> set[int]:
        return {family.get(woo_id, woo_id) for woo_id in catalogue.woo_ids_for(sku)}

    subscriptions = tuple(
        sku for sku, offer in catalogue.offers.items() if offer.kind == "subscription"
    )
    links: dict[int, dict[str, set[int]]] = {}
    for stack in catalogue.stacks:
        up = {p for sku in (stack.upsells or subscriptions) for p in products(sku)}
        for sku in stack.skus:
            cross = {p for other in stack.skus if other != sku for p in products(other)}
            for product in products(sku):
                entry = links.setdefault(product, {"upsell_ids": set(), "cross_sell_ids": set()})
                entry["upsell_ids"] |= up - {product}
                entry["cross_sell_ids"] |= cross - {product}
    return {
        product: {name: sorted(ids) for name, ids in entry.items()}
        for product, entry in sorted(links.items())
    }


def discount_text(discount_type: str, amount: Decimal, currency: str = "") -> str:
    """How a coupon's discount reads in a note: ``20%`` or ``98.00 EUR``."""
    if discount_type == "percent":
        text = f"{amount:f}"
        return (text.rstrip("0").rstrip(".") if "." in text else text) + "%"
    return f"{amount.quantize(CENT):f}" + (f" {currency}" if currency else "")


# The service's own pages a note may link to; without BRIDGE_PUBLIC_URL their links are bare
# paths, which no e-mail client can open.
LINKED_PAGES = ("/claims/", "/me/", "/credentials/", "/pathways/")
_BARE_LINK = re.compile(
    r"(?<![\w/.:])(?:"
    + "|".join(re.escape(p) for p in LINKED_PAGES)
    + r")[\w~%-]+(?:\.[\w~%-]+)*"  # a sentence's full stop is not part of it
)


def bare_links(text: str) -> list[str]:
    """The links of a note's text that are bare paths to the service's pages, in order."""
    return list(dict.fromkeys(_BARE_LINK.findall(text)))


def with_public_url(text: str, links: Iterable[str], public_url: str) -> str:
    """The text with each of ``links`` (bare paths) made absolute under ``public_url``."""
    root = public_url.rstrip("/")
    wanted = set(links)

    def absolute(match: re.Match[str]) -> str:
        path = match.group(0)
        return f"{root}{path}" if path in wanted else path

    return _BARE_LINK.sub(absolute, text)
