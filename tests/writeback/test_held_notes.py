"""Notes whose links need BRIDGE_PUBLIC_URL: held in the outbox until it is set, then worded
with it and sent once (issue 29, item 7), on both databases."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime

from click.testing import CliRunner

from bridge.cli.main import main
from bridge.rules.writeback.notes import bare_links, with_public_url
from bridge.services.writeback import drain_outbox, outbox_listing
from bridge.services.writeback.queue import WAITING_FOR_URL
from tests.support.claims import SECRET, apply, pack_order
from tests.support.writeback import outbox, shop_client

NOW = datetime(2026, 11, 28, 16, 30, tzinfo=UTC)
URL = "https://bridge.example.com"


def test_a_team_pack_note_waits_for_the_url_and_is_sent_once_worded_with_it(
    engine, shop_settings, shop
):
    """Without BRIDGE_PUBLIC_URL the buyer's note is held (listed as waiting for the URL) and
    nothing reaches the shop; once it is set, the same row goes out once with absolute links."""
    bare = shop_settings.replace(claims={"secret": SECRET}, web={"public_url": None})
    apply(engine, bare, pack_order(401))
    [note] = outbox(engine, resource="order_note")
    assert (note.status, note.last_error) == ("held", WAITING_FOR_URL)
    links = note.payload["relative_links"]
    assert sum(link.startswith("/claims/") for link in links) == 5
    assert any(link.startswith("/me/") for link in links)  # the buyer's page link, first note
    listed = outbox_listing(engine)
    assert (note.id, "held") in [(row["id"], row["status"]) for row in listed.rows]
    assert listed.counts["held"] == 1

    client = shop_client(bare)
    summary = drain_outbox(engine, client, bare, now=NOW)
    assert summary.deferred == 0 and not shop.sent("POST", "orders/401/notes")
    assert outbox(engine, id=note.id)[0].status == "held"
    # Still without the URL, a dry run has no note to show.
    assert not [
        r
        for r in drain_outbox(engine, None, bare, now=NOW, dry_run=True).requests
        if "notes" in r.path
    ]

    worded = shop_settings.replace(claims={"secret": SECRET}, web={"public_url": URL})
    planned = drain_outbox(engine, None, worded, now=NOW, dry_run=True)
    [post] = [r for r in planned.requests if r.method == "POST"]
    assert all(f"{URL}{link}" in post.body["note"] for link in links)
    assert outbox(engine, id=note.id)[0].status == "held"  # the dry run changed nothing

    summary = drain_outbox(engine, shop_client(worded), worded, now=NOW)
    [body] = shop.sent("POST", "orders/401/notes")
    text = body["note"]
    assert body["customer_note"] is True
    assert all(f"{URL}{link}" in text for link in links)
    assert not re.search(r"(?<![\w/.:])/(claims|me)/", text)  # no bare path left
    [row] = outbox(engine, resource="order_note")
    assert (row.id, row.status, row.last_error) == (note.id, "sent", "")
    assert "relative_links" not in row.payload

    # Applied again and drained again: no second note.
    apply(engine, worded, pack_order(401, modified="2026-11-28T16:05:00"))
    drain_outbox(engine, shop_client(worded), worded, now=NOW)
    assert len(shop.sent("POST", "orders/401/notes")) == 1
    assert len(outbox(engine, resource="order_note")) == 1


def test_with_the_url_set_the_note_is_never_held(engine, shop_settings, shop):
    """The usual case: links are absolute from the start and the note is pending at once."""
    worded = shop_settings.replace(claims={"secret": SECRET}, web={"public_url": URL})
    apply(engine, worded, pack_order(402))
    [note] = outbox(engine, resource="order_note")
    assert note.status == "pending" and "relative_links" not in note.payload
    assert f"{URL}/claims/" in note.payload["data"]["note"]


def test_the_cli_lists_a_held_note_and_a_drain_with_the_url_sends_it_worded(
    workdir, database_url, engine, shop_settings, shop
):
    """`bridge outbox` says the note waits for the URL; `bridge outbox drain` run with
    BRIDGE_PUBLIC_URL set posts it once, with absolute links."""
    bare = shop_settings.replace(claims={"secret": SECRET}, web={"public_url": None})
    apply(engine, bare, pack_order(403))
    [note] = outbox(engine, resource="order_note")
    env = {"DATABASE_URL": database_url}
    listed = CliRunner().invoke(main, ["outbox"], env=env, terminal_width=200)
    assert listed.exit_code == 0, listed.output
    assert re.search(
        rf"#{note.id} +held +order:403:note:\S+ +held: waiting for BRIDGE_PUBLIC_URL", listed.output
    )
    assert "last error: waiting for BRIDGE_PUBLIC_URL" in listed.output
    data = json.loads(CliRunner().invoke(main, ["outbox", "--json"], env=env).output)
    assert data["counts"]["held"] == 1
    refused = CliRunner().invoke(main, ["outbox", "retry", str(note.id)], env=env)
    assert refused.exit_code != 0 and "waits for BRIDGE_PUBLIC_URL" in refused.output

    env |= {
        "WOOCOMMERCE_URL": "https://shop.example.com",
        "WOOCOMMERCE_CONSUMER_KEY": "ck_test_0123456789",
        "WOOCOMMERCE_CONSUMER_SECRET": "cs_test_0123456789",
        "BRIDGE_PUBLIC_URL": URL,
    }
    drained = CliRunner().invoke(main, ["outbox", "drain"], env=env)
    assert drained.exit_code == 0, drained.output
    [body] = shop.sent("POST", "orders/403/notes")
    assert all(f"{URL}{link}" in body["note"] for link in note.payload["relative_links"])
    assert outbox(engine, id=note.id)[0].status == "sent"


def test_bare_links_are_the_paths_to_the_bridge_pages_and_only_they_are_made_absolute():
    """Claim, page, credential and pathway paths are found; URLs, dates and prose are not."""
    text = (
        "Claim: /claims/abc234 /claims/def567. Your page: /me/me-xyz. 24/7 and/or "
        "https://bridge.example.com/claims/already (see /claims/abc234)"
    )
    assert bare_links(text) == ["/claims/abc234", "/claims/def567", "/me/me-xyz"]
    worded = with_public_url(text, ["/claims/abc234", "/me/me-xyz"], "https://b.example/")
    assert worded == (
        "Claim: https://b.example/claims/abc234 /claims/def567. Your page: "
        "https://b.example/me/me-xyz. 24/7 and/or https://bridge.example.com/claims/already "
        "(see https://b.example/claims/abc234)"
    )
