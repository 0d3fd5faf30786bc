"""The Deadline middleware on a StubBroker with an embedded worker: expire, skip, time-limit."""

from __future__ import annotations

import time

import dramatiq
import pytest
from dramatiq.middleware import CurrentMessage, TimeLimit, TimeLimitExceeded

from render_core.dispatch.messages import RUN_JOB, run_job_message
from render_core.worker.current_job import CurrentJob
from render_core.worker.middleware import Deadline
from support.job_harness import create_job, owed_webhooks, process

QUEUE = "task.probe"


class Probe:
    """A ``run_job`` actor that records what it saw: the job's status and its time limit (ms)."""

    def __init__(self, broker, store, *, deadline: bool = True, work=None):
        self.store = store
        self.seen: list[tuple[str, int | None]] = []
        self.work = work
        self.actor = dramatiq.actor(self.run, broker=broker, actor_name=RUN_JOB, queue_name=QUEUE,
                                    deadline=deadline)

    def run(self, job_id):
        message = CurrentMessage.get_current_message()
        self.seen.append((self.store.status(job_id), message.options.get("time_limit")))
        if self.work:
            self.work()


@pytest.fixture
def broker(stub_broker, store, lifecycle):
    for middleware in (CurrentMessage(), Deadline(CurrentJob(store), lifecycle.finish), TimeLimit()):
        stub_broker.add_middleware(middleware)
    stub_broker.declare_queue(QUEUE)
    return stub_broker


def test_a_job_past_complete_by_is_expired_without_running(broker, store):
    probe = Probe(broker, store)
    job_id = create_job(store, "probe", notify_url="https://hooks.example/x")
    store.client.hset(f"c3render:job:{job_id}", "complete_by", time.time() - 30)
    process(broker, run_job_message(QUEUE, job_id))
    job = store.get(job_id)
    assert probe.seen == [] and job.status == "expired"
    assert "not started before its complete_by deadline" in job.error
    (webhook,) = owed_webhooks(store.client)
    assert webhook[2] == {"id": job_id, "status": "expired", "error": job.error}


def test_a_terminal_job_is_skipped_and_sends_no_second_webhook(broker, store, lifecycle):
    probe = Probe(broker, store)
    job_id = create_job(store, "probe", notify_url="https://hooks.example/x")
    store.transition(job_id, "running")
    lifecycle.finish(job_id, "success", text="done")
    process(broker, run_job_message(QUEUE, job_id))
    assert probe.seen == [] and store.get(job_id).text == "done"
    assert [webhook[2]["status"] for webhook in owed_webhooks(store.client)] == ["success"]


def test_a_message_whose_record_is_gone_is_skipped(broker, store):
    probe = Probe(broker, store)
    process(broker, run_job_message(QUEUE, "00000000-0000-4000-8000-000000000000"))
    assert probe.seen == []


def test_a_runnable_job_gets_a_time_limit_of_its_max_time(broker, store):
    probe = Probe(broker, store)
    job_id = create_job(store, "probe", max_time=120, complete_in=3600)
    process(broker, run_job_message(QUEUE, job_id))
    ((status, limit),) = probe.seen
    assert status == "queued" and 100_000 < limit <= 120_000


def test_the_time_limit_stops_at_complete_by_when_that_comes_first(broker, store):
    probe = Probe(broker, store)
    job_id = create_job(store, "probe", max_time=1200, complete_in=3600)
    store.client.hset(f"c3render:job:{job_id}", "complete_by", time.time() + 300)
    process(broker, run_job_message(QUEUE, job_id))
    assert 280_000 < probe.seen[0][1] <= 300_000


def test_a_redelivered_running_job_is_limited_from_its_first_start(broker, store):
    probe = Probe(broker, store)
    job_id = create_job(store, "probe", max_time=120)
    store.transition(job_id, "running", started_at=time.time() - 100)
    process(broker, run_job_message(QUEUE, job_id))
    assert 0 < probe.seen[0][1] <= 20_000


def test_actors_without_the_option_are_left_alone(broker, store):
    probe = Probe(broker, store, deadline=False)
    job_id = create_job(store, "probe")
    store.client.hset(f"c3render:job:{job_id}", "complete_by", time.time() - 30)
    process(broker, run_job_message(QUEUE, job_id))
    assert probe.seen == [("queued", None)] and store.status(job_id) == "queued"


def test_the_time_limit_interrupts_a_job_that_overruns(broker, store):
    interrupted = []

    def overrun():
        try:
            for _ in range(200):  # 10 s at most
                time.sleep(0.05)
        except TimeLimitExceeded:
            interrupted.append(True)

    Probe(broker, store, work=overrun)
    job_id = create_job(store, "probe", max_time=60)
    store.client.hset(f"c3render:job:{job_id}", "complete_by", time.time() + 1)
    process(broker, run_job_message(QUEUE, job_id))
    assert interrupted == [True]
