"""The learner's personal page link as `bridge learner` shows it, and `--new-link`."""

from __future__ import annotations

from typing import Any

import click
from sqlmodel import Session

from bridge.services.learner_links import page_link, rotate_page_link
from bridge.settings import Settings

NOT_CONFIGURED = (
    "BRIDGE_CLAIM_SECRET is not set: learners' page links are derived from it "
    "(bridge init writes one; keep it with your backups)"
)


def page_link_record(
    session: Session, learner_id: int, settings: Settings, *, new: bool, by: str = "bridge learner"
) -> dict[str, Any]:
    """``page_url`` (None without BRIDGE_CLAIM_SECRET) and when the page was last opened.

    A learner without a link gets one; ``new`` replaces theirs (the old address stops working).
    """
    secret, public_url = settings.claims.secret, settings.web.public_url
    if not secret:
        if new:
            raise click.ClickException(NOT_CONFIGURED)
        return {"page_url": None, "page_last_opened_at": None, "page_link_error": NOT_CONFIGURED}
    link = (
        rotate_page_link(session, learner_id, secret, public_url, by=by)
        if new
        else page_link(session, learner_id, secret, public_url, create=True, by=by)
    )
    assert link is not None
    return {
        "page_url": link.url,
        "page_link_made_at": link.created_at.isoformat(),
        "page_last_opened_at": link.opened_at.isoformat() if link.opened_at else None,
        "page_link_sent_in_note": link.sent_in_note,
    }


def render_page_link(data: dict[str, Any]) -> None:
    if data.get("page_link_error"):
        click.echo(f"page: none ({data['page_link_error']})")
        return
    if not data.get("page_url"):
        click.echo("page: its link cannot be shown (BRIDGE_CLAIM_SECRET changed); --new-link")
        return
    opened = data.get("page_last_opened_at")
    click.echo(f"page: {data['page_url']}")
    click.echo(
        f"  made {data['page_link_made_at'][:10]}; "
        + (f"last opened {opened[:16].replace('T', ' ')} UTC" if opened else "not opened yet")
        + ("; sent in a customer note" if data.get("page_link_sent_in_note") else "")
    )
