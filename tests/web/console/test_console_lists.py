"""The console's lists scale: learners filtered, sorted, paged and exported as CSV with every
matching row (issue 33, deliver 2)."""

from __future__ import annotations

import csv
import io
import re

import pytest

from bridge.services.learners import (
    LEARNER_COLUMNS,
    LearnerQuery,
    LedgerQuery,
    list_learners,
    list_ledger,
)
from bridge.store.db import unit_of_work
from tests.support.console import ConsoleShop, log_in
from webhooks import create_app

pytestmark = pytest.mark.both_databases


@pytest.fixture
def client(shop: ConsoleShop):  # type: ignore[no-untyped-def]
    return create_app(shop.settings, shop.engine, handlers={}, background=False).test_client()


def emails(html: str) -> list[str]:
    return re.findall(r'data-label="e-mail"><a href="[^"]+">([^<]+)</a>', html)


def test_learners_filter_sort_page_and_export(client, shop: ConsoleShop) -> None:
    log_in(client)
    everyone = emails(client.get("/console/learners?sort=email&per_page=500").get_data(True))
    assert everyone == sorted(everyone) and len(everyone) == 6
    waiting = emails(client.get("/console/learners?waitlisted=on&sort=email").get_data(True))
    assert waiting == ["dan@example.com", "eve@example.com", "fay@example.com"]
    in_cohort = client.get("/console/learners?cohort=DV-2027-01").get_data(as_text=True)
    assert len(emails(in_cohort)) == 6
    page = client.get("/console/learners?sort=email&per_page=4&page=2").get_data(as_text=True)
    assert emails(page) == everyone[4:] and "rows 5–6 of 6" in page
    assert re.search(r"href=\"/console/learners\?[^\"]*format=csv", page)
    exported = client.get("/console/learners?sort=email&per_page=4&format=csv")
    rows = list(csv.DictReader(io.StringIO(exported.get_data(as_text=True).lstrip("\ufeff"))))
    assert list(rows[0]) == LEARNER_COLUMNS
    assert [row["email"] for row in rows] == everyone  # every row, not the page
    assert client.get("/console/learners?sort=shoe-size").status_code == 400
    with unit_of_work(shop.engine) as session:
        positive, total = list_learners(session, LearnerQuery(balance=True, sort="balance"))
    assert total == len(positive) and all(
        any(amount > 0 for amount in row["balances"].values()) for row in positive
    )


def test_the_outbox_pages_sorts_exports_and_groups_errors_by_cause(client, shop) -> None:
    """Every write-back in the CSV with the listing's columns; the dead row's error is grouped
    under its cause; a bad sort column is a 400."""
    log_in(client)
    html = client.get("/console/outbox?status=all&per_page=2&sort=id&order=desc").get_data(True)
    assert "Errors by cause" in html and "<code>403 woocommerce_rest_cannot_edit</code>" in html
    assert "page 1 of" in html
    exported = client.get("/console/outbox?status=all&format=csv")
    rows = list(csv.DictReader(io.StringIO(exported.get_data(as_text=True).lstrip("\ufeff"))))
    assert rows and list(rows[0])[:3] == ["id", "status", "resource"]
    total = re.search(r"of (\d+)</span>", html)
    assert total and len(rows) == int(total.group(1))
    assert client.get("/console/outbox?sort=payload").status_code == 400
    inbox = client.get("/console/inbox?format=csv")
    assert inbox.status_code == 200 and inbox.get_data(as_text=True).lstrip("\ufeff").startswith(
        "id,topic"
    )


def test_the_report_downloads_as_csv_with_the_clis_rows(client, shop) -> None:
    log_in(client)
    page = client.get("/console/report?since=2026-11-01&until=2026-12-01").get_data(True)
    assert "format=csv" in page
    exported = client.get("/console/report?since=2026-11-01&until=2026-12-01&format=csv")
    text = exported.get_data(as_text=True).lstrip("\ufeff")
    assert text.startswith("section,item,metric,value")
    assert "revenue" in text


def test_the_ledger_lists_every_learners_rows_with_who_made_manual_ones(client, shop) -> None:
    log_in(client)
    page = client.get("/console/ledger?per_page=5").get_data(as_text=True)
    assert "page 1 of" in page and "@example.com" in page
    exported = client.get("/console/ledger?format=csv&reason=grant")
    rows = list(csv.DictReader(io.StringIO(exported.get_data(as_text=True).lstrip("\ufeff"))))
    assert rows and {row["reason"] for row in rows} == {"grant"}
    assert list(rows[0])[:4] == ["id", "created_at", "learner_id", "email"]
    with unit_of_work(shop.engine) as session:
        _, total = list_ledger(session, LedgerQuery(reason="grant"), limit=0)
    assert len(rows) == total
    assert client.get("/console/ledger?learner=ann").status_code == 400
