"""`bridge doctor`: one check per line, each with a pass/fail mark and the fix."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from typing import Any

from sqlalchemy import Engine

from bridge.rules.words import plural
from bridge.settings import Settings, mask_url_password
from bridge.store.db import DatabaseUnavailable, ping, schema_status


def _check(name: str, ok: bool, detail: str, fix: str = "") -> dict[str, Any]:
    return {"check": name, "ok": ok, "detail": detail, "fix": fix}


def run_checks(
    settings: Settings,
    engine: Engine,
    *,
    around_shop: Callable[[str], AbstractContextManager[Any]] | None = None,
) -> list[dict[str, Any]]:
    """Settings, database, schema, catalogue file and, when configured, the shop's REST API.

    The shop checks can take seconds (an unreachable shop is retried); ``around_shop(text)``
    wraps them, so a terminal can show what is going on meanwhile.
    """
    checks = [_check("settings", True, "all variables valid")]
    db_shown = mask_url_password(settings.database.url)
    try:
        ping(engine)
        checks.append(_check("database", True, f"reachable at {db_shown}"))
        status = schema_status(engine)
        if status.up_to_date:
            checks.append(_check("schema", True, f"at revision {status.head}"))
            checks.append(_applied_check(settings, engine))
            checks.append(_unmapped_check(settings, engine))
        else:
            checks.append(
                _check(
                    "schema",
                    False,
                    f"at revision {status.current or 'none'}, needs {status.head}",
                    "run `bridge db upgrade`",
                )
            )
    except DatabaseUnavailable as exc:
        checks.append(
            _check(
                "database",
                False,
                f"{db_shown}: {exc}",
                "check DATABASE_URL and that the server is running",
            )
        )
    checks.append(_catalogue_check(settings))
    checks.extend(_team_pack_checks(settings))
    checks.extend(_credential_checks(settings))
    if not settings.shop.configured:
        checks.append(
            _check(
                "shop",
                True,
                "not configured: sync is off (set WOOCOMMERCE_URL "
                "and the consumer key and secret to turn it on)",
            )
        )
    else:
        around = around_shop or (lambda _text: nullcontext())
        with around(f"checking the shop's REST API at {settings.shop.url} (read and write)"):
            checks.extend(shop_checks(settings))
    return checks


def _unmapped_check(settings: Settings, engine: Engine) -> dict[str, Any]:
    """Paid order lines that sell no micro-SKU: money taken, nothing granted."""
    from bridge.rules.catalogue.catalog import Catalogue, CatalogueError
    from bridge.services.catalogue import load_catalogue, read_catalogue_file, unmapped_skus

    try:
        file = (
            read_catalogue_file(settings.catalogue.file)
            if settings.catalogue.file.is_file()
            else Catalogue()
        )
    except CatalogueError:
        file = Catalogue()  # the catalogue check says what is wrong with the file
    unmapped = unmapped_skus(engine, load_catalogue(engine, file))
    if not unmapped:
        return _check("order lines", True, "every paid order line sells a micro-SKU")
    shown = ", ".join(f"{u.sku or '(none)'} ({u.lines})" for u in unmapped[:5])
    return _check(
        "order lines",
        False,
        f"{plural(sum(u.lines for u in unmapped), 'paid order line')} selling no "
        f"micro-SKU: {shown}",
        "add the SKUs to the catalogue or list them under not_offers; `bridge catalog --check`",
    )


def _applied_check(settings: Settings, engine: Engine) -> dict[str, Any]:
    """The catalogue file against the catalogue in force (`bridge catalog apply`)."""
    from bridge.services.catalogue import file_status
    from bridge.store.db import unit_of_work

    with unit_of_work(engine) as session:
        status = file_status(session, settings.catalogue.file)
    if not status.applied:
        return _check(
            "catalogue applied",
            True,
            "nothing applied yet: the file is applied when first read (`bridge catalog apply`)",
        )
    if status.differs:
        when = f"{status.applied_at:%Y-%m-%d %H:%M} UTC" if status.applied_at else "?"
        return _check(
            "catalogue applied",
            False,
            f"{settings.catalogue.file} is missing; the catalogue applied {when} is in force"
            if status.missing
            else f"{settings.catalogue.file} differs from the catalogue applied {when} by "
            f"{status.applied_by or '?'}",
            "`bridge catalog apply --dry-run` shows what would change; `bridge catalog apply`",
        )
    when = f"{status.applied_at:%Y-%m-%d %H:%M} UTC" if status.applied_at else "?"
    return _check(
        "catalogue applied",
        True,
        f"{settings.catalogue.file} is the catalogue in force (applied {when} by "
        f"{status.applied_by or '?'})",
    )


def _catalogue_check(settings: Settings) -> dict[str, Any]:
    from bridge.rules.catalogue.catalog import CatalogueError
    from bridge.services.catalogue import read_catalogue_file

    path = settings.catalogue.file
    if not path.is_file():
        return _check(
            "catalogue",
            False,
            f"{path} not found",
            "run `bridge init` (it writes the example catalogue) or set BRIDGE_CATALOG_FILE",
        )
    try:
        catalogue = read_catalogue_file(path)
    except CatalogueError as exc:
        return _check("catalogue", False, str(exc), f"fix {path}; `bridge catalog --check`")
    if not catalogue.offers:
        return _check(
            "catalogue",
            False,
            f"{path} defines no offers, so no purchase would confer anything",
            f"describe your offers in {path} (`bridge init` "
            "writes the commented example when the file does not exist)",
        )
    return _check(
        "catalogue",
        True,
        f"{path}: {plural(len(catalogue.offers), 'micro-SKU')}, "
        f"{plural(len(catalogue.cohorts), 'cohort')}",
    )


def _team_pack_checks(settings: Settings) -> list[dict[str, Any]]:
    """With team packs in the catalogue, claim codes need the secret and links the public URL."""
    from bridge.rules.catalogue.catalog import CatalogueError
    from bridge.services.catalogue import read_catalogue_file

    try:
        catalogue = read_catalogue_file(settings.catalogue.file)
    except CatalogueError:
        return []  # the catalogue check says why
    packs = sorted(sku for sku, offer in catalogue.offers.items() if offer.claimable)
    if not packs:
        return []
    if not settings.claims.secret:
        return [
            _check(
                "team packs",
                False,
                f"{', '.join(packs)} need claim codes, and BRIDGE_CLAIM_SECRET is not set",
                "set BRIDGE_CLAIM_SECRET to a long random string (bridge init writes one)",
            )
        ]
    if not settings.web.public_url:
        return [
            _check(
                "team packs",
                False,
                f"{', '.join(packs)} send claim links in notes WooCommerce e-mails, and "
                "BRIDGE_PUBLIC_URL is not set: the links would not work (the notes wait)",
                "set BRIDGE_PUBLIC_URL to where people reach this service (https://...)",
            )
        ]
    where = settings.web.public_url
    return [_check("team packs", True, f"{', '.join(packs)}: claim links at {where}")]


def _credential_checks(settings: Settings) -> list[dict[str, Any]]:
    """With assessments or projects that certify competencies, credentials need a public URL
    and a signing key only its owner can read."""
    from pathlib import Path

    from bridge.rules.catalogue.catalog import CatalogueError
    from bridge.services.catalogue import read_catalogue_file
    from bridge.services.credentials import SigningKeyError, achievement_links, signing_key

    try:
        catalogue = read_catalogue_file(settings.catalogue.file)
    except CatalogueError:
        return []
    skus = sorted(achievement_links(catalogue, settings.web.public_url or "https://bridge.invalid"))
    if not skus:
        return []
    if not settings.web.public_url:
        return [
            _check(
                "credentials",
                False,
                f"{', '.join(skus)} issue credentials, published under BRIDGE_PUBLIC_URL, "
                "which is not set: none can be issued",
                "set BRIDGE_PUBLIC_URL to where people reach this service (https://...)",
            )
        ]
    if not settings.credentials.signing_key and not Path(settings.credentials.key_file).exists():
        return [
            _check(
                "credentials",
                True,
                f"{', '.join(skus)} issue credentials; the signing "
                f"key {settings.credentials.key_file} is generated on the first one",
            )
        ]
    try:
        key = signing_key(settings, create=False)
    except SigningKeyError as exc:
        return [
            _check(
                "credentials",
                False,
                str(exc),
                "chmod 600 the key file, or point BRIDGE_CREDENTIAL_KEY_FILE at the right one",
            )
        ]
    return [
        _check(
            "credentials",
            True,
            f"{', '.join(skus)} issue credentials at "
            f"{settings.web.public_url}/credentials, signed by key {key.thumbprint}",
        )
    ]


def shop_checks(settings: Settings) -> list[dict[str, Any]]:
    """That the REST API answers and the key can read and write."""
    from bridge.shop.client import WooClient

    client = WooClient(settings)
    try:
        return [_check(row.name, row.ok, row.detail, row.fix) for row in client.check_access()]
    finally:
        client.close()
