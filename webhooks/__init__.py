"""The Flask receiver WooCommerce posts to, and the operational endpoints."""

from webhooks.app import create_app

__all__ = ["create_app"]
