"""creator-bridge: WooCommerce purchases of learning micro-SKUs become credits and seats."""

__version__ = "0.1.0"
