"""Tests of webhooks/api/: the token API, checked against its OpenAPI document."""
