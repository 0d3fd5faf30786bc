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


def _job(redis_client):
    from render_core.jobs.store import JobStore

    store = JobStore(redis_client, 3600)
    record = store.new_record("echo", {"complete_in": 3600, "max_time": 600})
    with redis_client.pipeline() as pipe:
        store.create(record, pipe)
        pipe.execute()
    return store, record["id"]


def test_a_terminal_transition_wakes_the_waiter(redis_client):
    import threading

    from render_core.jobs import status as st

    store, job_id = _job(redis_client)
    waits = JobWaits(redis_client, max_waits=4)
    store.transition(job_id, st.RUNNING)
    timer = threading.Timer(0.5, lambda: store.transition(job_id, st.SUCCESS, text="done"))
    timer.start()
    job, applied = waits.wait(job_id, lambda: store.get(job_id), timeout=30)
    timer.join()
    assert applied and job.status == st.SUCCESS and job.text == "done"
    assert waits.waiting == 0


def test_when_the_wait_ends_the_status_is_read_again(redis_client):
    import threading

    from render_core.jobs import status as st

    store, job_id = _job(redis_client)
    waits = JobWaits(redis_client, max_waits=4)
    timer = threading.Timer(0.3, lambda: store.transition(job_id, st.RUNNING))  # not terminal: no wake-up
    timer.start()
    job, applied = waits.wait(job_id, lambda: store.get(job_id), timeout=1.0)
    timer.join()
    assert applied and job.status == st.RUNNING
