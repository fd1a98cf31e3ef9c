"""One way to write a moment or a day, in the reader's locale: "December 27, 2026, 10:00
UTC" (en), "27 December 2026, 10:00 UTC" (en-GB), "27. Dezember 2026, 10:00 UTC" (de).

Pages, error messages and emails all use these two functions, so a date reads the same
wherever it appears. Times are always UTC and say so; a locale Babel does not know falls
back to English.
"""

from __future__ import annotations

from datetime import UTC, datetime
from functools import lru_cache

from babel import Locale, UnknownLocaleError
from babel.dates import format_date, format_time

DEFAULT_LOCALE = "en"


@lru_cache(maxsize=256)
def _locale(tag: str | None) -> Locale:
    try:
        return Locale.parse((tag or DEFAULT_LOCALE).replace("-", "_"))
    except (UnknownLocaleError, ValueError, TypeError):
        return Locale.parse(DEFAULT_LOCALE)


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def format_day(value: datetime, locale: str | None = None) -> str:
    """``December 27, 2026``: a date without a time."""
    return format_date(_utc(value), "long", locale=_locale(locale))


def format_moment(value: datetime, locale: str | None = None) -> str:
    """``December 27, 2026, 10:00 UTC``: a date and a 24-hour UTC time."""
    moment = _utc(value)
    time = format_time(moment, "HH:mm", tzinfo=UTC, locale=_locale(locale))
    return f"{format_day(moment, locale)}, {time} UTC"
