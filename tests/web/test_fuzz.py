"""Fuzzing the receiver, the API and the pages: no 5xx, no unsigned row, no traceback logged."""

from __future__ import annotations

import logging
import time
from collections import Counter

import pytest
from sqlmodel import select

from bench.fuzz_cases import RECEIVER, cases
from bridge.rules.inbound.signatures import verify
from bridge.services.operations import create_token
from bridge.services.orders import build_handlers
from bridge.store.db import unit_of_work
from bridge.store.models import InboxDelivery
from tests.support.sample_shop import sample_catalogue, store_cohorts
from tests.support.web import ClosingClient
from webhooks import create_app

SECRET = "whsec-wcreal-test"
COUNT = 400
# Bounded in time as well as in count: a slow machine runs fewer cases, never a longer test.
BUDGET_SECONDS = 20


@pytest.fixture
def app(engine, settings):
    catalogue = sample_catalogue()
    store_cohorts(engine, catalogue)
    handlers = build_handlers(engine, settings, catalogue=lambda: catalogue, shop=lambda: None)
    app = create_app(
        settings.replace(shop={"url": None}), engine, handlers=handlers, background=False
    )
    app.test_client_class = ClosingClient
    return app


@pytest.mark.parametrize("seed", [1717])
def test_fuzzed_requests_never_answer_5xx_store_unsigned_rows_or_log_tracebacks(
    app, engine, caplog, seed
):
    """Hundreds of hostile requests: every answer is below 500, every stored row was signed."""
    with unit_of_work(engine) as session:
        _, token = create_token(session, "fuzz", "write")
        session.commit()
    client = app.test_client()
    caplog.set_level(logging.INFO)
    answers: Counter[tuple[str, int]] = Counter()
    poisoned_answers: Counter[str] = Counter()
    started = time.monotonic()
    for case in cases(seed, COUNT, secret=SECRET, token=token):
        if time.monotonic() - started > BUDGET_SECONDS:
            break
        response = client.open(case.path, method=case.method, headers=case.headers, data=case.body)
        answers[(case.kind, response.status_code)] += 1
        assert response.status_code < 500, (case.kind, case.path, response.get_data()[:300])
        assert (
            response.is_json
            or response.status_code < 300
            or case.path == "/report"
            or case.path.startswith("/report?")
        ), (case.kind, response.status_code)
        if case.poisoned:
            body = response.get_json(silent=True) or {}
            poisoned_answers[str(body.get("status", response.status_code))] += 1
    assert sum(answers.values()) >= 100, "the machine was too slow to run a meaningful sample"
    assert set(poisoned_answers) <= {"rejected", "duplicate", "400", "413"}, poisoned_answers
    with unit_of_work(engine) as session:
        stored = session.exec(select(InboxDelivery)).all()
    assert stored, "no delivery was stored"
    for row in stored:
        headers = {name.lower(): value for name, value in (row.headers or {}).items()}
        assert verify(row.body or b"", SECRET, headers.get("x-wc-webhook-signature"))
        assert row.status in ("processed", "ignored", "rejected"), (row.status, row.last_error)
    tracebacks = [r for r in caplog.records if r.exc_info or "Traceback" in r.getMessage()]
    assert tracebacks == [], tracebacks[0].getMessage() if tracebacks else ""
    assert any(kind == "valid order" and code == 200 for kind, code in answers)
    assert client.post(RECEIVER, data=b"webhook_id=7").status_code == 200
