"""Money, dates and durations as the shop writes them: Babel, in the shop's locale, currency
and time zone (BRIDGE_SHOP_LOCALE, the catalogue's ``shop.currency``, BRIDGE_SHOP_TIMEZONE)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime as Moment
from decimal import Decimal
from zoneinfo import ZoneInfo

from babel import Locale
from babel.dates import format_date, format_datetime, format_time
from babel.numbers import format_currency, format_decimal
from babel.units import format_unit

_EN_ORDINAL = {1: "st", 2: "nd", 3: "rd"}


@dataclass(frozen=True)
class Formats:
    """Formatters bound to one locale, time zone and currency."""

    locale: str = "en_US"
    timezone: str = "UTC"
    currency: str = ""

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def language(self) -> str:
        return Locale.parse(self.locale).language

    def money(self, amount: Decimal | float | int | str) -> str:
        value = Decimal(str(amount))
        if not self.currency:
            return format_decimal(value, locale=self.locale)
        return format_currency(value, self.currency, locale=self.locale)

    def date(self, moment: Moment | None, zone: str | None = None) -> str:
        if moment is None:
            return ""
        return format_date(
            moment.astimezone(ZoneInfo(zone) if zone else self.zone), "long", locale=self.locale
        )

    def datetime(self, moment: Moment | None, zone: str | None = None) -> str:
        """Date and time in ``zone`` (the shop's by default), the zone named after it."""
        if moment is None:
            return ""
        tz = ZoneInfo(zone) if zone else self.zone
        local = moment.astimezone(tz)
        day = format_date(local, "full", locale=self.locale)
        hour = format_time(local, "short", locale=self.locale)
        return f"{day}, {hour} ({tz.key})"

    def minutes(self, total: int) -> str:
        """A duration in hours and minutes ("4 hours, 30 minutes"; "-15 minutes" owed)."""
        sign = "-" if total < 0 else ""
        hours, minutes = divmod(abs(total), 60)
        parts = []
        if hours:
            parts.append(format_unit(hours, "duration-hour", length="long", locale=self.locale))
        if minutes or not hours:
            parts.append(format_unit(minutes, "duration-minute", length="long", locale=self.locale))
        return sign + ", ".join(parts)

    def ordinal_place(self, place: int) -> str:
        """A waitlist place: "2nd in line" (English), "place 2" otherwise."""
        if self.language == "en":
            suffix = "th" if 10 <= place % 100 <= 20 else _EN_ORDINAL.get(place % 10, "th")
            return f"{place}{suffix} in line"
        return f"#{format_decimal(place, locale=self.locale)}"

    def when(self, moment: Moment | None) -> str:
        return (
            format_datetime(moment.astimezone(self.zone), "medium", locale=self.locale)
            if moment
            else ""
        )
