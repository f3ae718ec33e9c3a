"""Tests of bridge/shop/: the WooCommerce client against a shop faked at the HTTP level."""
