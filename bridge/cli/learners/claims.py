"""`bridge claims ORDER_ID`: a team pack's places, their claim links and who claimed what."""

from __future__ import annotations

from typing import Any

import click

from bridge.cli.context import AppContext, emit, json_option
from bridge.rules.claims import ClaimPlaceStatus
from bridge.services.team_packs import list_claims


def _render(data: dict[str, Any]) -> None:
    places = data["places"]
    if not places:
        click.echo(f"order {data['order_id']} has no team-pack places")
        return
    claimed = sum(1 for place in places if place["status"] == ClaimPlaceStatus.CLAIMED)
    open_ = sum(1 for place in places if place["status"] == ClaimPlaceStatus.OPEN)
    click.echo(
        f"order {data['order_id']}: {len(places)} places, {claimed} claimed, "
        f"{open_} open, {len(places) - claimed - open_} void"
    )
    for place in places:
        where = f"line {place['line_item_id']} unit {place['unit']} place {place['place']}"
        link = place["url"] or "(code unknown: BRIDGE_CLAIM_SECRET changed since it was made)"
        who = ""
        if place["claimed_by"]:
            name = f"{place['claimant_name']} " if place["claimant_name"] else ""
            who = f"  {name}<{place['claimed_by']}> {place['claimed_at'][:16]}"
        click.echo(f"  {place['offer_sku']} {where}: {place['status']:<7} {link}{who}")


@click.command("claims")
@click.argument("order_id", type=click.IntRange(1, 2**63 - 1))
@json_option
@click.pass_context
def claims_command(ctx: click.Context, order_id: int, as_json: bool) -> None:
    """List a team pack's places, claim links and who claimed them.

    Codes are not stored; they are recomputed from BRIDGE_CLAIM_SECRET, so this shows the
    same links after a database rebuild. Hand a link to each person who should get a place.
    """
    app: AppContext = ctx.find_root().obj
    emit(list_claims(app.ready_engine(), order_id, app.settings), as_json, _render)
