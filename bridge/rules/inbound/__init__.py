"""Inbound webhook rules (pure): hostile-input checks on bodies and delivery states; signatures."""
