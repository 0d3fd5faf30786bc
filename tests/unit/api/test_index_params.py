"""The GET /jobs time bounds: the documented pattern admits exactly the real dates."""

import calendar
import re

import pytest

from render_api.resources.index_params import TIME, choices_pattern


@pytest.mark.parametrize("year", [1, 4, 100, 400, 1900, 2000, 2023, 2024, 9999])
def test_the_time_pattern_admits_exactly_the_calendar_dates(year):
    for month in range(1, 13):
        for day in range(1, 32):
            text = f"{year:04d}-{month:02d}-{day:02d}T00:00:00Z"
            assert bool(TIME.fullmatch(text)) == (day <= calendar.monthrange(year, month)[1]), text


@pytest.mark.parametrize("text,ok", [
    ("2026-01-31T12:00:00Z", True), ("2026-01-31t12:00:00.123456789+05:30", True), ("2026-01-31 12:00:00z", True),
    ("1764480000", True), ("1764480000.25", True), ("0000-01-01T00:00:00Z", False),
    ("2026-01-31T24:00:00Z", False), ("2026-01-31T12:00:60Z", False), ("2026-01-31T12:00:00", False),
    ("2026-01-31", False), ("yesterday", False), ("-5", False), ("1764480000\n", False),
])
def test_time_forms(text, ok):
    assert bool(TIME.fullmatch(text)) == ok


def test_choices_are_comma_separated_or_empty():
    pattern = choices_pattern(["echo", "echo-file"])
    assert [bool(re.fullmatch(pattern, v)) for v in ("", "echo", "echo-file,echo", "echo,", " echo", "ech")] \
        == [True, True, True, False, False, False]
