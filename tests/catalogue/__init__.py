"""Tests of bridge.services.catalogue: catalogue sync and product webhooks."""
