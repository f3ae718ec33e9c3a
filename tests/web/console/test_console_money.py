"""The console's home shows the business: its month figures are `bridge report --json`'s for the
same month, its chart has axes, dates and words for screen readers."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from click.testing import CliRunner

from bridge.cli.main import main
from bridge.rules.report.bar_chart import bar_chart, nice_step
from bridge.services.reporting import business_home
from tests.support.console import ConsoleShop, log_in
from webhooks import create_app

pytestmark = pytest.mark.both_databases

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)


def test_the_home_page_money_equals_the_report_for_the_month(shop: ConsoleShop) -> None:
    app = create_app(shop.settings, shop.engine, handlers={}, background=False, clock=lambda: NOW)
    client = app.test_client()
    log_in(client)
    html = client.get("/console/").get_data(as_text=True)
    report = CliRunner().invoke(
        main,
        [
            "--env-file",
            "/dev/null",
            "report",
            "--since",
            "2026-11-01",
            "--until",
            "2026-11-29",
            "--json",
        ],
        env={"DATABASE_URL": shop.settings.database.url},
    )
    assert report.exit_code == 0, report.output
    totals = {row["currency"]: row["net"] for row in json.loads(report.output)["revenue_totals"]}
    assert totals, "the seeded shop sold something in November"
    money = business_home(shop.engine, shop.settings, NOW)
    assert money["revenue_this_month"] == totals
    assert money["revenue_last_month"] == {}  # nothing sold in October
    for currency, net in totals.items():
        card = html[html.index('data-figure="revenue_this_month"') :]
        assert f'<span class="figure">{net}</span> {currency}' in card[:600]
    # The chart: a title and a description naming every month with its value.
    assert re.search(r'<svg viewBox="0 0 640 220" role="img" aria-labelledby="revenue-title', html)
    assert "Nov 2026: " in html and "Jun 2026: 0" in html
    assert 'class="axis">0' in html
    by_sku = {row["sku"]: row["net"] for row in money["revenue_by_sku"]}
    assert sum(Decimal(v) for v in by_sku.values()) == sum(Decimal(v) for v in totals.values())
    assert [c["code"] for c in money["cohorts"]] == ["DV-2027-01"]  # it starts in 2027
    assert money["funnel"]["steps"][1]["step"] == "paid"


def test_bar_chart_ticks_are_round_and_cover_the_tallest_bar() -> None:
    assert nice_step(390) == 100 and nice_step(10) == 5 and nice_step(3) == 1
    chart = bar_chart(
        "x", [("Oct 2026", Decimal("0")), ("Nov 2026", Decimal("1170.5"))], unit=" EUR"
    )
    assert [t.label for t in chart.ticks] == ["0", "500", "1,000", "1,500"]
    assert chart.description == "Oct 2026: 0 EUR; Nov 2026: 1,170.5 EUR"
    assert chart.bars[1].y >= 12 and chart.bars[0].height == 0
