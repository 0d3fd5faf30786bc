"""CurrentJob: the job record of a message is loaded once, whichever middleware asks first."""

from __future__ import annotations

import time

import dramatiq
from dramatiq.middleware import CurrentMessage

from render_core.dispatch.messages import RUN_JOB, run_job_message
from render_core.gpu.pool import GpuPool, PoolPolicy
from render_core.jobs.store import JobStore
from render_core.plugin import Schema, Task, TextOutput
from render_core.worker.current_job import CurrentJob
from render_core.worker.middleware import Deadline, GpuLease, StageMetrics
from support.job_harness import create_job, make_registry, process
from support.scripted_provider import ScriptedProvider

TASK = Task("counted", Schema({}), lambda ctx, params: TextOutput(""), output="text", workload="media:fast")


class CountingStore(JobStore):
    """A JobStore that counts ``get`` calls."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.loads = 0

    def get(self, job_id):
        self.loads += 1
        return super().get(job_id)


def test_one_load_per_message_through_the_whole_middleware_stack(redis_client, stub_broker, lifecycle):
    store = CountingStore(redis_client, ttl=600)
    current_job = CurrentJob(store)
    pool = GpuPool(redis_client, ScriptedProvider(time.time), PoolPolicy(pre_launch_wait=0, pre_launch_wait_max=0))
    lease = GpuLease(make_registry(TASK), current_job, lifecycle.finish, pool, queue_length=lambda queue: 0)
    for middleware in (CurrentMessage(), Deadline(current_job, lifecycle.finish), StageMetrics(current_job), lease):
        stub_broker.add_middleware(middleware)
    stub_broker.declare_queue(TASK.queue)
    loads_seen_by_actor = []

    def run_job(job_id):
        job = current_job.get(CurrentMessage.get_current_message())
        assert job.id == job_id
        loads_seen_by_actor.append(store.loads)
        current_job.clear()

    dramatiq.actor(run_job, broker=stub_broker, actor_name=RUN_JOB, queue_name=TASK.queue,
                   deadline=True, stage_metrics=True, gpu_lease=True)
    first, second = create_job(store, TASK.name), create_job(store, TASK.name)
    store.loads = 0
    process(stub_broker, run_job_message(TASK.queue, first))
    process(stub_broker, run_job_message(TASK.queue, second))
    assert loads_seen_by_actor == [1, 2]


def test_a_new_message_loads_again_and_refresh_reloads(redis_client):
    store = CountingStore(redis_client, ttl=600)
    current_job = CurrentJob(store)
    job_id = create_job(store, "counted")
    message = run_job_message(TASK.queue, job_id)
    assert current_job.get(message).status == "queued"
    store.transition(job_id, "running")
    assert current_job.get(message).status == "queued", "the same message keeps its record"
    assert current_job.refresh(message).status == "running"
    assert current_job.get(run_job_message(TASK.queue, job_id)).status == "running"
    assert store.loads == 3
    current_job.clear()
    current_job.get(message)
    assert store.loads == 4


def test_a_gone_record_is_none():
    class EmptyStore:
        def get(self, job_id):
            return None

    assert CurrentJob(EmptyStore()).get(run_job_message("task.x", "missing")) is None
