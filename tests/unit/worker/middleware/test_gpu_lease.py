"""The GpuLease middleware on a StubBroker: a node leased from a real pool (throwaway Redis) per job."""

from __future__ import annotations

import time

import dramatiq
import pytest
from dramatiq.middleware import CurrentMessage

from render_core.dispatch.messages import RUN_JOB, run_job_message
from render_core.gpu.pool import GpuPool, PoolPolicy
from render_core.plugin import Schema, Task, TextOutput
from render_core.worker.current_job import CurrentJob
from render_core.worker.middleware import GpuLease
from support.job_harness import create_job, make_registry, owed_webhooks, process
from support.scripted_provider import ScriptedProvider

GPU_TASK = Task("on-gpu", Schema({}), lambda ctx, params: TextOutput(""), output="text", workload="media:fast")
CPU_TASK = Task("on-cpu", Schema({}), lambda ctx, params: TextOutput(""), output="text")


@pytest.fixture
def provider():
    return ScriptedProvider(time.time)


@pytest.fixture
def pool(redis_client, provider):
    return GpuPool(redis_client, provider, PoolPolicy(lease_ttl=30.0, pre_launch_wait=0.0, pre_launch_wait_max=0.0,
                                                      ready_poll=0.05, ready_timeout=5.0))


class Setup:
    def __init__(self, broker, store, lifecycle, pool, *, gpu_lease=True):
        self.store = store
        self.lease = GpuLease(make_registry(GPU_TASK, CPU_TASK), CurrentJob(store), lifecycle.finish, pool,
                              queue_length=lambda queue: 0)
        broker.add_middleware(CurrentMessage())
        broker.add_middleware(self.lease)
        self.broker = broker
        self.seen: list[dict] = []
        self.unhealthy = False
        for task in (GPU_TASK, CPU_TASK):
            broker.declare_queue(task.queue)
        dramatiq.actor(self.run, broker=broker, actor_name=RUN_JOB, queue_name=GPU_TASK.queue,
                       gpu_lease=gpu_lease)

    def run(self, job_id):
        message = CurrentMessage.get_current_message()
        node = self.lease.current_node()
        self.seen.append({"node": node.instance_id, "local": node.local,
                          "time_limit": message.options.get("time_limit")})
        if self.unhealthy:
            self.lease.mark_unhealthy()

    def run_job(self, task: Task, **job) -> str:
        job_id = create_job(self.store, task.name, **job)
        process(self.broker, run_job_message(task.queue, job_id))
        return job_id


@pytest.fixture
def setup(stub_broker, store, lifecycle, pool):
    return Setup(stub_broker, store, lifecycle, pool)


def states(pool):
    return {record["id"]: record["state"] for record in pool.instances()}


def test_a_gpu_task_runs_on_a_leased_node_that_goes_back_idle(setup, pool, provider):
    setup.run_job(GPU_TASK, max_time=120)
    (seen,) = setup.seen
    assert seen["node"] == "inst-1" and not seen["local"]
    assert 0 < seen["time_limit"] <= 120_000
    assert states(pool) == {"inst-1": "idle"} and pool.instance("inst-1")["holder"] == ""
    setup.run_job(GPU_TASK)
    assert setup.seen[1]["node"] == "inst-1" and len(provider.launches) == 1


def test_a_node_the_job_found_broken_is_stopped(setup, pool, provider):
    setup.unhealthy = True
    setup.run_job(GPU_TASK)
    assert provider.stops == ["inst-1"] and pool.instances() == []
    assert pool.recently_failed() == {"inst-1"}


def test_no_node_before_the_deadline_fails_the_job_without_running_it(setup, provider, store):
    provider.launch_error = "no capacity left"
    job_id = setup.run_job(GPU_TASK, notify_url="https://hooks.example/x")
    job = store.get(job_id)
    assert setup.seen == [] and job.status == "failed"
    assert "could not launch a media:fast GPU node: no capacity left" in job.error
    assert [webhook[0] for webhook in owed_webhooks(store.client)] == [job_id]


def test_a_task_without_a_workload_runs_locally(setup, pool, provider):
    setup.run_job(CPU_TASK)
    assert setup.seen[0]["local"] and setup.seen[0]["time_limit"] is None
    assert provider.launches == [] and pool.instances() == []


def test_without_a_pool_every_task_runs_locally(stub_broker, store, lifecycle, provider):
    setup = Setup(stub_broker, store, lifecycle, None)
    setup.run_job(GPU_TASK)
    assert setup.seen[0]["local"] and provider.launches == []


def test_actors_without_the_option_lease_nothing(stub_broker, store, lifecycle, pool, provider):
    setup = Setup(stub_broker, store, lifecycle, pool, gpu_lease=False)
    setup.run_job(GPU_TASK)
    assert setup.seen[0]["local"] and provider.launches == []
