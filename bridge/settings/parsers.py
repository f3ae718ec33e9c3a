"""How the text of one setting becomes its value: a parser per kind of value.

``bridge.settings`` declares which parser reads which variable. A parser raises ValueError whose
message completes the sentence that starts with the variable's name ("BRIDGE_HTTP_MAX_ATTEMPTS
must be a whole number").
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime
from urllib.parse import urlsplit

from bridge.rules.writeback.notes import NOTE_EVENTS


def url(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError("must be an http:// or https:// URL")
    return value.rstrip("/")


_DATABASE_SCHEMES = ("sqlite", "sqlite+pysqlite", "postgresql", "postgres", "postgresql+psycopg")


def database_url(value: str) -> str:
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


def positive_int(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        raise ValueError("must be a whole number") from None
    if number <= 0:
        raise ValueError("must be greater than zero")
    return number


def connections(value: str) -> int:
    number = positive_int(value)
    if number > 4:
        raise ValueError("must be between 1 and 4 (more would only crowd the shop)")
    return number


def non_negative_int(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        raise ValueError("must be a whole number") from None
    if number < 0:
        raise ValueError("must be zero or more")
    return number


def positive_float(value: str) -> float:
    try:
        number = float(value)
    except ValueError:
        raise ValueError("must be a number") from None
    if number <= 0:
        raise ValueError("must be greater than zero")
    return number


def boolean(value: str) -> bool:
    lowered = value.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise ValueError("must be true or false")


def choice(*choices: str) -> Callable[[str], str]:
    def parse(value: str) -> str:
        if value not in choices:
            raise ValueError("must be one of " + ", ".join(choices))
        return value

    return parse


def word_list(value: str) -> tuple[str, ...]:
    words = tuple(word.strip() for word in value.split(",") if word.strip())
    if not words:
        raise ValueError("must list at least one value, separated by commas")
    return words


# WooCommerce's order statuses that can mean "paid" (its own, without the wc- prefix); the
# others (refunded, cancelled, failed, checkout-draft, trash) never confer.
PAYABLE_STATUSES = ("completed", "on-hold", "pending", "processing")


def paid_statuses(value: str) -> tuple[str, ...]:
    """Order statuses that confer: only WooCommerce's own, so a typo cannot turn grants off."""
    statuses = tuple(word.lower().removeprefix("wc-") for word in word_list(value))
    unknown = [status for status in statuses if status not in PAYABLE_STATUSES]
    if unknown:
        raise ValueError(
            f"names {', '.join(unknown)}, which no WooCommerce order has while paid "
            f"(known: {', '.join(PAYABLE_STATUSES)}; usually processing,completed)"
        )
    return statuses


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


def rollover(value: str) -> Rollover:
    if value.strip().lower() == "none":
        return Rollover()
    periods: dict[str, int] = {}
    for part in word_list(value):
        credit_type, sep, count = (piece.strip() for piece in part.partition("="))
        if not sep or not credit_type or not (count.isascii() and count.isdigit()):
            raise ValueError(f"{part!r} is not credit_type=periods (a whole number, 0 or more)")
        if credit_type in periods:
            raise ValueError(f"names {credit_type} twice")
        periods[credit_type] = int(count)
    return Rollover(periods)


def log_level(value: str) -> str:
    return choice("DEBUG", "INFO", "WARNING", "ERROR")(value.upper())


def text(value: str) -> str:
    return value


def report_max_days(value: str) -> int:
    number = positive_int(value)
    if not 366 <= number <= 36525:
        raise ValueError("must be from 366 (the default report's year) to 36525 days")
    return number


def page_query_timeout(value: str) -> float:
    number = positive_float(value)
    if number > 3600:
        raise ValueError("must be at most 3600 seconds")
    return number


def timezone(value: str) -> str:
    """An IANA time zone name (Europe/Berlin, America/New_York, UTC)."""
    # Imported here, like APScheduler below: only validating the value needs it.
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError("must be an IANA time zone name such as Europe/Berlin or UTC") from None
    return value


def locale(value: str) -> str:
    """A CLDR locale Babel knows (en_US, de_DE, fr, pt_BR), as Babel spells it."""
    from babel import Locale, UnknownLocaleError

    try:
        return str(Locale.parse(value.strip().replace("-", "_")))
    except (UnknownLocaleError, ValueError, TypeError):
        raise ValueError("must be a locale such as en_US, de_DE or fr") from None


def moment(value: str) -> datetime | None:
    """A UTC date or date-time (2026-12-01 or 2026-12-01T09:30:00); empty for none."""
    text = value.strip()
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError("must be a date or date-time such as 2026-12-01T09:30:00 (UTC)") from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def note_events(value: str) -> tuple[str, ...]:
    if value.strip().lower() == "none":
        return ()
    events = word_list(value)
    unknown = [event for event in events if event not in NOTE_EVENTS]
    if unknown:
        raise ValueError(
            f"names unknown events {', '.join(unknown)} (known: "
            + ", ".join(NOTE_EVENTS)
            + "; or none)"
        )
    return events


_INTERVAL_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def schedule(value: str) -> str:
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
        raise ValueError(
            "must be off, an interval like 15m or 1h, or a cron line like '*/15 * * * *'"
        )
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
