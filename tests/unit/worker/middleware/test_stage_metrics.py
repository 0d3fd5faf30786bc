"""The StageMetrics middleware on a StubBroker: queue wait and jobs in progress, per task."""

from __future__ import annotations

import time

import dramatiq
import pytest
from dramatiq.middleware import CurrentMessage
from prometheus_client import REGISTRY

from render_core.dispatch.messages import RUN_JOB, run_job_message
from render_core.worker.current_job import CurrentJob
from render_core.worker.middleware import StageMetrics
from support.job_harness import create_job, process

QUEUE = "task.metered"
TASK = "metered"


def in_progress() -> float:
    return REGISTRY.get_sample_value("c3_render_jobs_in_progress", {"task": TASK}) or 0.0


def queue_wait() -> tuple[float, float]:
    """(count, sum in s) of the task's queue_wait observations."""
    labels = {"task": TASK, "stage": "queue_wait"}
    return (REGISTRY.get_sample_value("c3_render_stage_duration_seconds_count", labels) or 0.0,
            REGISTRY.get_sample_value("c3_render_stage_duration_seconds_sum", labels) or 0.0)


@pytest.fixture
def broker(stub_broker, store):
    stub_broker.add_middleware(CurrentMessage())
    stub_broker.add_middleware(StageMetrics(CurrentJob(store)))
    stub_broker.declare_queue(QUEUE)
    return stub_broker


def declare(broker, *, stage_metrics=True, fail=False):
    seen = []

    def run(job_id):
        seen.append(in_progress())
        if fail:
            raise RuntimeError("the actor failed")

    dramatiq.actor(run, broker=broker, actor_name=RUN_JOB, queue_name=QUEUE, stage_metrics=stage_metrics)
    return seen


def test_queue_wait_is_observed_and_the_job_counted_while_it_runs(broker, store):
    seen = declare(broker)
    job_id = create_job(store, TASK)
    count, total = queue_wait()
    before = in_progress()
    enqueued_long_ago = run_job_message(QUEUE, job_id).copy(message_timestamp=int((time.time() - 30) * 1000))
    process(broker, enqueued_long_ago)
    new_count, new_total = queue_wait()
    assert new_count == count + 1 and new_total - total >= 30
    assert seen == [before + 1] and in_progress() == before


def test_the_gauge_comes_back_down_when_the_actor_fails(broker, store):
    seen = declare(broker, fail=True)
    before = in_progress()
    process(broker, run_job_message(QUEUE, create_job(store, TASK)))
    assert seen == [before + 1] and in_progress() == before


def test_actors_without_the_option_are_not_measured(broker, store):
    seen = declare(broker, stage_metrics=False)
    count, _ = queue_wait()
    before = in_progress()
    process(broker, run_job_message(QUEUE, create_job(store, TASK)))
    assert seen == [before] and queue_wait()[0] == count
