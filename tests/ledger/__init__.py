"""Tests of bridge.services.ledger: credits, seats and their expiry, exactly once."""
