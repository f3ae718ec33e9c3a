"""Alerts to the creator (bridge.services.alerts) against a real SMTP server and chat receiver."""
