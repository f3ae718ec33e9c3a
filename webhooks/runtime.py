"""What request handlers need: the runtime kept on the Flask app, and who is asking."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime

from flask import current_app, request
from sqlalchemy import Engine

from bridge.rules.catalogue.catalog import Catalogue
from bridge.services.inbox import Handler
from bridge.settings import Settings
from bridge.store.models import utcnow
from webhooks.processing import InlineProcessor, Processor


@dataclass(frozen=True)
class Runtime:
    settings: Settings
    engine: Engine
    handlers: Mapping[str, Handler] = field(default_factory=dict)
    # Runs after a batch of deliveries was processed, e.g. to drain the write-back outbox.
    after_processing: Callable[[], None] | None = None
    # Drains the inbox after the answer: a background thread in the service, inline in tests,
    # nothing in web processes beside a `bridge inbox work` worker.
    processor: Processor = field(default_factory=InlineProcessor)
    # The current catalogue (the creator's file merged with synced products); None: not loaded.
    catalogue: Callable[[], Catalogue] | None = None
    # Now, for checks that depend on it (Calendly's signature time); tests fix it.
    clock: Callable[[], datetime] = utcnow
    # The settings file the process read at start, to tell what awaits a restart (None: the
    # settings were given in code, e.g. by tests: nothing to compare).
    env_file: str | None = None


def runtime() -> Runtime:
    return current_app.extensions["bridge"]


def client_address(proxy_hops: int) -> str:
    """The client's address: the peer, or what the last ``proxy_hops`` proxies say it was."""
    if proxy_hops:
        forwarded = [
            part.strip()
            for part in request.headers.get("X-Forwarded-For", "").split(",")
            if part.strip()
        ]
        if len(forwarded) >= proxy_hops:
            return forwarded[-proxy_hops][:64]
    return request.remote_addr or "unknown"
