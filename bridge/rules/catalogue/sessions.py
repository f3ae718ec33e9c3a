"""A cohort's live sessions, as the catalogue file states them (pure).

A cohort names its sessions under ``[cohorts.<code>.sessions]``: a ``first`` start and a count
of ``weekly`` sessions, or an explicit list of ``dates`` (date-times); a duration in
``minutes``; a ``location`` (a place, or the meeting's https URL). Times are local to the
cohort's time zone, so a weekly session keeps its hour across a change of daylight saving time.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

SESSION_KEYS = {"first", "weekly", "dates", "minutes", "location"}
MAX_SESSIONS = 200
MAX_MINUTES = 24 * 60
MAX_LOCATION = 500


@dataclass(frozen=True)
class CohortSessions:
    """When a cohort meets: local start times in ``timezone``, each ``minutes`` long.

    ``weekly`` is set when the schedule is a weekly series from ``starts[0]`` (the feed writes
    it as one recurring event); otherwise ``starts`` lists every session.
    """

    timezone: str
    starts: tuple[datetime, ...]  # aware, in the cohort's zone
    minutes: int
    location: str = ""
    weekly: int | None = None

    def occurrences(self) -> list[datetime]:
        """Every session's start, aware in the cohort's zone, earliest first."""
        if self.weekly is None:
            return list(self.starts)
        zone = ZoneInfo(self.timezone)
        first = self.starts[0].replace(tzinfo=None)
        # Wall-clock arithmetic: the same local hour every week, whatever the UTC offset.
        return [(first + timedelta(weeks=n)).replace(tzinfo=zone) for n in range(self.weekly)]

    @property
    def is_url(self) -> bool:
        return self.location.startswith(("https://", "http://"))

    def as_dict(self) -> dict[str, Any]:
        return {
            "timezone": self.timezone,
            "starts": [moment.isoformat() for moment in self.occurrences()],
            "minutes": self.minutes,
            "location": self.location,
            "weekly": self.weekly,
        }


# Builds the error naming the file and the dotted key (the catalogue's CatalogueError).
Fail = Callable[[str, str], Exception]


def _local(value: Any, key: str, zone: ZoneInfo, fail: Fail) -> datetime:
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            return value.astimezone(zone)
        return value.replace(tzinfo=zone)
    if isinstance(value, date):
        raise fail(key, "needs a time of day, e.g. 2027-01-11T18:00:00 (the cohort's zone)")
    raise fail(key, "must be a TOML date-time without quotes, e.g. 2027-01-11T18:00:00")


def parse_sessions(
    value: Any,
    where: str,
    timezone: str,
    fail: Fail,
    *,
    starts_at: datetime | None = None,
    ends_at: datetime | None = None,
) -> CohortSessions:
    """The sessions table of cohort ``where`` (``cohorts.<code>.sessions``), checked.

    Every session must lie within the cohort's ``starts``..``ends`` when those are given.
    """
    if not isinstance(value, dict):
        raise fail(where, "must be a table with first and weekly, or dates; and minutes")
    for key in value:
        if key not in SESSION_KEYS:
            expected = ", ".join(sorted(SESSION_KEYS))
            raise fail(f"{where}.{key}", f"unknown key (expected one of {expected})")
    zone = ZoneInfo(timezone)
    minutes = value.get("minutes")
    if isinstance(minutes, bool) or not isinstance(minutes, int):
        raise fail(f"{where}.minutes", "required: each session's length in minutes, e.g. 90")
    if not 1 <= minutes <= MAX_MINUTES:
        raise fail(f"{where}.minutes", f"must be between 1 and {MAX_MINUTES}")
    location = value.get("location", "")
    if not isinstance(location, str) or len(location.strip()) > MAX_LOCATION:
        raise fail(f"{where}.location", f"must be a string of at most {MAX_LOCATION} characters")
    location = location.strip()
    if "://" in location and not location.startswith(("https://", "http://")):
        raise fail(f"{where}.location", "a meeting link must be an http(s) URL")
    weekly: int | None = None
    if "dates" in value:
        if "first" in value or "weekly" in value:
            raise fail(f"{where}.dates", "give either dates, or first and weekly, not both")
        dates = value["dates"]
        if not isinstance(dates, list) or not dates:
            raise fail(f"{where}.dates", "must be a non-empty array of date-times")
        if len(dates) > MAX_SESSIONS:
            raise fail(f"{where}.dates", f"at most {MAX_SESSIONS} sessions")
        starts = tuple(
            _local(item, f"{where}.dates[{n}]", zone, fail) for n, item in enumerate(dates)
        )
        if list(starts) != sorted(set(starts)):
            raise fail(f"{where}.dates", "must be in order, each date-time once")
    elif "first" in value:
        starts = (_local(value["first"], f"{where}.first", zone, fail),)
        count = value.get("weekly")
        if isinstance(count, bool) or not isinstance(count, int):
            raise fail(f"{where}.weekly", "required with first: how many weekly sessions, e.g. 6")
        if not 1 <= count <= MAX_SESSIONS:
            raise fail(f"{where}.weekly", f"must be between 1 and {MAX_SESSIONS}")
        weekly = count
    else:
        raise fail(where, "give first and weekly (a weekly series) or dates (each session)")
    sessions = CohortSessions(timezone, starts, minutes, location, weekly)
    moments = sessions.occurrences()
    if starts_at is not None and moments[0].astimezone(UTC) < starts_at:
        raise fail(
            where, f"the first session ({moments[0]:%Y-%m-%d %H:%M}) is before the cohort starts"
        )
    last_end = moments[-1] + timedelta(minutes=minutes)
    if ends_at is not None and last_end.astimezone(UTC) > ends_at:
        last = f"{moments[-1]:%Y-%m-%d %H:%M}"
        raise fail(where, f"the last session ({last}) ends after the cohort")
    return sessions
