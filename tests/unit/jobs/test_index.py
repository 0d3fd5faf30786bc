"""Cursors of GET /jobs: round-trip exactly, every string of the documented form is one, nothing else is."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from render_core.jobs.index import CURSOR_PATTERN, BadCursor, Cursor


def test_cursors_round_trip_and_refuse_garbage():
    cursor = Cursor(1764480000.123456, "0b6c1c4e-2f0a-4d7e-9d55-2a1a3f6f2e11")
    assert Cursor.decode(cursor.encode()) == cursor
    for text in ("!!", "e30", "WzFd"):
        with pytest.raises(BadCursor):
            Cursor.decode(text)


@settings(max_examples=300, derandomize=True, database=None)
@given(st.from_regex(CURSOR_PATTERN, fullmatch=True))
def test_every_string_of_the_documented_form_is_a_cursor(text):
    cursor = Cursor.decode(text)
    assert cursor.job_id == text.split("_")[1] and cursor.score == float(text.split("_")[0])


def test_a_trailing_newline_is_not_a_cursor():
    with pytest.raises(BadCursor):
        Cursor.decode(Cursor(1.5, "0b6c1c4e-2f0a-4d7e-9d55-2a1a3f6f2e11").encode() + "\n")
