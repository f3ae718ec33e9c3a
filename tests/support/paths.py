"""Where things are: the repository's root, the captured fixtures under tests/fixtures, and
readers for them. Every test that needs a file of the checkout finds it from ROOT."""

from __future__ import annotations

import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures"
REAL = FIXTURES / "woocommerce-real"
EXAMPLE_CATALOGUE = ROOT / "catalog.example.toml"


def load_json(relative: str) -> object:
    """A JSON fixture by its path under tests/fixtures (a fresh copy each call)."""
    return json.loads((FIXTURES / relative).read_bytes())


def real_delivery(name: str) -> tuple[dict[str, str], bytes]:
    """A captured delivery: its headers as a dict and its raw body bytes."""
    meta = json.loads((REAL / "deliveries" / f"{name}.headers.json").read_text())
    headers = {key: value for key, value in meta["headers"]}
    return headers, (REAL / "deliveries" / f"{name}.body").read_bytes()
