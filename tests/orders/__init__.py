"""Tests of bridge.services.orders: applying orders, page by page, and lines that map to nothing."""
