"""Cursors of GET /jobs: opaque, round-trip exactly, refuse anything else."""

import pytest

from render_core.jobs.index import BadCursor, Cursor


def test_cursors_round_trip_and_refuse_garbage():
    cursor = Cursor(1764480000.123456, "0b6c1c4e-2f0a-4d7e-9d55-2a1a3f6f2e11")
    assert Cursor.decode(cursor.encode()) == cursor
    for text in ("!!", "e30", "WzFd"):
        with pytest.raises(BadCursor):
            Cursor.decode(text)
