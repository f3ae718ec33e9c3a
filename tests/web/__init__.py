"""Tests of webhooks/: the web app as a whole (health, limits, hostile input, processing)."""
