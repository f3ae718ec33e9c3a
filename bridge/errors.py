"""Typed errors: retryable (try again later) versus permanent (a person must act)."""

from __future__ import annotations


class BridgeError(Exception):
    """A failure the bridge can explain in one line."""


class RetryableError(BridgeError):
    """Transient: the shop or the database is unreachable or overloaded; retry with backoff."""


class PermanentError(BridgeError):
    """Retrying will not help: bad input, bad configuration, or a refusal by the shop."""
