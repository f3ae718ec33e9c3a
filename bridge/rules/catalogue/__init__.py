"""Catalogue rules (pure): micro-SKUs and offers, the catalogue file, the shop's products."""
