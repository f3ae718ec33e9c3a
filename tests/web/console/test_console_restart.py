"""Settings changed in the settings file after the start say so on the console's home until a
restart (issue 33, honest state): "No shop configured" is not the last word."""

from __future__ import annotations

from pathlib import Path

import pytest

from bridge.settings import VARIABLES, load_settings
from tests.support.console import SECRET_KEY, ConsoleShop, log_in
from webhooks import create_app


def test_the_home_page_names_the_settings_that_wait_for_a_restart(
    shop: ConsoleShop, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for var in VARIABLES:
        monkeypatch.delenv(var.name, raising=False)
    env = tmp_path / "service.env"
    env.write_text(
        f"DATABASE_URL={shop.settings.database.url}\nBRIDGE_SECRET_KEY={SECRET_KEY}\n"
        f"BRIDGE_CATALOG_FILE={shop.settings.catalogue.file}\n"
    )
    settings = load_settings(env_file=env)
    client = create_app(
        settings, shop.engine, handlers={}, background=False, env_file=str(env)
    ).test_client()
    log_in(client)
    assert 'id="restart-needed"' not in client.get("/console/").get_data(as_text=True)
    with env.open("a") as file:
        file.write(
            "WOOCOMMERCE_URL=https://shop.example.com\nWOOCOMMERCE_CONSUMER_KEY=ck_0123456789\n"
            "WOOCOMMERCE_CONSUMER_SECRET=cs_0123456789\n"
        )
    page = client.get("/console/").get_data(as_text=True)
    assert 'id="restart-needed"' in page
    assert "WOOCOMMERCE_URL, WOOCOMMERCE_CONSUMER_KEY, WOOCOMMERCE_CONSUMER_SECRET" in page
    assert "cs_0123456789" not in page  # names only, never a value
    with env.open("a") as file:
        file.write("BRIDGE_HTTP_MAX_ATTEMPTS=many\n")
    page = client.get("/console/").get_data(as_text=True)
    assert "The settings file has an error: BRIDGE_HTTP_MAX_ATTEMPTS" in page


@pytest.mark.parametrize(
    ("storage", "link"),
    [
        (
            "hpos",
            "https://shop.example.com/wp-admin/admin.php?page=wc-orders&amp;action=edit&amp;id=100",
        ),
        ("legacy", "https://shop.example.com/wp-admin/post.php?post=100&amp;action=edit"),
    ],
)
def test_a_learners_orders_link_to_their_page_in_wp_admin(
    shop: ConsoleShop, storage: str, link: str
) -> None:
    """HPOS (WooCommerce's default since 8.2) and legacy post storage have different URLs."""
    settings = shop.settings.replace(
        shop={
            "url": "https://shop.example.com",
            "consumer_key": "ck_x",
            "consumer_secret": "cs_x",
            "order_storage": storage,
        }
    )
    client = create_app(settings, shop.engine, handlers={}, background=False).test_client()
    log_in(client)
    page = client.get(f"/console/learners/{shop.learner_id('Ann')}").get_data(as_text=True)
    assert f'href="{link}"' in page
