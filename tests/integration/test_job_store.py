"""The job store against a real Redis: transitions, terminal protection, expiry."""

import itertools

import pytest
import redis

from render_core.jobs import status as st
from render_core.jobs.store import JobStore

PARAMS = {"complete_in": 3600, "max_time": 1200, "notify_url": None}


@pytest.fixture
def store(redis_server):
    return JobStore(redis.Redis.from_url(redis_server.url), ttl=100)


def create(store, params=PARAMS):
    record = store.new_record("echo", dict(params))
    with store.client.pipeline() as pipe:
        store.create(record, pipe)
        pipe.execute()
    return record["id"]


def test_record_round_trip_and_expiry(store):
    job_id = create(store)
    job = store.get(job_id)
    assert (job.type, job.status, job.params, job.attempts) == ("echo", "queued", PARAMS, 0)
    assert job.complete_by - job.created_at == pytest.approx(3600)
    assert 90 < store.client.ttl(f"c3render:job:{job_id}") <= 100


#: Whether a job may move from the row's status to the column's status, written out for every
#: pair (not derived from render_core.jobs.status, so a wrong entry there fails here).
#: running -> running is a redelivery after a worker died; running -> queued a retry on a fresh node.
TRANSITIONS = """
from \\ to   queued  running  success  failed  timed_out  cancelled  expired
queued        no      yes      no       yes     yes        yes        yes
running       yes     yes      yes      yes     yes        yes        yes
success       no      no       no       no      no         no         no
failed        no      no       no       no      no         no         no
timed_out     no      no       no       no      no         no         no
cancelled     no      no       no       no      no         no         no
expired       no      no       no       no      no         no         no
"""


def expected_transitions() -> dict[tuple[str, str], bool]:
    header, *rows = TRANSITIONS.strip().splitlines()
    columns = header.split()[3:]
    table = {}
    for row in rows:
        current, *answers = row.split()
        assert len(answers) == len(columns), row
        table.update({(current, new): answer == "yes" for new, answer in zip(columns, answers)})
    return table


EXPECTED = expected_transitions()


def test_the_table_covers_every_status_pair():
    statuses = ("queued", "running", "success", "failed", "timed_out", "cancelled", "expired")
    assert set(st.ALL) == set(statuses)
    assert set(EXPECTED) == set(itertools.product(statuses, statuses))


@pytest.mark.parametrize("current,new", sorted(EXPECTED))
def test_transition_table_is_enforced(store, current, new):
    job_id = create(store)
    store.client.hset(f"c3render:job:{job_id}", "status", current)
    applied, previous = store.transition(job_id, new)
    assert previous == current
    assert applied == EXPECTED[(current, new)] == st.can_move(current, new)
    assert store.status(job_id) == (new if applied else current)


def test_terminal_sets_finished_at_and_late_worker_cannot_overwrite(store):
    job_id = create(store)
    assert store.transition(job_id, st.RUNNING)[0]
    assert store.transition(job_id, st.CANCELLED, error="stop")[0]
    assert not store.transition(job_id, st.SUCCESS, text="late")[0]
    job = store.get(job_id)
    assert job.status == "cancelled" and job.text is None and job.finished_at


def test_update_writes_only_in_allowed_statuses_and_never_recreates(store):
    job_id = create(store)
    assert not store.update(job_id, progress=0.5)             # queued: not running
    store.transition(job_id, st.RUNNING)
    assert store.update(job_id, progress=0.5, progress_message="half")
    assert store.get(job_id).progress == 0.5
    store.delete(job_id)
    assert not store.update(job_id, progress=0.9)
    assert store.client.exists(f"c3render:job:{job_id}") == 0


def test_missing_job(store):
    assert store.get("00000000-0000-4000-8000-000000000000") is None
    assert store.transition("00000000-0000-4000-8000-000000000000", st.RUNNING) == (False, None)
