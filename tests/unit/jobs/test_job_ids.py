"""Job ids are lowercase UUIDs, matched in full."""

import pytest

from render_core.jobs.store import new_job_id, valid_job_id

ID = "0b8e3c1e-8a4e-4f0e-9a57-3f1c2d4e5f60"


def test_a_new_id_is_valid():
    assert valid_job_id(new_job_id())


@pytest.mark.parametrize("suffix", ["\n", "\r\n", " ", "x", "\x00"])
def test_an_id_with_anything_after_it_is_refused(suffix):
    assert valid_job_id(ID)
    assert not valid_job_id(ID + suffix)

