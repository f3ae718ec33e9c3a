"""Tests of bridge/settings.py: settings read, validated and documented."""
