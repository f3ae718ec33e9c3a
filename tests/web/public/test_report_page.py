"""GET /report: the seeded shop's figures in server-rendered HTML, behind a read token (SQLite)."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from html.parser import HTMLParser

import pytest

from bridge.services.operations import revoke_token
from bridge.settings import Settings
from bridge.store.db import make_engine, unit_of_work
from tests.support.redemptions import make_token
from tests.support.report import seeded_database
from webhooks import create_app

OCTOBER = "/report?since=2026-10-01&until=2026-11-01"


class Sections(HTMLParser):
    """Each <section id=...>'s table rows (cell texts) and its whole text."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: dict[str, list[list[str]]] = {}
        self.texts: dict[str, str] = {}
        self._section: str | None = None
        self._row: list[str] | None = None
        self._cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "section":
            self._section = dict(attrs).get("id") or ""
            self.tables[self._section], self.texts[self._section] = [], ""
        elif tag == "tr":
            self._row = []
        elif tag in ("td", "th"):
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag == "section":
            self._section = None
        elif tag in ("td", "th") and self._row is not None and self._cell is not None:
            self._row.append("".join(self._cell).strip())
            self._cell = None
        elif tag == "tr" and self._row is not None and self._section is not None:
            self.tables[self._section].append(self._row)
            self._row = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)
        if self._section is not None:
            self.texts[self._section] += data


def sections(html: str) -> Sections:
    parser = Sections()
    parser.feed(html)
    return parser


@pytest.fixture(scope="module", params=["sqlite"])
def shop(request, tmp_path_factory):  # type: ignore[no-untyped-def]
    """The seeded shop, its app (report time zone Europe/Berlin) and a read and a write token."""
    with seeded_database(request, tmp_path_factory) as (url, engine):
        app = create_app(
            Settings().replace(
                database={"url": url},
                report={"timezone": "Europe/Berlin"},
            ),
            engine,
        )
        yield {
            "client": app.test_client(),
            "engine": engine,
            "read": make_token(engine, "phone", "read"),
            "write": make_token(engine, "booking-tool", "write"),
        }


def test_without_a_token_the_page_answers_401_and_says_how_to_send_one(shop):
    """No token, an unknown one or a malformed header: 401 with a readable HTML page."""
    client = shop["client"]
    response = client.get(OCTOBER)
    assert response.status_code == 401
    assert response.mimetype == "text/html"
    assert response.headers["WWW-Authenticate"] == 'Bearer realm="creator-bridge"'
    assert "?token=" in response.get_data(as_text=True)
    assert client.get(OCTOBER + "&token=cb_nope").status_code == 401
    assert client.get(OCTOBER, headers={"Authorization": "Basic eDp5"}).status_code == 401
    assert client.get(OCTOBER, headers={"Authorization": "Bearer cb_nope"}).status_code == 401


def test_a_read_token_opens_the_page_from_the_header_or_the_query(shop):
    """Scripts send Authorization: Bearer; a phone's bookmark carries ?token=."""
    client, token = shop["client"], shop["read"]
    assert client.get(OCTOBER, headers={"Authorization": f"Bearer {token}"}).status_code == 200
    assert client.get(f"{OCTOBER}&token={token}").status_code == 200


def test_a_write_token_opens_the_page_from_the_header_but_is_refused_in_an_address(shop):
    """A token in a URL ends up in history and logs, so only read tokens may travel there."""
    client, token = shop["client"], shop["write"]
    assert client.get(OCTOBER, headers={"Authorization": f"Bearer {token}"}).status_code == 200
    response = client.get(f"{OCTOBER}&token={token}")
    assert response.status_code == 403
    assert "--scope read" in response.get_data(as_text=True)


def test_a_revoked_token_no_longer_opens_the_page(shop):
    """Revoking a token closes the page to it at once."""
    token = make_token(shop["engine"], "old-phone", "read")
    with unit_of_work(shop["engine"]) as session:
        revoke_token(session, "old-phone")
        session.commit()
    assert shop["client"].get(f"{OCTOBER}&token={token}").status_code == 401


