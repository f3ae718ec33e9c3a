"""The operational endpoints: /healthz says how things look, /readyz gates traffic on the schema."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Engine

from bridge.settings import Settings
from bridge.store.db import SchemaOutdated, head_revision, make_engine
from webhooks import create_app


def test_healthz_reports_the_database_the_schema_and_a_shop_that_is_not_configured(
    engine: Engine, database_url: str
) -> None:
    """Without a shop, /healthz answers 200 with the database ok, the schema version, sync off."""
    app = create_app(Settings().replace(database={"url": database_url}), engine)
    response = app.test_client().get("/healthz")
    assert response.status_code == 200
    assert response.is_json
    body = response.get_json()
    assert body["status"] == "ok"
    assert body["database"] == "ok"
    assert body["schema"] == {
        "current": head_revision(),
        "head": head_revision(),
        "up_to_date": True,
    }
    assert body["shop"] == "not configured"
    assert body["sync"] == "off"


def test_healthz_reports_sync_on_when_a_shop_is_configured(
    engine: Engine, settings: Settings
) -> None:
    """With the shop URL and keys set, /healthz says the shop is configured and sync is on."""
    body = create_app(settings, engine).test_client().get("/healthz").get_json()
    assert body["shop"] == "configured"
    assert body["sync"] == "on"


def test_readyz_is_ready_on_a_migrated_database(engine: Engine, database_url: str) -> None:
    """/readyz answers 200 when the database answers and its schema is current."""
    app = create_app(Settings().replace(database={"url": database_url}), engine)
    response = app.test_client().get("/readyz")
    assert response.status_code == 200
    assert response.get_json()["status"] == "ready"


def test_readyz_is_not_ready_on_an_empty_database(tmp_path: Path) -> None:
    """/readyz answers 503 while the schema is missing, so no traffic reaches the receiver."""
    url = f"sqlite:///{tmp_path / 'empty.db'}"
    engine = make_engine(url)
    try:
        response = (
            create_app(
                Settings().replace(
                    database={"url": url},
                ),
                engine,
            )
            .test_client()
            .get("/readyz")
        )
    finally:
        engine.dispose()
    assert response.status_code == 503
    body = response.get_json()
    assert body["status"] == "not ready"
    assert body["schema"]["current"] is None


def test_healthz_still_answers_when_the_database_is_unreachable(tmp_path: Path) -> None:
    """Liveness does not depend on the database: /healthz is 200 and says it is unavailable."""
    url = f"sqlite:///{tmp_path / 'missing-folder' / 'bridge.db'}"
    engine = make_engine(url)
    try:
        app = create_app(Settings().replace(database={"url": url}), engine)
        health = app.test_client().get("/healthz")
        ready = app.test_client().get("/readyz")
    finally:
        engine.dispose()
    assert health.status_code == 200
    assert health.get_json()["database"] == "unavailable"
    assert ready.status_code == 503


def test_the_app_built_from_settings_refuses_an_outdated_schema(tmp_path, monkeypatch):
    """gunicorn's create_app() on an un-migrated database stops, naming bridge db upgrade."""
    for var in ("DATABASE_URL", "WOOCOMMERCE_URL"):
        monkeypatch.delenv(var, raising=False)
    settings = Settings().replace(database={"url": f"sqlite:///{tmp_path / 'empty.db'}"})
    with pytest.raises(SchemaOutdated, match="bridge db upgrade"):
        create_app(settings)
