"""Tests of bridge.services.reporting: the outcome report's figures on stored data."""
