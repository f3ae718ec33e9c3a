"""Settings: read once from the environment (and an optional .env file), validated, passed down.

Settings come in groups by what they configure (``settings.shop.url``,
``settings.console.session_idle_minutes``). Every variable is declared once, as a field of its
group: ``setting()`` gives its name, parser, default (the field's typed default is the parsed
string), example and one-line description. ``VARIABLES`` lists them in declaration order;
``config.example.env`` and README's settings table are generated from them
(``python scripts/settings_docs.py``; tests keep the three in step).
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, get_type_hints

from dotenv import dotenv_values

from bridge.logs import redact
from bridge.settings import parsers
from bridge.settings.alerts import AlertSettings
from bridge.settings.declaration import DECLARED, Variable, mask, setting
from bridge.settings.declaration import Group as _Group
from bridge.settings.declaration import shown as _show
from bridge.settings.parsers import Rollover, schedule_seconds

__all__ = [
    "DEFAULT_DATABASE_URL",
    "VARIABLES",
    "Rollover",
    "Settings",
    "SettingsError",
    "Variable",
    "declared",
    "load_settings",
    "mask",
    "mask_url_password",
    "render_env_file",
    "render_settings_table",
    "schedule_seconds",
]

DEFAULT_DATABASE_URL = "sqlite:///creator-bridge.db"


class SettingsError(ValueError):
    """A setting is missing or malformed; the message names the variable and a good example."""

    def __init__(self, variable: str, problem: str, seen: str | None, example: str) -> None:
        self.variable = variable
        shown = "" if seen is None else f" (saw {seen!r})"
        super().__init__(f"{variable} {problem}{shown}; for example {variable}={example}")


@dataclass(frozen=True, repr=False)
class ShopSettings(_Group):
    """The shop (WooCommerce)"""

    url: str | None = setting(
        "WOOCOMMERCE_URL",
        parsers.url,
        example="https://shop.example.com",
        doc="The shop's home URL; leave it unset to run without a shop (sync off).",
    )
    consumer_key: str | None = setting(
        "WOOCOMMERCE_CONSUMER_KEY",
        parsers.text,
        secret=True,
        example="ck_0123456789abcdef0123456789abcdef01234567",
        doc="REST API consumer key (WooCommerce > Settings > Advanced > REST API), read/write; "
        "required with `WOOCOMMERCE_URL`.",
    )
    consumer_secret: str | None = setting(
        "WOOCOMMERCE_CONSUMER_SECRET",
        parsers.text,
        secret=True,
        example="cs_0123456789abcdef0123456789abcdef01234567",
        doc="REST API consumer secret that belongs to the key; required with `WOOCOMMERCE_URL`.",
    )
    webhook_secret: str | None = setting(
        "WOOCOMMERCE_WEBHOOK_SECRET",
        parsers.text,
        secret=True,
        example="change-me-to-a-long-random-string",
        doc="Secret WooCommerce signs webhook deliveries with (`bridge init` generates one).",
    )
    auth: str = setting(
        "BRIDGE_WOO_AUTH",
        parsers.choice("auto", "basic", "query", "oauth"),
        default="auto",
        doc="How REST calls authenticate: `auto` (Basic on https, OAuth 1.0a on http), `basic`, "
        "`query` (keys in the query string, for hosts that strip `Authorization`) or "
        "`oauth`.",
    )
    order_storage: str = setting(
        "BRIDGE_WOO_ORDER_STORAGE",
        parsers.choice("hpos", "legacy"),
        default="hpos",
        doc="How the shop stores orders, for the console's links to an order in WP admin: "
        "`hpos` (High-Performance Order Storage, WooCommerce's default since 8.2) or `legacy` "
        "(posts).",
    )
    timezone: str = setting(
        "BRIDGE_SHOP_TIMEZONE",
        parsers.timezone,
        default="UTC",
        doc="The shop's time zone (WordPress > Settings > General): coupons expire at the end "
        "of the day their note names, in this zone (e.g. Europe/Berlin).",
    )
    locale: str = setting(
        "BRIDGE_SHOP_LOCALE",
        parsers.locale,
        default="en_US",
        doc="The shop's language and region (WordPress > Settings > General > Site Language): "
        "learners' pages write money, dates and durations the way it does (e.g. de_DE).",
    )

    @property
    def configured(self) -> bool:
        """True when the shop URL and both REST keys are set."""
        return bool(self.url and self.consumer_key and self.consumer_secret)


@dataclass(frozen=True, repr=False)
class HttpSettings(_Group):
    """REST calls to the shop"""

    connect_timeout: float = setting(
        "BRIDGE_HTTP_CONNECT_TIMEOUT",
        parsers.positive_float,
        default="5",
        doc="Seconds to wait for the shop to accept a connection.",
    )
    read_timeout: float = setting(
        "BRIDGE_HTTP_READ_TIMEOUT",
        parsers.positive_float,
        default="30",
        doc="Seconds to wait for the shop to answer a request.",
    )
    max_attempts: int = setting(
        "BRIDGE_HTTP_MAX_ATTEMPTS",
        parsers.positive_int,
        default="5",
        doc="Attempts per REST call on connection errors, timeouts, 429 and 5xx.",
    )
    retry_budget_seconds: float = setting(
        "BRIDGE_HTTP_RETRY_BUDGET_SECONDS",
        parsers.positive_float,
        default="60",
        doc="Upper bound on the time one REST call may spend retrying.",
    )
    connections: int = setting(
        "BRIDGE_HTTP_CONNECTIONS",
        parsers.connections,
        default="3",
        doc="Connections a sync reads the pages of a collection on at once (1 to 4): the next "
        "pages arrive while one is applied; a `Retry-After` pauses them all.",
    )


@dataclass(frozen=True, repr=False)
class DatabaseSettings(_Group):
    """The database"""

    url: str = setting(
        "DATABASE_URL",
        parsers.database_url,
        default=DEFAULT_DATABASE_URL,
        doc="`sqlite:///FILE` (embedded default) or `postgresql+psycopg://user@host/db` "
        "(`postgresql://` and `postgres://` mean the same).",
    )
    backup_dir: Path = setting(
        "BRIDGE_BACKUP_DIR",
        Path,
        default="backups",
        doc="Folder of the scheduled backups (SQLite copies, or pg_dump files), made private.",
    )
    backup_keep: int = setting(
        "BRIDGE_BACKUP_KEEP",
        parsers.positive_int,
        default="7",
        doc="Scheduled backups kept; the oldest beyond this many are deleted.",
    )


@dataclass(frozen=True, repr=False)
class CatalogueSettings(_Group):
    """The catalogue"""

    file: Path = setting(
        "BRIDGE_CATALOG_FILE",
        Path,
        default="catalog.toml",
        doc="TOML file mapping WooCommerce SKUs to micro-SKUs (`bridge init` writes an example).",
    )


@dataclass(frozen=True, repr=False)
class OrderSettings(_Group):
    """What orders confer"""

    paid_statuses: tuple[str, ...] = setting(
        "BRIDGE_PAID_STATUSES",
        parsers.paid_statuses,
        default="processing,completed",
        doc="Order statuses that confer what was bought.",
    )
    complimentary_call_minutes: int = setting(
        "BRIDGE_COMPLIMENTARY_CALL_MINUTES",
        parsers.non_negative_int,
        default="30",
        doc="Minutes of the complimentary first mentor call per paying learner; 0 turns it off.",
    )
    perks_for_free_previews: bool = setting(
        "BRIDGE_PERKS_FOR_FREE_PREVIEWS",
        parsers.boolean,
        default="false",
        doc="A free (0-priced) micro-SKU line earns the complimentary call and coupons too.",
    )
    max_line_quantity: int = setting(
        "BRIDGE_MAX_LINE_QUANTITY",
        parsers.positive_int,
        default="1000",
        doc="Largest quantity one order line may have; a delivery beyond it is rejected, "
        "not processed.",
    )


@dataclass(frozen=True, repr=False)
class SubscriptionSettings(_Group):
    """Subscriptions"""

    rollover: Rollover = setting(
        "BRIDGE_SUBSCRIPTION_ROLLOVER",
        parsers.rollover,
        default="mentor_minutes=1,portfolio_reviews=0",
        doc="Periods unused subscription credits of a type stay after their own period ends "
        "(`credit_type=periods`; types not named: 0; `none` for no rollover).",
    )
    revoke_on_cancel: bool = setting(
        "BRIDGE_SUBSCRIPTION_REVOKE_ON_CANCEL",
        parsers.boolean,
        default="false",
        doc="Expire a cancelled subscription's unspent credits at the cancellation instead of "
        "at the end of their period.",
    )


@dataclass(frozen=True, repr=False)
class InboxSettings(_Group):
    """Webhook deliveries (the inbox)"""

    retention_days: int = setting(
        "BRIDGE_INBOX_RETENTION_DAYS",
        parsers.positive_int,
        default="30",
        doc="Days a processed delivery keeps its raw body (personal data) before it is dropped.",
    )
    row_retention_days: int = setting(
        "BRIDGE_INBOX_ROW_RETENTION_DAYS",
        parsers.positive_int,
        default="90",
        doc="Days a finished delivery's row is kept (for duplicate detection and `bridge inbox`) "
        "before it is deleted; at least `BRIDGE_INBOX_RETENTION_DAYS`.",
    )
    max_attempts: int = setting(
        "BRIDGE_INBOX_MAX_ATTEMPTS",
        parsers.positive_int,
        default="8",
        doc="Processing attempts per webhook delivery before it is dead-lettered.",
    )
    worker: bool = setting(
        "BRIDGE_INBOX_WORKER",
        parsers.boolean,
        default="false",
        doc="`true` when a `bridge work` process (the Procfile's `worker` line) processes "
        "webhook deliveries: web processes then only verify and store them.",
    )


@dataclass(frozen=True, repr=False)
class WritebackSettings(_Group):
    """Write-back to the shop: order notes, coupons, the outbox"""

    outbox_max_attempts: int = setting(
        "BRIDGE_OUTBOX_MAX_ATTEMPTS",
        parsers.positive_int,
        default="8",
        doc="Attempts per write-back to WooCommerce before it is dead-lettered.",
    )
    note_templates_file: Path | None = setting(
        "BRIDGE_NOTE_TEMPLATES",
        Path,
        example="order-notes.toml",
        doc="TOML file rewording or translating the order notes; unset uses the bundled "
        "English ones (`bridge/data/order_notes.toml` shows every key).",
    )
    customer_note_events: tuple[str, ...] = setting(
        "BRIDGE_CUSTOMER_NOTE_EVENTS",
        parsers.note_events,
        default="seat_active,seat_waitlisted,seat_promoted,seat_moved,seat_removed,"
        "coupon_offered,claim_links,credential_issued",
        doc="Events whose order note goes to the learner (WooCommerce e-mails it); the rest "
        "stay private notes. `none` for no customer notes.",
    )
    notify_since: datetime | None = setting(
        "BRIDGE_NOTIFY_SINCE",
        parsers.moment,
        example="2026-12-01T00:00:00",
        doc="Customers hear (notes, coupons) only of changes after this UTC moment; unset: "
        "since the bridge started watching the shop (`bridge init` or the first sync).",
    )


@dataclass(frozen=True, repr=False)
class SyncSettings(_Group):
    """Scheduled sync"""

    enabled: bool = setting(
        "BRIDGE_SYNC_ENABLED",
        parsers.boolean,
        default="true",
        doc="Run the scheduled sync jobs when a shop is configured.",
    )
    overlap_seconds: int = setting(
        "BRIDGE_SYNC_OVERLAP_SECONDS",
        parsers.positive_int,
        default="300",
        doc="Seconds the orders and catalogue syncs look back before their cursor, to catch "
        "changes saved late or out of order (re-reading them grants nothing twice).",
    )
    lease_seconds: int = setting(
        "BRIDGE_SYNC_LEASE_SECONDS",
        parsers.positive_int,
        default="300",
        doc="Seconds a sync job's lease lasts unless renewed (a running job renews it); a "
        "runner that died is replaced after this long.",
    )
    reenable_webhooks: bool = setting(
        "BRIDGE_SYNC_REENABLE_WEBHOOKS",
        parsers.boolean,
        default="false",
        doc="Let the webhooks job re-enable the bridge's webhooks that WooCommerce disabled "
        "after failed deliveries (paused ones are only reported).",
    )
    orders_schedule: str = setting(
        "BRIDGE_SYNC_ORDERS_SCHEDULE",
        parsers.schedule,
        default="15m",
        doc="When to reconcile orders: `off`, an interval (`90s`, `15m`, `1h`, `1d`) or a cron "
        "line in UTC (`*/15 * * * *`); the same forms for the other schedules.",
    )
    catalog_schedule: str = setting(
        "BRIDGE_SYNC_CATALOG_SCHEDULE",
        parsers.schedule,
        default="1h",
        doc="When to sync the catalogue (products and variations).",
    )
    subscriptions_schedule: str = setting(
        "BRIDGE_SYNC_SUBSCRIPTIONS_SCHEDULE",
        parsers.schedule,
        default="1h",
        doc="When to reconcile subscriptions.",
    )
    inbox_schedule: str = setting(
        "BRIDGE_SYNC_INBOX_SCHEDULE",
        parsers.schedule,
        default="1m",
        doc="When to retry failed webhook deliveries and purge old delivery bodies.",
    )
    outbox_schedule: str = setting(
        "BRIDGE_SYNC_OUTBOX_SCHEDULE",
        parsers.schedule,
        default="1m",
        doc="When to drain the write-back outbox to WooCommerce.",
    )
    expiry_schedule: str = setting(
        "BRIDGE_SYNC_EXPIRY_SCHEDULE",
        parsers.schedule,
        default="1h",
        doc="When to expire credits past their expiry date.",
    )
    webhooks_schedule: str = setting(
        "BRIDGE_SYNC_WEBHOOKS_SCHEDULE",
        parsers.schedule,
        default="1h",
        doc="When to check the shop's webhooks for disabled or paused ones.",
    )
    alerts_schedule: str = setting(
        "BRIDGE_SYNC_ALERTS_SCHEDULE",
        parsers.schedule,
        default="5m",
        doc="When to look for incidents and alert the creator (runs without a shop too).",
    )
    backup_schedule: str = setting(
        "BRIDGE_SYNC_BACKUP_SCHEDULE",
        parsers.schedule,
        default="1d",
        doc="When to back the database up into BRIDGE_BACKUP_DIR (runs without a shop too).",
    )

    @classmethod
    def jobs(cls) -> tuple[str, ...]:
        """The jobs that have a schedule (``BRIDGE_SYNC_<JOB>_SCHEDULE``), as declared."""
        return tuple(
            member.name.removesuffix("_schedule")
            for member in dataclasses.fields(cls)
            if member.name.endswith("_schedule")
        )

    def schedule(self, job: str) -> str:
        """The schedule of one job: ``off``, an interval or a cron line."""
        if job not in self.jobs():
            raise KeyError(job)
        return str(getattr(self, f"{job}_schedule"))


@dataclass(frozen=True, repr=False)
class WebSettings(_Group):
    """The web service"""

    public_url: str | None = setting(
        "BRIDGE_PUBLIC_URL",
        parsers.url,
        example="https://bridge.example.com",
        doc="Where WooCommerce reaches this service: `bridge webhooks install` points the "
        "shop's webhooks there, and credentials are published under it (required to issue "
        "them).",
    )
    max_body_bytes: int = setting(
        "BRIDGE_WEBHOOK_MAX_BODY_BYTES",
        parsers.positive_int,
        default="5242880",
        doc="Largest webhook body accepted (bytes); larger gets 413.",
    )
    proxy_hops: int = setting(
        "BRIDGE_PROXY_HOPS",
        parsers.non_negative_int,
        default="0",
        doc="Reverse proxies in front of the service that append to `X-Forwarded-For`; the "
        "per-address limits read the client's address from there (0: the peer address).",
    )
    page_query_timeout_seconds: float = setting(
        "BRIDGE_PAGE_QUERY_TIMEOUT_SECONDS",
        parsers.page_query_timeout,
        default="10",
        doc="Longest time one database query of a page (a GET other than the webhook "
        "receivers and health checks) may run (PostgreSQL `statement_timeout`, an SQLite "
        "progress handler); past it the page answers 503 with `Retry-After`. Receivers and "
        "inbox processing have no such limit.",
    )
    page_concurrency: int = setting(
        "BRIDGE_PAGE_CONCURRENCY",
        parsers.positive_int,
        default="2",
        doc="Pages one web process prepares at once; more answer 503 with `Retry-After`, so "
        "webhook deliveries always find a free request thread (keep it below the threads: "
        "`bridge serve --threads`, 4 by default).",
    )


@dataclass(frozen=True, repr=False)
class ConsoleSettings(_Group):
    """The operator console"""

    secret_key: str | None = setting(
        "BRIDGE_SECRET_KEY",
        parsers.text,
        secret=True,
        example="change-me-to-another-long-random-string",
        doc="Signs the console's session cookies; the same in every worker (`bridge init` "
        "generates one). Unset: the console is off (it answers 503 and says so).",
    )
    session_idle_minutes: int = setting(
        "BRIDGE_CONSOLE_SESSION_IDLE_MINUTES",
        parsers.positive_int,
        default="60",
        doc="Minutes without a request after which a console session ends (log in again).",
    )
    session_max_hours: int = setting(
        "BRIDGE_CONSOLE_SESSION_MAX_HOURS",
        parsers.positive_int,
        default="12",
        doc="Hours after logging in at which a console session ends however active it is.",
    )
    operator: str | None = setting(
        "BRIDGE_OPERATOR",
        parsers.text,
        example="dana",
        doc="Who runs `bridge` commands, named on the audit trail and ledger rows they write "
        "when `--by` is not given; unset: the OS user. Console actions name the logged-in "
        "operator.",
    )


@dataclass(frozen=True, repr=False)
class ClaimSettings(_Group):
    """Team-pack claims and booking links"""

    secret: str | None = setting(
        "BRIDGE_CLAIM_SECRET",
        parsers.text,
        secret=True,
        example="change-me-to-another-long-random-string",
        doc="Secret team-pack claim codes and learners' booking links are derived from "
        "(`bridge init` generates one); keep it with your backups: the codes of places "
        "already sold depend on it, and without it booking links cannot be shown again.",
    )
    attempts_per_minute: int = setting(
        "BRIDGE_CLAIM_ATTEMPTS_PER_MINUTE",
        parsers.positive_int,
        default="20",
        doc="Requests to the team-pack claim pages (`/claims/...`) one client address may make "
        "per minute, per process; more get 429.",
    )
    page_requests_per_minute: int = setting(
        "BRIDGE_LEARNER_PAGE_REQUESTS_PER_MINUTE",
        parsers.positive_int,
        default="30",
        doc="Requests to learners' personal pages (`/me/...`, their calendar feeds included) "
        "one client address may make per minute, per process; more get 429.",
    )


@dataclass(frozen=True, repr=False)
class BookingSettings(_Group):
    """Bookings (Cal.com, Calendly)"""

    calcom_webhook_secret: str | None = setting(
        "BRIDGE_CALCOM_WEBHOOK_SECRET",
        parsers.text,
        secret=True,
        example="change-me-to-another-long-random-string",
        doc="Secret of the Cal.com webhook (Settings > Developer > Webhooks; `bridge init` "
        "generates one); deliveries to `/webhooks/calcom` are refused (503) until it is set.",
    )
    calendly_signing_key: str | None = setting(
        "BRIDGE_CALENDLY_SIGNING_KEY",
        parsers.text,
        secret=True,
        example="change-me-to-a-third-long-random-string",
        doc="Signing key of the Calendly webhook subscription (`bridge bookings install "
        "calendly` sends it; `bridge init` generates one); deliveries to "
        "`/webhooks/calendly` are refused until it is set.",
    )
    no_show: str = setting(
        "BRIDGE_BOOKING_NO_SHOW",
        parsers.choice("forfeit", "return"),
        default="forfeit",
        doc="What a booking marked no-show does with its credits: `forfeit` (they stay spent) "
        "or `return` (they come back).",
    )
    trust_email: bool = setting(
        "BRIDGE_BOOKINGS_TRUST_EMAIL",
        parsers.boolean,
        default="false",
        doc="Let a booking whose attendee e-mail is a learner's debit that learner without the "
        "token of their booking link. Risky: neither Cal.com nor Calendly verifies the "
        "e-mail, so anyone who types it spends their credits. Off: such bookings wait for "
        "review (`bridge bookings approve|reject`).",
    )


@dataclass(frozen=True, repr=False)
class CredentialSettings(_Group):
    """Credentials (Open Badges)"""

    issuer_name: str | None = setting(
        "BRIDGE_ISSUER_NAME",
        parsers.text,
        example="Dana Datawright",
        doc="Issuer name on Open Badges credentials; unset: the catalogue's `[shop] title`.",
    )
    key_file: Path = setting(
        "BRIDGE_CREDENTIAL_KEY_FILE",
        Path,
        default="credential-signing-key.pem",
        doc="Private key that signs credentials (PEM, mode 0600); `bridge init` or the first "
        "credential creates it, `bridge credentials rotate-key` replaces it.",
    )
    signing_key: str | None = setting(
        "BRIDGE_CREDENTIAL_SIGNING_KEY",
        parsers.text,
        secret=True,
        example="-----BEGIN PRIVATE KEY-----\\nMIIG...\\n-----END PRIVATE KEY-----",
        doc="The signing key itself (RSA PEM, `\\n` for line breaks) instead of the key file.",
    )


@dataclass(frozen=True, repr=False)
class ReportSettings(_Group):
    """The outcome report"""

    timezone: str = setting(
        "BRIDGE_REPORT_TIMEZONE",
        parsers.timezone,
        default="UTC",
        doc="Time zone of the outcome report's days and months (`bridge report`, `/report`), "
        "e.g. Europe/Berlin; a CSV import's plain dates are midnight there.",
    )
    max_days: int = setting(
        "BRIDGE_REPORT_MAX_DAYS",
        parsers.report_max_days,
        default="731",
        doc="Longest period of the outcome report, in days (366 to 36525; 731 covers any two "
        "calendar years); a longer one is refused (400 on the web, an error on the CLI).",
    )


@dataclass(frozen=True, repr=False)
class LoggingSettings(_Group):
    """Logging"""

    level: str = setting(
        "BRIDGE_LOG_LEVEL",
        parsers.log_level,
        default="INFO",
        doc="Log level: `DEBUG`, `INFO`, `WARNING` or `ERROR`.",
    )


@dataclass(frozen=True, repr=False)
class Settings:
    """The validated configuration of one process, in groups: ``settings.shop.url``."""

    shop: ShopSettings = field(default_factory=ShopSettings)
    http: HttpSettings = field(default_factory=HttpSettings)
    database: DatabaseSettings = field(default_factory=DatabaseSettings)
    catalogue: CatalogueSettings = field(default_factory=CatalogueSettings)
    orders: OrderSettings = field(default_factory=OrderSettings)
    subscriptions: SubscriptionSettings = field(default_factory=SubscriptionSettings)
    inbox: InboxSettings = field(default_factory=InboxSettings)
    writeback: WritebackSettings = field(default_factory=WritebackSettings)
    sync: SyncSettings = field(default_factory=SyncSettings)
    web: WebSettings = field(default_factory=WebSettings)
    console: ConsoleSettings = field(default_factory=ConsoleSettings)
    claims: ClaimSettings = field(default_factory=ClaimSettings)
    bookings: BookingSettings = field(default_factory=BookingSettings)
    credentials: CredentialSettings = field(default_factory=CredentialSettings)
    report: ReportSettings = field(default_factory=ReportSettings)
    logging: LoggingSettings = field(default_factory=LoggingSettings)
    alerts: AlertSettings = field(default_factory=AlertSettings)

    @property
    def sync_active(self) -> bool:
        """True when the scheduled sync runs: it is enabled and a shop is configured."""
        return self.sync.enabled and self.shop.configured

    def __repr__(self) -> str:
        # Settings end up in logs and tracebacks: show them as masked() does, never the secrets.
        shown = ", ".join(f"{name}={value!r}" for name, value in self.masked().items())
        return f"Settings({shown})"

    def replace(self, **groups: Mapping[str, Any]) -> Settings:
        """A copy with some fields of some groups changed.

        ``settings.replace(shop={"url": None}, http={"max_attempts": 1})``; the values are typed
        (as the fields hold them), not the strings of the environment.
        """
        changed: dict[str, Any] = {}
        for name, changes in groups.items():
            if name not in _GROUP_TYPES:
                raise TypeError(f"Settings has no group {name!r}")
            changed[name] = dataclasses.replace(getattr(self, name), **changes)
        return dataclasses.replace(self, **changed)

    def masked(self) -> dict[str, str]:
        """Every variable with its effective value, secrets masked, for printing."""
        return {
            var.name: _show(var.parse, var.secret, getattr(getattr(self, var.group), var.attr))
            for var in VARIABLES
        }


def _declarations() -> tuple[dict[str, type[_Group]], tuple[Variable, ...]]:
    """The groups of Settings and every variable declared on them, in declaration order."""
    hints = get_type_hints(Settings)
    groups: dict[str, type[_Group]] = {}
    variables: list[Variable] = []
    for group in dataclasses.fields(Settings):
        groups[group.name] = hints[group.name]
        for member in dataclasses.fields(hints[group.name]):
            variables.append(
                Variable(group=group.name, attr=member.name, **member.metadata[DECLARED])
            )
    return groups, tuple(variables)


_GROUP_TYPES, VARIABLES = _declarations()
_BY_PLACE = {(var.group, var.attr): var for var in VARIABLES}


def declared(group: str, attr: str) -> Variable:
    """The variable behind ``settings.<group>.<attr>``."""
    return _BY_PLACE[group, attr]


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
    given: dict[str, dict[str, Any]] = {}
    for var in VARIABLES:
        raw = values.get(var.name)
        raw = raw.strip() if isinstance(raw, str) else None
        if not raw:
            continue  # the declared default stands
        try:
            given.setdefault(var.group, {})[var.attr] = var.parse(raw)
        except ValueError as exc:
            seen = mask(raw) if var.secret else redact(raw)
            raise SettingsError(var.name, str(exc), seen, var.example) from None
    settings = Settings().replace(**given)
    _check_together(settings)
    return settings


def _check_together(settings: Settings) -> None:
    """Shop settings make sense only as a set: a URL needs both keys; rows outlive bodies."""
    inbox = settings.inbox
    if inbox.row_retention_days < inbox.retention_days:
        rows, bodies = declared("inbox", "row_retention_days"), declared("inbox", "retention_days")
        raise SettingsError(
            rows.name,
            f"must be at least {bodies.name} ({inbox.retention_days})",
            str(inbox.row_retention_days),
            rows.example,
        )
    if settings.shop.url:
        for attr in ("consumer_key", "consumer_secret"):
            if not getattr(settings.shop, attr):
                var = declared("shop", attr)
                raise SettingsError(
                    var.name,
                    f"is required when {declared('shop', 'url').name} is set",
                    None,
                    var.example,
                )


def group_title(group: str) -> str:
    """The heading of a group in config.example.env and README: its class docstring."""
    return (_GROUP_TYPES[group].__doc__ or group).strip()


def render_env_file(values: Mapping[str, str] | None = None) -> str:
    """The documented settings file: the groups, each variable with its one-line comment.

    ``config.example.env`` is exactly this text with no values given; ``bridge init`` writes it
    with fresh secrets. Optional variables without a default stay commented out.
    """
    values = values or {}
    lines = [
        "# creator-bridge settings. The real environment wins over this file.",
        "# Every variable is optional except where a comment says otherwise.",
        "",
    ]
    group = None
    for var in VARIABLES:
        if var.group != group:
            group = var.group
            lines += [f"# ==== {group_title(group)} ====", ""]
        lines.append(f"# {var.doc}")
        if var.name in values:
            lines.append(f"{var.name}={values[var.name]}")
        elif var.default is None:
            lines.append(f"# {var.name}={var.example}")
        else:
            lines.append(f"{var.name}={var.example}")
        lines.append("")
    return "\n".join(lines)


def render_settings_table() -> str:
    """README's settings table: a row per group, then a row per variable of the group."""

    def cell(text: str) -> str:
        return text.replace("|", "\\|")

    lines = ["| Variable | Default | What it is |", "| --- | --- | --- |"]
    group = None
    for var in VARIABLES:
        if var.group != group:
            group = var.group
            lines.append(f"| **{cell(group_title(group))}** | | |")
        default = "unset" if var.default is None else f"`{cell(var.default)}`"
        lines.append(f"| `{var.name}` | {default} | {cell(var.doc)} |")
    return "\n".join(lines) + "\n"