def test_the_page_shows_octobers_hand_checked_figures(shop):
    """Funnel, money, cohorts, mentor time, repeat, retention and outcomes, as computed by hand."""
    response = shop["client"].get(f"{OCTOBER}&token={shop['read']}")
    page = sections(response.get_data(as_text=True))
    assert page.tables["funnel"][1:] == [
        ["PREVIEW-DV (preview)", "3", "2", "66.7%", "6.5", "1", "50.0%", "3", "1", "100.0%", "7"],
        ["all previews", "3", "2", "66.7%", "6.5", "1", "50.0%", "3", "1", "100.0%", "7"],
        ["COHORT-DV-2027-01 (direct)", "-", "1", "-", "-", "1", "100.0%", "2", "0", "0.0%", "-"],
        ["all direct buyers", "-", "1", "-", "-", "1", "100.0%", "2", "0", "0.0%", "-"],
    ]
    assert page.tables["revenue"][1:] == [
        ["COHORT-DV-2027-01", "EUR", "1", "1", "300.00", "0.00", "300.00"],
        ["MENTOR-1H", "EUR", "4", "5", "250.00", "50.00", "200.00"],
        ["PREVIEW-DV", "EUR", "3", "3", "0.00", "0.00", "0.00"],
        ["PROJ-DATAVIZ", "EUR", "1", "1", "120.00", "0.00", "120.00"],
        ["(all)", "EUR", "9", "10", "670.00", "50.00", "620.00"],
    ]
    assert page.tables["cohorts"][1:] == [
        ["WEB-2026-09", "2026-09-01", "1", "1", "100.0%", "1"],
        ["DV-2027-01", "2027-01-11", "1", "3", "33.3%", "0"],  # Jan 10 23:00 UTC is Jan 11 here
    ]
    assert page.tables["mentor-time"][1:] == [
        ["Oct 2026", "480", "60", "60", "0"],
        ["(all)", "480", "60", "60", "0"],
        ["outstanding at 2026-11-01", "credits", "learners"],
        ["mentor_minutes", "480", "6"],
    ]
    assert "60.0% 3 of 5 buyers bought again" in " ".join(page.texts["repeat"].split())
    assert page.tables["retention"][1:] == [["Oct 2026", "2", "2", "1", "50.0%"]]
    assert page.tables["outcomes"] == [
        ["project SKU", "started", "submitted", "rate"],
        ["PROJ-DATAVIZ", "2", "1", "50.0%"],
        ["(all)", "2", "1", "50.0%"],
        ["figure", "value"],
        ["projects submitted vs started", "50.0%"],
        ["graduates", "3"],
        ["interviews per 100 graduates", "66.7"],
        ["interviews", "2"],
        ["placed graduates", "33.3%"],
    ]


def test_an_empty_period_says_no_data_where_there_is_nothing_to_show(shop):
    """January 2025 has no entries, money, events or rates: each says "no data"."""
    response = shop["client"].get(f"/report?since=2025-01-01&until=2025-02-01&token={shop['read']}")
    page = sections(response.get_data(as_text=True))
    assert "no data" in page.texts["funnel"]
    assert "no data" in page.texts["revenue"]
    assert "no data" in page.texts["repeat"]
    assert dict(row for row in page.tables["outcomes"] if len(row) == 2) == {
        "figure": "value",
        "projects submitted vs started": "no data",
        "graduates": "0",
        "interviews per 100 graduates": "no data",
        "interviews": "no data",
        "placed graduates": "no data",
    }


