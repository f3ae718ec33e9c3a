"""The console's inbox: a dead delivery shown with its error and processed again on retry."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Engine

from bridge.services.inbox import one_at_a_time
from bridge.store.db import unit_of_work
from bridge.store.models import InboxDelivery
from tests.support.console import (
    csrf_of,
    log_in,
    seed_console_shop,
)
from webhooks import create_app

pytestmark = pytest.mark.both_databases


def test_retrying_a_dead_delivery_processes_it_again_after_the_answer(
    engine: Engine, database_url: str, tmp_path: Path
) -> None:
    """The retry resets its attempts and runs its handler; a failure is written on the row."""
    shop = seed_console_shop(engine, database_url, tmp_path)
    seen: list[object] = []

    def refuse(payload: object) -> str:
        seen.append(payload)
        raise ValueError("still not an order")

    app = create_app(
        shop.settings, engine, handlers={"order": one_at_a_time(refuse)}, background=False
    )
    client = app.test_client()
    log_in(client)
    page = client.get(f"/console/inbox/{shop.dead_inbox_id}").get_data(as_text=True)
    assert "OrderPayloadError: order 999 has no status" in page
    response = client.post(
        f"/console/inbox/{shop.dead_inbox_id}/retry", data={"csrf_token": csrf_of(page)}
    )
    assert response.status_code == 302
    response.close()
    assert seen == [{"id": 999}]
    with unit_of_work(engine) as session:
        row = session.get(InboxDelivery, shop.dead_inbox_id)
        assert row is not None and (row.status, row.attempts) == ("failed", 1)
        assert row.last_error == "ValueError: still not an order"
    again = client.post(
        f"/console/inbox/{shop.dead_inbox_id}/retry", data={"csrf_token": csrf_of(page)}
    )
    assert again.status_code == 302  # a failed delivery may be retried too
