"""Settings: read once from the environment (and an optional .env file), validated, passed down.

Every variable is declared once in ``VARIABLES`` with its parser, default, example and a one-line
description; ``config.example.env`` documents exactly these (a test keeps the two in step).
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from dotenv import dotenv_values

DEFAULT_DATABASE_URL = "sqlite:///creator-bridge.db"


class SettingsError(ValueError):
    """A setting is missing or malformed; the message names the variable and a good example."""

    def __init__(self, variable: str, problem: str, seen: str | None, example: str) -> None:
        self.variable = variable
        shown = "" if seen is None else f" (saw {seen!r})"
        super().__init__(f"{variable} {problem}{shown}; for example {variable}={example}")


def _url(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError("must be an http:// or https:// URL")
    return value.rstrip("/")


def _database_url(value: str) -> str:
    scheme = value.split(":", 1)[0]
    if not (scheme.startswith("sqlite") or scheme.startswith("postgresql")):
        raise ValueError("must be an sqlite:/// or postgresql+psycopg:// URL")
    if scheme in ("postgresql", "postgres"):
        # Plain postgresql:// (as Heroku-style platforms hand it out) means psycopg 3 here.
        value = "postgresql+psycopg" + value[len(scheme) :]
    return value


def _positive_int(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        raise ValueError("must be a whole number") from None
    if number <= 0:
        raise ValueError("must be greater than zero")
    return number


def _non_negative_int(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        raise ValueError("must be a whole number") from None
    if number < 0:
        raise ValueError("must be zero or more")
    return number


def _positive_float(value: str) -> float:
    try:
        number = float(value)
    except ValueError:
        raise ValueError("must be a number") from None
    if number <= 0:
        raise ValueError("must be greater than zero")
    return number


def _bool(value: str) -> bool:
    lowered = value.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise ValueError("must be true or false")


def _choice(*choices: str) -> Callable[[str], str]:
    def parse(value: str) -> str:
        if value not in choices:
            raise ValueError("must be one of " + ", ".join(choices))
        return value

    return parse


def _word_list(value: str) -> tuple[str, ...]:
    words = tuple(word.strip() for word in value.split(",") if word.strip())
    if not words:
        raise ValueError("must list at least one value, separated by commas")
    return words


def _log_level(value: str) -> str:
    return _choice("DEBUG", "INFO", "WARNING", "ERROR")(value.upper())


def _text(value: str) -> str:
    return value


@dataclass(frozen=True)
class Variable:
    """One environment variable: where it lands in Settings and how it is read."""

    name: str
    attr: str
    parse: Callable[[str], Any]
    default: str | None
    example: str
    doc: str
    secret: bool = False


VARIABLES: tuple[Variable, ...] = (
    Variable("WOOCOMMERCE_URL", "woocommerce_url", _url, None, "https://shop.example.com",
             "The shop's home URL; leave empty to run without a shop (sync off)."),
    Variable("WOOCOMMERCE_CONSUMER_KEY", "consumer_key", _text, None,
             "ck_0123456789abcdef0123456789abcdef01234567",
             "REST API consumer key (WooCommerce > Settings > Advanced > REST API), read/write.",
             secret=True),
    Variable("WOOCOMMERCE_CONSUMER_SECRET", "consumer_secret", _text, None,
             "cs_0123456789abcdef0123456789abcdef01234567",
             "REST API consumer secret that belongs to the key.", secret=True),
    Variable("WOOCOMMERCE_WEBHOOK_SECRET", "webhook_secret", _text, None,
             "change-me-to-a-long-random-string",
             "Secret WooCommerce signs webhook deliveries with (bridge init generates one).",
             secret=True),
    Variable("DATABASE_URL", "database_url", _database_url, DEFAULT_DATABASE_URL,
             DEFAULT_DATABASE_URL,
             "sqlite:///FILE (embedded default) or postgresql+psycopg://user@host/db."),
    Variable("BRIDGE_CATALOG_FILE", "catalog_file", Path, "catalog.toml", "catalog.toml",
             "TOML file mapping WooCommerce SKUs to micro-SKUs (see catalog.example.toml)."),
    Variable("BRIDGE_PUBLIC_URL", "public_url", _url, None, "https://bridge.example.com",
             "Where WooCommerce reaches this service; webhooks are installed against it."),
    Variable("BRIDGE_LOG_LEVEL", "log_level", _log_level, "INFO", "INFO",
             "Log level: DEBUG, INFO, WARNING or ERROR."),
    Variable("BRIDGE_WOO_AUTH", "woo_auth", _choice("auto", "basic", "query", "oauth"), "auto",
             "auto",
             "How REST calls authenticate: auto (Basic on https, OAuth 1.0a on http), basic, "
             "query (keys in the query string, for hosts that strip Authorization) or oauth."),
    Variable("BRIDGE_HTTP_CONNECT_TIMEOUT", "http_connect_timeout", _positive_float, "5", "5",
             "Seconds to wait for the shop to accept a connection."),
    Variable("BRIDGE_HTTP_READ_TIMEOUT", "http_read_timeout", _positive_float, "30", "30",
             "Seconds to wait for the shop to answer a request."),
    Variable("BRIDGE_HTTP_MAX_ATTEMPTS", "http_max_attempts", _positive_int, "5", "5",
             "Attempts per REST call on connection errors, timeouts, 429 and 5xx."),
    Variable("BRIDGE_HTTP_RETRY_BUDGET_SECONDS", "http_retry_budget_seconds", _positive_float,
             "60", "60", "Upper bound on the time one REST call may spend retrying."),
    Variable("BRIDGE_PAID_STATUSES", "paid_statuses", _word_list, "processing,completed",
             "processing,completed", "Order statuses that confer what was bought."),
    Variable("BRIDGE_COMPLIMENTARY_CALL_MINUTES", "complimentary_call_minutes",
             _non_negative_int, "30", "30",
             "Minutes of the complimentary first mentor call per paying learner; 0 turns it off."),
    Variable("BRIDGE_WEBHOOK_MAX_BODY_BYTES", "webhook_max_body_bytes", _positive_int,
             "5242880", "5242880", "Largest webhook body accepted (bytes); larger gets 413."),
    Variable("BRIDGE_INBOX_RETENTION_DAYS", "inbox_retention_days", _positive_int, "30", "30",
             "Days a processed delivery keeps its raw body (personal data) before it is dropped."),
    Variable("BRIDGE_SYNC_ENABLED", "sync_enabled", _bool, "true", "true",
             "Run the scheduled sync jobs when a shop is configured."),
)


@dataclass(frozen=True)
class Settings:
    """The validated configuration of one process."""

    woocommerce_url: str | None = None
    consumer_key: str | None = field(default=None, repr=False)
    consumer_secret: str | None = field(default=None, repr=False)
    webhook_secret: str | None = field(default=None, repr=False)
    database_url: str = DEFAULT_DATABASE_URL
    catalog_file: Path = Path("catalog.toml")
    public_url: str | None = None
    log_level: str = "INFO"
    woo_auth: str = "auto"
    http_connect_timeout: float = 5.0
    http_read_timeout: float = 30.0
    http_max_attempts: int = 5
    http_retry_budget_seconds: float = 60.0
    paid_statuses: tuple[str, ...] = ("processing", "completed")
    complimentary_call_minutes: int = 30
    webhook_max_body_bytes: int = 5 * 1024 * 1024
    inbox_retention_days: int = 30
    sync_enabled: bool = True

    @property
    def shop_configured(self) -> bool:
        """True when the shop URL and both REST keys are set."""
        return bool(self.woocommerce_url and self.consumer_key and self.consumer_secret)

    @property
    def sync_active(self) -> bool:
        return self.sync_enabled and self.shop_configured

    def replace(self, **changes: Any) -> Settings:
        return dataclasses.replace(self, **changes)

    def masked(self) -> dict[str, str]:
        """Every variable with its effective value, secrets masked, for printing."""
        shown: dict[str, str] = {}
        for var in VARIABLES:
            value = getattr(self, var.attr)
            if value is None:
                shown[var.name] = ""
            elif var.secret:
                shown[var.name] = mask(str(value))
            elif isinstance(value, tuple):
                shown[var.name] = ",".join(value)
            elif var.attr == "database_url":
                shown[var.name] = mask_url_password(str(value))
            else:
                shown[var.name] = str(value).lower() if isinstance(value, bool) else str(value)
        return shown


def mask(secret: str) -> str:
    """Show only enough of a secret to tell two apart."""
    if len(secret) <= 8:
        return "****"
    return secret[:3] + "****" + secret[-2:]


def mask_url_password(url: str) -> str:
    parts = urlsplit(url)
    if parts.password:
        return url.replace(":" + parts.password + "@", ":****@", 1)
    return url


def load_settings(
    environ: Mapping[str, str] | None = None, env_file: str | os.PathLike[str] | None = ".env"
) -> Settings:
    """Read the settings; the real environment wins over the .env file."""
    values: dict[str, str | None] = {}
    if env_file is not None and Path(env_file).is_file():
        values.update(dotenv_values(env_file))
    values.update(os.environ if environ is None else environ)
    parsed: dict[str, Any] = {}
    for var in VARIABLES:
        raw = values.get(var.name)
        raw = raw.strip() if isinstance(raw, str) else None
        if not raw:
            if var.default is None:
                continue
            raw = var.default
        try:
            parsed[var.attr] = var.parse(raw)
        except ValueError as exc:
            seen = mask(raw) if var.secret else raw
            raise SettingsError(var.name, str(exc), seen, var.example) from None
    settings = Settings(**parsed)
    _check_together(settings)
    return settings


def _check_together(settings: Settings) -> None:
    """Shop settings make sense only as a set: a URL needs both keys."""
    if settings.woocommerce_url:
        for var in VARIABLES[1:3]:
            if not getattr(settings, var.attr):
                raise SettingsError(
                    var.name, "is required when WOOCOMMERCE_URL is set", None, var.example
                )


def render_env_file(values: Mapping[str, str] | None = None) -> str:
    """The documented settings file: each variable with its one-line comment.

    ``config.example.env`` is exactly this text with no values given; ``bridge init`` writes it
    with a fresh webhook secret. Optional variables without a default stay commented out.
    """
    values = values or {}
    lines = [
        "# creator-bridge settings. The real environment wins over this file.",
        "# Every variable is optional except where a comment says otherwise.",
        "",
    ]
    for var in VARIABLES:
        lines.append(f"# {var.doc}")
        if var.name in values:
            lines.append(f"{var.name}={values[var.name]}")
        elif var.default is None:
            lines.append(f"# {var.name}={var.example}")
        else:
            lines.append(f"{var.name}={var.example}")
        lines.append("")
    return "\n".join(lines)
