"""The sweeper against a real Redis (its own), with a clock the test moves: orphaned jobs are
requeued after the grace, held and waiting ones left alone, late ones ended with their webhook."""

import time

import pytest

from render_core.config.settings import Settings
from render_core.dispatch.broker import build_broker
from render_core.jobs import status as st
from render_core.jobs.keys import OPEN_JOBS, WEBHOOKS_DUE, job_key
from render_core.jobs.lifecycle import JobLifecycle
from render_core.jobs.store import JobStore
from render_core.sdk.schema import Schema
from render_core.sdk.task import Task, TextOutput
from render_core.worker.job_holds import JobHolds
from render_core.worker.sweeper import Sweeper, SweepPolicy

TASK = Task(name="echo", schema=Schema({}), run=lambda ctx, params: TextOutput(""), output="text")
GRACE = 10.0
QUEUE = f"dramatiq:{TASK.queue}"


class Clock:
    def __init__(self):
        self.now = time.time()

    def __call__(self):
        return self.now


@pytest.fixture
def client(private_client):
    return private_client


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def lifecycle(client):
    return JobLifecycle(JobStore(client, ttl=3600), build_broker(Settings(), client))


@pytest.fixture
def sweeper(lifecycle, clock):
    return Sweeper(lifecycle, SweepPolicy(interval=1.0, grace=GRACE), clock=clock)


def submit(lifecycle, complete_in=3600, **params):
    return lifecycle.submit(TASK, {"complete_in": complete_in, "max_time": 1200, **params})["id"]


def fetch(lifecycle, job_id, status=st.RUNNING):
    """What a worker does when it takes the job: the message leaves the queue, the job runs."""
    lifecycle.store.client.lrem(QUEUE, 0, lifecycle.store.get(job_id).message_id)
    if status == st.RUNNING:
        lifecycle.store.transition(job_id, st.RUNNING, started_at=time.time(), attempts=1)


def test_jobs_waiting_in_their_queue_are_left_alone(lifecycle, sweeper, clock):
    job_id = submit(lifecycle)
    for _ in range(3):
        report = sweeper.sweep_once()
        clock.now += GRACE
    assert (report.open, report.waiting, report.requeued, report.ended) == (1, 1, [], [])
    assert lifecycle.store.get(job_id).status == st.QUEUED


def test_an_orphaned_running_job_is_requeued_after_the_grace(lifecycle, sweeper, clock, client):
    job_id = submit(lifecycle)
    fetch(lifecycle, job_id)                                  # then the worker forgot it
    old = lifecycle.store.get(job_id).message_id
    assert sweeper.sweep_once().suspect == 1
    clock.now += GRACE - 1
    assert sweeper.sweep_once().requeued == []
    clock.now += 1
    assert sweeper.sweep_once().requeued == [job_id]
    job = lifecycle.store.get(job_id)
    assert job.status == st.QUEUED and job.message_id != old and "requeued" in job.progress_message
    assert client.lrange(QUEUE, 0, -1) == [job.message_id.encode()]
    assert sweeper.sweep_once().waiting == 1


def test_a_held_job_is_left_alone_until_its_hold_lapses(lifecycle, sweeper, clock):
    job_id = submit(lifecycle)
    fetch(lifecycle, job_id)
    JobHolds(lifecycle.store.client, ttl=3 * GRACE, clock=clock).publish([job_id])
    clock.now += 2 * GRACE
    assert sweeper.sweep_once().held == 1
    clock.now += GRACE + 1                                    # the holding process died: no renewal
    assert sweeper.sweep_once().suspect == 1
    clock.now += GRACE
    assert sweeper.sweep_once().requeued == [job_id]


def test_jobs_past_complete_by_and_grace_end_with_their_webhook(lifecycle, sweeper, clock, client):
    running = submit(lifecycle, complete_in=60, notify_url="http://127.0.0.1:9/h")
    fetch(lifecycle, running)
    JobHolds(client, ttl=1000, clock=clock).publish([running])   # even a live hold
    queued = submit(lifecycle, complete_in=60)
    clock.now += 60 + GRACE + 1
    report = sweeper.sweep_once()
    assert sorted(report.ended) == sorted([running, queued])
    late, waited = lifecycle.store.get(running), lifecycle.store.get(queued)
    assert late.status == st.TIMED_OUT and "complete_by" in late.error
    assert waited.status == st.EXPIRED and "not started" in waited.error
    assert client.zscore(WEBHOOKS_DUE, running) is not None and client.zcard(OPEN_JOBS) == 0


def test_an_orphan_without_time_left_is_ended_not_requeued(lifecycle, sweeper, clock):
    job_id = submit(lifecycle, complete_in=60)
    fetch(lifecycle, job_id, status=st.QUEUED)                # message lost before it ran
    clock.now += 60 - GRACE
    sweeper.sweep_once()
    clock.now += GRACE
    assert sweeper.sweep_once().ended == [job_id]
    job = lifecycle.store.get(job_id)
    assert job.status == st.EXPIRED and "message was lost" in job.error


def test_a_record_that_is_gone_leaves_the_index(lifecycle, sweeper, client):
    job_id = submit(lifecycle)
    client.delete(job_key(job_id))                            # expired or removed by hand
    assert sweeper.sweep_once().gone == 1
    assert client.zcard(OPEN_JOBS) == 0


def test_one_sweeper_leads(lifecycle, clock):
    first = Sweeper(lifecycle, SweepPolicy(interval=1.0, grace=GRACE), clock=clock)
    second = Sweeper(lifecycle, SweepPolicy(interval=1.0, grace=GRACE), clock=clock)
    assert first.leadership.try_lead() and not second.leadership.try_lead()
    assert first.leadership.try_lead()                        # renews
    first.stop()                                              # resigns at shutdown
    assert second.leadership.try_lead()


def test_invariant_every_open_job_is_terminal_by_complete_by_plus_the_margin(lifecycle, clock, client):
    """Whatever state a fault left them in, sweeps every ``interval`` end all jobs by complete_by + margin."""
    policy = SweepPolicy(interval=5.0, grace=GRACE)
    sweeper = Sweeper(lifecycle, policy, clock=clock)
    holds = JobHolds(client, ttl=10_000, clock=clock)
    waiting = submit(lifecycle, complete_in=60)                              # never picked up
    held = submit(lifecycle, complete_in=60)                                 # a worker stuck in it
    fetch(lifecycle, held)
    holds.publish([held])
    lost = submit(lifecycle, complete_in=60)                                 # its message was lost
    fetch(lifecycle, lost, status=st.QUEUED)
    forgotten = submit(lifecycle, complete_in=60)                            # running, worker died
    fetch(lifecycle, forgotten)
    jobs = [waiting, held, lost, forgotten]
    complete_by = max(lifecycle.store.get(job_id).complete_by for job_id in jobs)
    while clock.now <= complete_by + policy.margin:
        for job_id in sweeper.sweep_once().requeued:                         # requeued ones get lost again
            fetch(lifecycle, job_id, status=st.QUEUED)
        clock.now += policy.interval
    assert {lifecycle.store.get(job_id).status for job_id in jobs} <= {st.TIMED_OUT, st.EXPIRED}
    assert client.zcard(OPEN_JOBS) == 0
