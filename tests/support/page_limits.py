"""The service as `bridge serve` runs it (webhooks.server: one gunicorn process, 4 threads), with
a report that holds its read transaction open for a while: a long report, made long on purpose.

    python -m tests.support.page_limits DATABASE_URL PORT HOLD_SECONDS

The webhook secret is SECRET; web processes only store deliveries (BRIDGE_INBOX_WORKER), so
what is measured is the acknowledgement, as WooCommerce waits for it.
"""

from __future__ import annotations

import sys
import time

from sqlmodel import Session

from bridge.rules.report.rows import ReportRows
from bridge.services.reporting import report
from bridge.settings import Settings
from bridge.store.db import make_engine
from webhooks import create_app
from webhooks.server import run_server

SECRET = "whsec-page-limits-test"
PAGE_CONCURRENCY = 2
THREADS = 4


def main(argv: list[str]) -> None:
    database_url, port, hold = argv[0], int(argv[1]), float(argv[2])
    original = report.load_rows

    def held(session: Session, end: object) -> ReportRows:
        rows = original(session, end)  # type: ignore[arg-type]
        time.sleep(hold)  # inside the report's transaction: its read snapshot stays open
        return rows

    report.load_rows = held  # type: ignore[assignment]
    settings = Settings().replace(
        database={"url": database_url},
        shop={"webhook_secret": SECRET},
        inbox={"worker": True},
        web={"page_concurrency": PAGE_CONCURRENCY},
    )
    app = create_app(settings, make_engine(database_url))
    run_server(app, host="127.0.0.1", port=port, threads=THREADS)


if __name__ == "__main__":
    main(sys.argv[1:])
