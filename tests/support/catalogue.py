"""The shop's products faked over HTTP for the catalogue sync: the real sample shop's products
and variations, and the listing, trash and variation answers WooCommerce gives for them."""

from __future__ import annotations

from typing import Any

import responses
from responses import matchers

from tests.support.paths import load_json
from tests.support.sample_shop import team_pack_product

API = "https://shop.example.com/wp-json/wc/v3"
LISTING = {"per_page": "100", "orderby": "modified", "order": "asc"}


def real_products() -> list[dict[str, Any]]:
    """The real shop's ten products, a fresh copy."""
    captured = load_json("woocommerce-real/rest/5-products-per_page-100.json")
    return [team_pack_product(), *captured]  # type: ignore[list-item]


def real_variations() -> list[dict[str, Any]]:
    """The real variations of product 18, a fresh copy."""
    return load_json("woocommerce-real/rest/5-product-variations.json")  # type: ignore[return-value]


def serve_shop(
    shop: responses.RequestsMock,
    products: list[dict[str, Any]],
    *,
    variations: list[dict[str, Any]] | None = None,
    trashed: list[dict[str, Any]] | None = None,
    pages: int = 1,
    extra: dict[str, str] | None = None,
) -> None:
    """Answer the product listing (in ``pages`` pages), the trash listing and variations."""
    query = {**LISTING, **(extra or {})}
    size = -(-len(products) // pages) if products else 1
    chunks = [products[i : i + size] for i in range(0, len(products), size)] or [[]]
    for number, chunk in enumerate(chunks, start=1):
        shop.get(
            f"{API}/products",
            json=chunk,
            headers={"X-WP-Total": str(len(products)), "X-WP-TotalPages": str(len(chunks))},
            match=[matchers.query_param_matcher({**query, "page": str(number)})],
        )
    trash = trashed or []
    shop.get(
        f"{API}/products",
        json=trash,
        headers={"X-WP-Total": str(len(trash)), "X-WP-TotalPages": "1"},
        match=[matchers.query_param_matcher({**query, "status": "trash", "page": "1"})],
    )
    if variations is not None:
        shop.get(
            f"{API}/products/18/variations",
            json=variations,
            headers={"X-WP-Total": str(len(variations)), "X-WP-TotalPages": "1"},
            match=[matchers.query_param_matcher({"per_page": "100", "page": "1"})],
        )
