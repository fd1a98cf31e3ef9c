"""One date format everywhere, in the reader's locale."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from hypothesis import given
from hypothesis import strategies as st

from secinfo.domain.dates import format_day, format_moment

MOMENT = datetime(2026, 12, 27, 10, 0, tzinfo=UTC)


def test_a_moment_in_english_british_english_and_german() -> None:
    assert format_moment(MOMENT) == "December 27, 2026, 10:00 UTC"
    assert format_moment(MOMENT, "en-GB") == "27 December 2026, 10:00 UTC"
    assert format_moment(MOMENT, "de") == "27. Dezember 2026, 10:00 UTC"
    assert format_day(MOMENT, "de") == "27. Dezember 2026"


def test_an_unknown_locale_falls_back_to_english() -> None:
    assert format_moment(MOMENT, "xx-not-a-locale") == format_moment(MOMENT, "en")
    assert format_moment(MOMENT, "") == format_moment(MOMENT, "en")


@given(st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1)))
def test_the_time_is_always_said_in_utc(value: datetime) -> None:
    aware = value.replace(tzinfo=UTC)
    elsewhere = aware.astimezone(timezone(timedelta(hours=-7)))
    assert format_moment(elsewhere) == format_moment(aware)  # the same moment, one text
    assert format_moment(value) == format_moment(aware)  # naive values are UTC
    assert format_moment(aware).endswith(f"{aware:%H:%M} UTC")