def test_the_page_is_self_contained_and_made_for_a_phone(shop):
    """Viewport meta, the console's stylesheet, inline SVG charts, no script or other site's
    asset, no caching."""
    response = shop["client"].get(f"{OCTOBER}&token={shop['read']}")
    html = response.get_data(as_text=True)
    assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in html
    assert "<script" not in html
    links = re.findall(r'(?:src|href)="(?!#)([^"]*)"|url\(', html)
    assert links == ["/assets/console.css", "/console/"]
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["Referrer-Policy"] == "no-referrer"
    assert "default-src 'none'" in response.headers["Content-Security-Policy"]
    charts = re.findall(r"<svg.*?</svg>", html, flags=re.S)
    assert len(charts) == 2
    labels = [ET.fromstring(chart).get("aria-label") for chart in charts]  # noqa: S314
    assert labels == [
        "Funnel of learners entering by preview",
        "Mentor minutes granted and redeemed by month",
    ]
    assert "<title>Oct 2026: 480 minutes granted</title>" in charts[1]
    assert "<title>Paid micro-offer: 2 (66.7%)</title>" in charts[0]


def test_the_period_form_carries_a_query_token_but_never_a_header_token(shop):
    """A phone keeps its token when changing the period; a header token is not put in the page."""
    client = shop["client"]
    by_query = client.get(f"{OCTOBER}&token={shop['read']}").get_data(as_text=True)
    assert f'name="token" value="{shop["read"]}"' in by_query
    by_header = client.get(OCTOBER, headers={"Authorization": f"Bearer {shop['write']}"})
    assert shop["write"] not in by_header.get_data(as_text=True)


def test_a_malformed_date_or_zone_is_a_400_naming_the_parameter(shop):
    """since=2026-10-32 and tz=Nowhere each answer 400 with the parameter named."""
    client, token = shop["client"], shop["read"]
    response = client.get(f"/report?since=2026-10-32&token={token}")
    assert response.status_code == 400
    assert "since: &#39;2026-10-32&#39; is not a date" in response.get_data(as_text=True)
    response = client.get(f"/report?tz=Nowhere&token={token}")
    assert response.status_code == 400
    assert "tz: &#39;Nowhere&#39; is not a time zone" in response.get_data(as_text=True)


def test_a_database_failure_is_a_503_page_not_a_traceback(tmp_path):
    """Without its tables the page answers 503 in HTML, saying to try again."""
    url = f"sqlite:///{tmp_path / 'empty.db'}"
    engine = make_engine(url)
    try:
        app = create_app(Settings().replace(database={"url": url}), engine, handlers={})
        response = app.test_client().get(f"{OCTOBER}&token=cb_any")
    finally:
        engine.dispose()
    assert (response.status_code, response.mimetype) == (503, "text/html")
    assert "the database is unavailable" in response.get_data(as_text=True)


def test_empty_rows_are_hidden_and_the_charts_fill_the_width_with_a_labelled_axis(shop):
    """A year with one busy month shows that month alone, no all-zero order-level row, a
    full-width chart with several y labels, and funnel labels at the page's text size."""
    response = shop["client"].get(f"/report?since=2026-01-01&until=2027-01-01&token={shop['read']}")
    html = response.get_data(as_text=True)
    page = sections(html)
    months = [row[0] for row in page.tables["mentor-time"][1:] if row[0].endswith("2026")]
    assert 0 < len(months) < 12
    assert all(
        any(cell not in ("0", "") for cell in row[1:])
        for row in page.tables["mentor-time"][1:]
        if row[0] in months
    )
    assert not [
        row
        for row in page.tables["revenue"]
        if row[0] == "(order-level)" and all(cell in ("0", "0.00") for cell in row[2:])
    ]
    assert not [row for row in page.tables["retention"][1:] if row[1:4] == ["0", "0", "0"]]
    funnel, mentor = re.findall(r"<svg.*?</svg>", html, flags=re.S)
    assert 'viewBox="0 0 640 ' in funnel and 'viewBox="0 0 640 ' in mentor
    assert len(re.findall(r'class="axis">[\d.]+k?</text>', mentor)) >= 3
    with shop["client"].get("/assets/console.css") as sheet:  # the console's look
        css = sheet.get_data(as_text=True)
    assert ".report svg{width:100%;height:auto;display:block" in css  # the mentor chart: full width
    assert "@media (max-width:600px){.report svg text" in css
