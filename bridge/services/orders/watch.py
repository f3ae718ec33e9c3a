"""When the bridge started watching the shop: what happened before is history, told nobody.

Customers hear (order notes, which WooCommerce e-mails; personal coupons) only of changes after
that moment. It is recorded once, by ``bridge init`` or the first sync or delivery, and never
moves by itself; BRIDGE_NOTIFY_SINCE moves it on purpose.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Engine
from sqlmodel import Session

from bridge.settings import Settings
from bridge.store.bulk import insert_ignore
from bridge.store.db import unit_of_work
from bridge.store.models import WatchState, utcnow

WATCH_KEY = "shop"


def start_watching(session: Session, now: datetime, source: str) -> WatchState:
    """The recorded watch start, recorded now if there is none yet (insert or nothing)."""
    state = session.get(WatchState, WATCH_KEY)
    if state is None:
        insert_ignore(
            session,
            WatchState,
            {"key": WATCH_KEY, "since": now, "source": source, "created_at": utcnow()},
            ["key"],
        )
        state = session.get(WatchState, WATCH_KEY)
    assert state is not None
    return state


def record_watch_start(engine: Engine, now: datetime, source: str) -> datetime:
    """Record the watch start if there is none yet (commits); returns the one in force."""
    with unit_of_work(engine) as session:
        since = start_watching(session, now, source).since
        session.commit()
    return since


def watch_since(
    session: Session,
    settings: Settings,
    now: datetime | None = None,
    source: str = "first delivery",
) -> datetime:
    """From when customers hear of changes: BRIDGE_NOTIFY_SINCE, else the recorded start."""
    if settings.writeback.notify_since is not None:
        return settings.writeback.notify_since
    return start_watching(session, now or utcnow(), source).since


def is_news(changed_at: datetime | None, since: datetime) -> bool:
    """A change at ``changed_at`` happened while the bridge watched (no date: it is now)."""
    return changed_at is None or changed_at >= since
