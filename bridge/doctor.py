"""`bridge doctor`: one check per line, each with a pass/fail mark and the fix."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine

from bridge.db import DatabaseUnavailable, ping, schema_status
from bridge.settings import Settings, mask_url_password


def _check(name: str, ok: bool, detail: str, fix: str = "") -> dict[str, Any]:
    return {"check": name, "ok": ok, "detail": detail, "fix": fix}


def run_checks(settings: Settings, engine: Engine) -> list[dict[str, Any]]:
    """Settings, database, schema, catalogue file and, when configured, the shop's REST API."""
    checks = [_check("settings", True, "all variables valid")]
    db_shown = mask_url_password(settings.database_url)
    try:
        ping(engine)
        checks.append(_check("database", True, f"reachable at {db_shown}"))
        status = schema_status(engine)
        if status.up_to_date:
            checks.append(_check("schema", True, f"at revision {status.head}"))
        else:
            checks.append(_check("schema", False,
                                 f"at revision {status.current or 'none'}, needs {status.head}",
                                 "run `bridge db upgrade`"))
    except DatabaseUnavailable as exc:
        checks.append(_check("database", False, f"{db_shown}: {exc}",
                             "check DATABASE_URL and that the server is running"))
    if settings.catalog_file.is_file():
        checks.append(_check("catalogue", True, f"{settings.catalog_file} found"))
    else:
        checks.append(_check("catalogue", False, f"{settings.catalog_file} not found",
                             "set BRIDGE_CATALOG_FILE or copy catalog.example.toml"))
    if not settings.shop_configured:
        checks.append(_check("shop", True, "not configured: sync is off (set WOOCOMMERCE_URL "
                                           "and the consumer key and secret to turn it on)"))
    else:
        checks.extend(shop_checks(settings))
    return checks


def shop_checks(settings: Settings) -> list[dict[str, Any]]:
    """That the REST API answers and the key can read and write."""
    from bridge.woo import WooClient

    client = WooClient(settings)
    try:
        return [_check(row.name, row.ok, row.detail, row.fix) for row in client.check_access()]
    finally:
        client.close()
