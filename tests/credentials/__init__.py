"""Tests of bridge.services.credentials: Open Badges credentials end to end."""
