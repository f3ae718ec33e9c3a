"""Settings: read once from the environment (and an optional .env file), validated, passed down.

Every variable is declared once in ``VARIABLES`` with its parser, default, example and a one-line
description; ``config.example.env`` documents exactly these (a test keeps the two in step).
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from dotenv import dotenv_values

from bridge.logs import redact
from bridge.rules.entitlements import OrderStatus
from bridge.rules.writeback.notes import NOTE_EVENTS

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


_DATABASE_SCHEMES = ("sqlite", "sqlite+pysqlite", "postgresql", "postgres", "postgresql+psycopg")


def _database_url(value: str) -> str:
    scheme, sep, rest = value.partition("://")
    if not sep or scheme not in _DATABASE_SCHEMES:
        if scheme.startswith("postgres"):
            raise ValueError("must use psycopg 3: write postgresql+psycopg:// (or postgresql://)")
        raise ValueError("must be an sqlite:/// or postgresql+psycopg:// URL")
    if scheme.startswith("postgres"):
        parts = urlsplit(value)
        try:
            parts.port  # noqa: B018  (urlsplit checks the port only when it is read)
        except ValueError:
            raise ValueError("has a port that is not a number from 1 to 65535") from None
        if not parts.hostname and "host=" not in parts.query:
            raise ValueError("names no host")
        # Plain postgresql:// (as Heroku-style platforms hand it out) means psycopg 3 here.
        value = "postgresql+psycopg://" + rest
    return value


def _positive_int(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        raise ValueError("must be a whole number") from None
    if number <= 0:
        raise ValueError("must be greater than zero")
    return number


def _connections(value: str) -> int:
    number = _positive_int(value)
    if number > 4:
        raise ValueError("must be between 1 and 4 (more would only crowd the shop)")
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


class Rollover(Mapping[str, int]):
    """Periods unused subscription credits of each type outlive their own period (others: 0)."""

    def __init__(self, periods: Mapping[str, int] | None = None) -> None:
        self._periods = dict(sorted((periods or {}).items()))

    def __getitem__(self, credit_type: str) -> int:
        return self._periods[credit_type]

    def __iter__(self) -> Iterator[str]:
        return iter(self._periods)

    def __len__(self) -> int:
        return len(self._periods)

    def __hash__(self) -> int:
        return hash(tuple(self._periods.items()))

    def __str__(self) -> str:
        return ",".join(f"{kind}={periods}" for kind, periods in self._periods.items()) or "none"

    def __repr__(self) -> str:
        return f"Rollover({self._periods!r})"


def _rollover(value: str) -> Rollover:
    if value.strip().lower() == "none":
        return Rollover()
    periods: dict[str, int] = {}
    for part in _word_list(value):
        credit_type, sep, count = (piece.strip() for piece in part.partition("="))
        if not sep or not credit_type or not (count.isascii() and count.isdigit()):
            raise ValueError(f"{part!r} is not credit_type=periods (a whole number, 0 or more)")
        if credit_type in periods:
            raise ValueError(f"names {credit_type} twice")
        periods[credit_type] = int(count)
    return Rollover(periods)


def _log_level(value: str) -> str:
    return _choice("DEBUG", "INFO", "WARNING", "ERROR")(value.upper())


def _text(value: str) -> str:
    return value


def _report_max_days(value: str) -> int:
    number = _positive_int(value)
    if not 366 <= number <= 36525:
        raise ValueError("must be from 366 (the default report's year) to 36525 days")
    return number


def _page_query_timeout(value: str) -> float:
    number = _positive_float(value)
    if number > 3600:
        raise ValueError("must be at most 3600 seconds")
    return number


def _timezone(value: str) -> str:
    """An IANA time zone name (Europe/Berlin, America/New_York, UTC)."""
    # Imported here, like APScheduler below: only validating the value needs it.
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError("must be an IANA time zone name such as Europe/Berlin or UTC") from None
    return value


def _moment(value: str) -> datetime | None:
    """A UTC date or date-time (2026-12-01 or 2026-12-01T09:30:00); empty for none."""
    text = value.strip()
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError("must be a date or date-time such as 2026-12-01T09:30:00 (UTC)") from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _note_events(value: str) -> tuple[str, ...]:
    if value.strip().lower() == "none":
        return ()
    events = _word_list(value)
    unknown = [event for event in events if event not in NOTE_EVENTS]
    if unknown:
        raise ValueError(f"names unknown events {', '.join(unknown)} (known: "
                         + ", ".join(NOTE_EVENTS) + "; or none)")
    return events


_INTERVAL_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def _schedule(value: str) -> str:
    """``off``, an interval (``90s``, ``15m``, ``1h``, ``1d``) or a 5-field cron line in UTC."""
    text = " ".join(value.split()).lower()
    if text == "off":
        return text
    number, unit = text[:-1], text[-1:]
    if unit in _INTERVAL_UNITS and number.isascii() and number.isdigit():
        if int(number) <= 0:
            raise ValueError("must be a positive interval")
        return text
    if len(text.split(" ")) != 5:
        raise ValueError("must be off, an interval like 15m or 1h, or a cron line like "
                         "'*/15 * * * *'")
    # Imported here: only validating a cron line needs APScheduler.
    from apscheduler.triggers.cron import CronTrigger

    try:
        CronTrigger.from_crontab(text, timezone="UTC")
    except ValueError as exc:
        raise ValueError(f"is not a valid cron line ({exc})") from None
    return text


def schedule_seconds(schedule: str) -> int | None:
    """The interval of an interval schedule in seconds; None for cron lines and ``off``."""
    number, unit = schedule[:-1], schedule[-1:]
    if unit in _INTERVAL_UNITS and number.isascii() and number.isdigit():
        return int(number) * _INTERVAL_UNITS[unit]
    return None


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
    Variable("BRIDGE_CLAIM_SECRET", "claim_secret", _text, None,
             "change-me-to-another-long-random-string",
             "Secret team-pack claim codes and learners' booking links are derived from (bridge "
             "init generates one); keep it with your backups: the codes of places already sold "
             "depend on it, and without it booking links cannot be shown again.",
             secret=True),
    Variable("DATABASE_URL", "database_url", _database_url, DEFAULT_DATABASE_URL,
             DEFAULT_DATABASE_URL,
             "sqlite:///FILE (embedded default) or postgresql+psycopg://user@host/db."),
    Variable("BRIDGE_CATALOG_FILE", "catalog_file", Path, "catalog.toml", "catalog.toml",
             "TOML file mapping WooCommerce SKUs to micro-SKUs (`bridge init` writes an example)."),
    Variable("BRIDGE_PUBLIC_URL", "public_url", _url, None, "https://bridge.example.com",
             "Where WooCommerce reaches this service; webhooks are installed against it."),
    Variable("BRIDGE_ISSUER_NAME", "issuer_name", _text, None, "Dana Datawright",
             "Issuer name on Open Badges credentials; unset: the catalogue's shop title."),
    Variable("BRIDGE_CREDENTIAL_KEY_FILE", "credential_key_file", Path,
             "credential-signing-key.pem", "credential-signing-key.pem",
             "Private key that signs credentials (PEM, mode 0600); bridge init or the first "
             "credential creates it, bridge credentials rotate-key replaces it."),
    Variable("BRIDGE_CREDENTIAL_SIGNING_KEY", "credential_signing_key", _text, None,
             "-----BEGIN PRIVATE KEY-----\\nMIIG...\\n-----END PRIVATE KEY-----",
             "The signing key itself (RSA PEM, \\n for line breaks) instead of the key file.",
             secret=True),
    Variable("BRIDGE_SECRET_KEY", "secret_key", _text, None,
             "change-me-to-another-long-random-string",
             "Signs the console's session cookies; the same in every worker (bridge init "
             "generates one). Unset: the console is off.", secret=True),
    Variable("BRIDGE_CONSOLE_SESSION_IDLE_MINUTES", "console_session_idle_minutes",
             _positive_int, "60", "60",
             "Minutes without a request after which a console session ends (log in again)."),
    Variable("BRIDGE_CONSOLE_SESSION_MAX_HOURS", "console_session_max_hours", _positive_int,
             "12", "12",
             "Hours after logging in at which a console session ends however active it is."),
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
    Variable("BRIDGE_HTTP_CONNECTIONS", "http_connections", _connections, "3", "3",
             "Connections a sync reads the pages of a collection on at once (1 to 4): the next "
             "pages arrive while one is applied."),
    Variable("BRIDGE_PAID_STATUSES", "paid_statuses", _word_list, "processing,completed",
             "processing,completed", "Order statuses that confer what was bought."),
    Variable("BRIDGE_COMPLIMENTARY_CALL_MINUTES", "complimentary_call_minutes",
             _non_negative_int, "30", "30",
             "Minutes of the complimentary first mentor call per paying learner; 0 turns it off."),
    Variable("BRIDGE_SUBSCRIPTION_ROLLOVER", "subscription_rollover", _rollover,
             "mentor_minutes=1,portfolio_reviews=0", "mentor_minutes=1,portfolio_reviews=0",
             "Periods unused subscription credits of a type stay after their own period ends "
             "(credit_type=periods; types not named: 0; none for no rollover)."),
    Variable("BRIDGE_SUBSCRIPTION_REVOKE_ON_CANCEL", "subscription_revoke_on_cancel", _bool,
             "false", "false",
             "Expire a cancelled subscription's unspent credits at the cancellation instead of "
             "at the end of their period."),
    Variable("BRIDGE_WEBHOOK_MAX_BODY_BYTES", "webhook_max_body_bytes", _positive_int,
             "5242880", "5242880", "Largest webhook body accepted (bytes); larger gets 413."),
    Variable("BRIDGE_INBOX_RETENTION_DAYS", "inbox_retention_days", _positive_int, "30", "30",
             "Days a processed delivery keeps its raw body (personal data) before it is dropped."),
    Variable("BRIDGE_INBOX_ROW_RETENTION_DAYS", "inbox_row_retention_days", _positive_int, "90",
             "90",
             "Days a finished delivery's row is kept (for duplicate detection and `bridge inbox`) "
             "before it is deleted; at least BRIDGE_INBOX_RETENTION_DAYS."),
    Variable("BRIDGE_MAX_LINE_QUANTITY", "max_line_quantity", _positive_int, "1000", "1000",
             "Largest quantity one order line may have; a delivery beyond it is rejected, "
             "not processed."),
    Variable("BRIDGE_INBOX_MAX_ATTEMPTS", "inbox_max_attempts", _positive_int, "8", "8",
             "Processing attempts per webhook delivery before it is dead-lettered."),
    Variable("BRIDGE_INBOX_WORKER", "inbox_worker", _bool, "false", "false",
             "True when a `bridge inbox work` process (the Procfile's worker line) processes "
             "webhook deliveries: web processes then only verify and store them."),
    Variable("BRIDGE_OUTBOX_MAX_ATTEMPTS", "outbox_max_attempts", _positive_int, "8", "8",
             "Attempts per write-back to WooCommerce before it is dead-lettered."),
    Variable("BRIDGE_NOTE_TEMPLATES", "note_templates_file", Path, None, "order-notes.toml",
             "TOML file rewording or translating the order notes; unset uses the bundled "
             "English ones (bridge/data/order_notes.toml shows every key)."),
    Variable("BRIDGE_CUSTOMER_NOTE_EVENTS", "customer_note_events", _note_events,
             "seat_active,seat_waitlisted,seat_promoted,coupon_offered,claim_links,"
             "credential_issued",
             "seat_active,seat_waitlisted,seat_promoted,coupon_offered,claim_links,"
             "credential_issued",
             "Events whose order note goes to the learner (WooCommerce e-mails it); the rest "
             "stay private notes. none for no customer notes."),
    Variable("BRIDGE_SHOP_TIMEZONE", "shop_timezone", _timezone, "UTC", "UTC",
             "The shop's time zone (WordPress > Settings > General): coupons expire at the end "
             "of the day their note names, in this zone (e.g. Europe/Berlin)."),
    Variable("BRIDGE_NOTIFY_SINCE", "notify_since", _moment, None, "2026-12-01T00:00:00",
             "Customers hear (notes, coupons) only of changes after this UTC moment; unset: "
             "since the bridge started watching the shop (bridge init or the first sync)."),
    Variable("BRIDGE_SYNC_ENABLED", "sync_enabled", _bool, "true", "true",
             "Run the scheduled sync jobs when a shop is configured."),
    Variable("BRIDGE_SYNC_OVERLAP_SECONDS", "sync_overlap_seconds", _positive_int, "300", "300",
             "Seconds the orders and catalogue syncs look back before their cursor, to catch "
             "changes saved late or out of order (re-reading them grants nothing twice)."),
    Variable("BRIDGE_SYNC_LEASE_SECONDS", "sync_lease_seconds", _positive_int, "300", "300",
             "Seconds a sync job's lease lasts unless renewed (a running job renews it); a "
             "runner that died is replaced after this long."),
    Variable("BRIDGE_SYNC_REENABLE_WEBHOOKS", "sync_reenable_webhooks", _bool, "false",
             "false",
             "Let the webhooks job re-enable the bridge's webhooks that WooCommerce disabled "
             "after failed deliveries (paused ones are only reported)."),
    Variable("BRIDGE_SYNC_ORDERS_SCHEDULE", "sync_orders_schedule", _schedule, "15m", "15m",
             "When to reconcile orders: off, an interval (90s, 15m, 1h, 1d) or a cron line in "
             "UTC ('*/15 * * * *'); the same forms for the other schedules."),
    Variable("BRIDGE_SYNC_CATALOG_SCHEDULE", "sync_catalog_schedule", _schedule, "1h", "1h",
             "When to sync the catalogue (products and variations)."),
    Variable("BRIDGE_SYNC_SUBSCRIPTIONS_SCHEDULE", "sync_subscriptions_schedule", _schedule,
             "1h", "1h", "When to reconcile subscriptions."),
    Variable("BRIDGE_SYNC_INBOX_SCHEDULE", "sync_inbox_schedule", _schedule, "1m", "1m",
             "When to retry failed webhook deliveries and purge old delivery bodies."),
    Variable("BRIDGE_SYNC_OUTBOX_SCHEDULE", "sync_outbox_schedule", _schedule, "1m", "1m",
             "When to drain the write-back outbox to WooCommerce."),
    Variable("BRIDGE_SYNC_EXPIRY_SCHEDULE", "sync_expiry_schedule", _schedule, "1h", "1h",
             "When to expire credits past their expiry date."),
    Variable("BRIDGE_SYNC_WEBHOOKS_SCHEDULE", "sync_webhooks_schedule", _schedule, "1h", "1h",
             "When to check the shop's webhooks for disabled or paused ones."),
    Variable("BRIDGE_CLAIM_ATTEMPTS_PER_MINUTE", "claim_attempts_per_minute", _positive_int,
             "20", "20",
             "Requests to the team-pack claim pages (/claims/...) one client address may make "
             "per minute, per process; more get 429."),
    Variable("BRIDGE_PROXY_HOPS", "proxy_hops", _non_negative_int, "0", "0",
             "Reverse proxies in front of the service that append to X-Forwarded-For; the "
             "per-address limits read the client's address from there (0: the peer address)."),
    Variable("BRIDGE_CALCOM_WEBHOOK_SECRET", "calcom_webhook_secret", _text, None,
             "change-me-to-another-long-random-string",
             "Secret of the Cal.com webhook (Settings > Developer > Webhooks); deliveries to "
             "/webhooks/calcom are refused until it is set.", secret=True),
    Variable("BRIDGE_CALENDLY_SIGNING_KEY", "calendly_signing_key", _text, None,
             "change-me-to-a-third-long-random-string",
             "Signing key of the Calendly webhook subscription (bridge bookings install calendly "
             "sends it); deliveries to /webhooks/calendly are refused until it is set.",
             secret=True),
    Variable("BRIDGE_BOOKING_NO_SHOW", "booking_no_show", _choice("forfeit", "return"),
             "forfeit", "forfeit",
             "What a booking marked no-show does with its credits: forfeit (they stay spent) "
             "or return (they come back)."),
    Variable("BRIDGE_BOOKINGS_TRUST_EMAIL", "bookings_trust_email", _bool, "false", "false",
             "Let a booking whose attendee e-mail is a learner's debit that learner without the "
             "token of their booking link. Risky: neither Cal.com nor Calendly verifies the "
             "e-mail, so anyone who types it spends their credits. Off: such bookings wait for "
             "review (bridge bookings approve|reject)."),
    Variable("BRIDGE_REPORT_TIMEZONE", "report_timezone", _timezone, "UTC", "UTC",
             "Time zone of the outcome report's days and months (bridge report, /report), "
             "e.g. Europe/Berlin; a CSV import's plain dates are midnight there."),
    Variable("BRIDGE_REPORT_MAX_DAYS", "report_max_days", _report_max_days, "731", "731",
             "Longest period of the outcome report, in days (366 to 36525; 731 covers any two "
             "calendar years); a longer one is refused (400 on the web, an error on the CLI)."),
    Variable("BRIDGE_PAGE_QUERY_TIMEOUT_SECONDS", "page_query_timeout_seconds",
             _page_query_timeout, "10", "10",
             "Longest time one database query of a page (a GET other than the webhook "
             "receivers and health checks) may run; past it the page answers 503 with "
             "Retry-After. Receivers and inbox processing have no such limit."),
    Variable("BRIDGE_PAGE_CONCURRENCY", "page_concurrency", _positive_int, "2", "2",
             "Pages one web process prepares at once; more answer 503 with Retry-After, so "
             "webhook deliveries always find a free request thread (keep it below the "
             "threads: bridge serve --threads, 4 by default)."),
)


@dataclass(frozen=True)
class Settings:
    """The validated configuration of one process."""

    woocommerce_url: str | None = None
    consumer_key: str | None = field(default=None, repr=False)
    consumer_secret: str | None = field(default=None, repr=False)
    webhook_secret: str | None = field(default=None, repr=False)
    claim_secret: str | None = field(default=None, repr=False)
    database_url: str = DEFAULT_DATABASE_URL
    catalog_file: Path = Path("catalog.toml")
    public_url: str | None = None
    issuer_name: str | None = None
    credential_key_file: Path = Path("credential-signing-key.pem")
    credential_signing_key: str | None = field(default=None, repr=False)
    secret_key: str | None = field(default=None, repr=False)
    console_session_idle_minutes: int = 60
    console_session_max_hours: int = 12
    log_level: str = "INFO"
    woo_auth: str = "auto"
    http_connect_timeout: float = 5.0
    http_read_timeout: float = 30.0
    http_max_attempts: int = 5
    http_retry_budget_seconds: float = 60.0
    http_connections: int = 3
    paid_statuses: tuple[str, ...] = (OrderStatus.PROCESSING, OrderStatus.COMPLETED)
    complimentary_call_minutes: int = 30
    subscription_rollover: Rollover = field(
        default_factory=lambda: Rollover({"mentor_minutes": 1, "portfolio_reviews": 0})
    )
    subscription_revoke_on_cancel: bool = False
    webhook_max_body_bytes: int = 5 * 1024 * 1024
    inbox_retention_days: int = 30
    inbox_row_retention_days: int = 90
    max_line_quantity: int = 1000
    inbox_max_attempts: int = 8
    inbox_worker: bool = False
    outbox_max_attempts: int = 8
    note_templates_file: Path | None = None
    customer_note_events: tuple[str, ...] = (
        "seat_active", "seat_waitlisted", "seat_promoted", "coupon_offered", "claim_links",
        "credential_issued",
    )
    shop_timezone: str = "UTC"
    notify_since: datetime | None = None
    sync_enabled: bool = True
    sync_overlap_seconds: int = 300
    sync_lease_seconds: int = 300
    sync_reenable_webhooks: bool = False
    sync_orders_schedule: str = "15m"
    sync_catalog_schedule: str = "1h"
    sync_subscriptions_schedule: str = "1h"
    sync_inbox_schedule: str = "1m"
    sync_outbox_schedule: str = "1m"
    sync_expiry_schedule: str = "1h"
    sync_webhooks_schedule: str = "1h"
    claim_attempts_per_minute: int = 20
    proxy_hops: int = 0
    calcom_webhook_secret: str | None = field(default=None, repr=False)
    calendly_signing_key: str | None = field(default=None, repr=False)
    booking_no_show: str = "forfeit"
    bookings_trust_email: bool = False
    report_timezone: str = "UTC"
    report_max_days: int = 731
    page_query_timeout_seconds: float = 10.0
    page_concurrency: int = 2

    @property
    def shop_configured(self) -> bool:
        """True when the shop URL and both REST keys are set."""
        return bool(self.woocommerce_url and self.consumer_key and self.consumer_secret)

    @property
    def sync_active(self) -> bool:
        return self.sync_enabled and self.shop_configured

    def __repr__(self) -> str:
        # Settings end up in logs and tracebacks: show them as masked() does, never the secrets.
        shown = ", ".join(f"{name}={value!r}" for name, value in self.masked().items())
        return f"Settings({shown})"

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
    return redact(url)


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
            seen = mask(raw) if var.secret else redact(raw)
            raise SettingsError(var.name, str(exc), seen, var.example) from None
    settings = Settings(**parsed)
    _check_together(settings)
    return settings


def _check_together(settings: Settings) -> None:
    """Shop settings make sense only as a set: a URL needs both keys; rows outlive bodies."""
    if settings.inbox_row_retention_days < settings.inbox_retention_days:
        raise SettingsError(
            "BRIDGE_INBOX_ROW_RETENTION_DAYS",
            f"must be at least BRIDGE_INBOX_RETENTION_DAYS ({settings.inbox_retention_days})",
            str(settings.inbox_row_retention_days), "90",
        )
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
