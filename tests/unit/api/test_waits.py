"""Prefer header parsing and the wait slots of JobWaits (no Redis: no slot means no wait)."""

import pytest

from render_api.waits import MAX_WAIT, JobWaits, parse_prefer_wait


@pytest.mark.parametrize("header, seconds", [
    ("wait=5", 5), ("respond-async, wait=10", 10), ('wait="7"', 7), ("WAIT=3", 3), ("wait=0", 0),
    ("wait=600", MAX_WAIT), ("wait=soon", None), ("wait=-1", None), ("return=minimal", None), (None, None), ("", None),
])
def test_parse_prefer_wait(header, seconds):
    assert parse_prefer_wait(header) == seconds


def test_no_slot_reads_the_job_once_and_does_not_wait():
    reads = []
    waits = JobWaits(client=None, max_waits=0)
    job, applied = waits.wait("id", lambda: reads.append(1) or "job", timeout=30)
    assert (job, applied, reads) == ("job", False, [1])
