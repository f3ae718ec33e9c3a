"""Logging: one line per event, ``key=value`` context after the message, no secrets."""

from __future__ import annotations

import logging
import re
import sys

# Attributes every LogRecord has; anything else was passed through ``extra=`` and is context.
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}


# user:password@ inside any URL (DATABASE_URL above all), REST keys, and credential parameters.
_URL_PASSWORD = re.compile(r"(\b[a-zA-Z][\w+.-]*://[^/\s:@'\"]*:)[^\s'\"]+@")
_REST_KEY = re.compile(r"\b(c[ks]_)[0-9a-zA-Z]{6,}")
_CREDENTIAL_PARAM = re.compile(
    r"((?:consumer_key|consumer_secret|oauth_consumer_key|oauth_signature|password|token)=)"
    r"[^&#\s'\"]+"
)


# What each pattern cannot match without: a line that has none of it skips that search (every
# log line is redacted; the three searches were half of formatting one).
_CREDENTIAL_NAMES = ("consumer_key=", "consumer_secret=", "oauth_signature=", "password=", "token=")


def redact(text: str) -> str:
    """The text with passwords in URLs, REST keys and credential parameters masked."""
    if "://" in text and "@" in text:
        text = _URL_PASSWORD.sub(r"\1****@", text)
    if "ck_" in text or "cs_" in text:
        text = _REST_KEY.sub(r"\1****", text)
    if any(name in text for name in _CREDENTIAL_NAMES):
        text = _CREDENTIAL_PARAM.sub(r"\1****", text)
    return text


class ContextFormatter(logging.Formatter):
    """Render ``extra=`` fields as ``key=value`` pairs so logs stay greppable."""

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        context = [
            f"{key}={value}"
            for key, value in sorted(vars(record).items())
            if key not in _STANDARD and not key.startswith("_")
        ]
        return redact(line + (" " + " ".join(context) if context else ""))


def configure_logging(level: str, handler: logging.Handler | None = None) -> None:
    """Send the bridge's logs to ``handler`` (default: plain lines on stderr) at ``level``.

    Called once by the entry points; the CLI passes a handler that shares its progress
    display's console, so that log lines print above the display instead of tearing it.
    """
    if handler is None:
        handler = logging.StreamHandler(sys.stderr)
    if handler.formatter is None:
        handler.setFormatter(ContextFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # Request lines from urllib3 carry query strings, which can hold keys in query-auth mode.
    logging.getLogger("urllib3").setLevel(logging.WARNING)
    logging.getLogger("alembic").setLevel(logging.WARNING)
