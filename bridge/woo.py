"""WooCommerce REST API v3 client: the only code that speaks HTTP to the shop."""
