"""Tests of webhooks/receivers/: the WooCommerce and booking-tool receivers."""
