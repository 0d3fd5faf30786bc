"""The shared GPU pool with real worker processes against a fake Comput3 API.

Each test gets its own Redis, fake provider and two ``c3-render worker``
processes; afterwards the fake provider must have no running instance.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time

import pytest

from render_core.devtools.devservices import RedisServer, free_port
from render_core.gpu.monitor import LEADER_KEY
from render_core.sdk.registry import load_registry
from render_core.worker.services import WorkerServices
from render_core.config.settings import Settings
from support.fake_comput3 import FakeComput3
from support.servers import wait_for
from support.stack import spawn, stop

TERMINAL = {"success", "failed", "timed_out", "cancelled", "expired"}


class Cluster:
    """Redis + fake Comput3 + N worker processes sharing one GPU pool."""

    def __init__(self, base_env: dict, tmp_path, fake: FakeComput3, **overrides):
        self.redis = RedisServer(tmp_path / "redis")
        self.redis.start()
        self.fake = fake
        self.env = {**base_env, "REDIS_URL": self.redis.url, "GPU_PROVIDER": "comput3", "C3_API_KEY": fake.api_key,
                    "C3_API_URL": fake.api_url, "C3_NODE_URL": fake.node_url_template,
                    "C3_UI_URL": fake.ui_url_template, "C3_LAUNCH_BACKOFF": "0.1,0.2",
                    "MONITOR_INTERVAL": "0.5", "HEALTH_TRIES": "2", "HEALTH_RETRY_DELAY": "0.2",
                    "HEALTH_TIMEOUT": "1", "LEASE_TTL": "3", "GPU_IDLE_TIMEOUT": "300",
                    "PRE_LAUNCH_TIMEOUT": "20", "PRE_LAUNCH_TIMEOUT_MAX": "20", "GPU_MAX_INSTANCES": "2",
                    "NODE_RETRY_ATTEMPTS": "2", "OUTPUT_DIR": str(tmp_path / "output")}
        self.env.update({k: str(v) for k, v in overrides.items()})
        self.tmp_path = tmp_path
        self.workers: list = []
        self.services = WorkerServices(Settings.from_env(self.env), load_registry())

    def start_worker(self):
        env = {**self.env, "METRICS_PORT": str(free_port())}
        index = len(self.workers)
        process = spawn(["worker", "--processes", "1", "--threads", "2"], env, self.tmp_path / f"worker{index}.log")
        self.workers.append(process)
        return process

    def submit(self, seconds: float = 0.5, message: str = "gpu", **params):
        task = self.services.registry.get("echo-gpu")
        body = {"message": message, "seconds": seconds, "fail": None, "ignore_cancel": False, "input_url": None,
                "notify_url": None, "max_time": 120, "complete_in": 300, **params}
        return self.services.lifecycle.submit(task, body)["id"]

    def wait(self, job_id: str, timeout: float = 60.0):
        return wait_for(lambda: (job := self.services.jobs.get(job_id)) and job.status in TERMINAL and job,
                        timeout=timeout, interval=0.1, message=f"job {job_id}")

    def logs(self) -> str:
        return "\n".join(p.read_text()[-3000:] for p in sorted(self.tmp_path.glob("worker*.log")))

    def close(self):
        for process in self.workers:
            stop(process)
        # nothing may be left billing: stop what the pool still tracks, then check the provider
        pool = self.services.pool
        for record in pool.instances():
            pool.stop(record["id"], reason="test teardown")
        self.redis.stop()


@pytest.fixture
def fake():
    with FakeComput3(launch_delay=0.5) as server:
        yield server
        assert server.running() == [], "the test left instances running at the provider"


@pytest.fixture
def cluster_factory(stack_env, tmp_path, fake):
    made = []

    def make(**overrides):
        cluster = Cluster(stack_env, tmp_path, fake, **overrides)
        made.append(cluster)
        return cluster

    yield make
    for cluster in made:
        cluster.close()


def test_idle_instance_is_reused(cluster_factory):
    cluster = cluster_factory()
    cluster.start_worker()
    first = cluster.wait(cluster.submit())
    second = cluster.wait(cluster.submit())
    assert first.status == second.status == "success", cluster.logs()
    assert first.metadata["instance"] == second.metadata["instance"]
    assert cluster.fake.launch_calls == 1


def test_two_workers_needing_a_gpu_at_once_cause_one_launch(cluster_factory):
    cluster = cluster_factory()
    cluster.start_worker()
    cluster.start_worker()
    time.sleep(1.0)
    jobs = [cluster.submit(seconds=1.0), cluster.submit(seconds=1.0)]
    results = [cluster.wait(job_id) for job_id in jobs]
    assert [r.status for r in results] == ["success", "success"], cluster.logs()
    assert cluster.fake.launch_calls == 1
    assert results[0].metadata["instance"] == results[1].metadata["instance"]


def test_idle_instance_is_stopped_after_the_idle_timeout(cluster_factory):
    cluster = cluster_factory(GPU_IDLE_TIMEOUT=2)
    cluster.start_worker()
    assert cluster.wait(cluster.submit()).status == "success"
    assert len(cluster.fake.running()) == 1
    wait_for(lambda: cluster.fake.running() == [], timeout=20, message="the idle instance to be stopped")
    assert cluster.services.pool.instances() == []


def test_instance_dying_mid_job_is_replaced_and_the_job_retried(cluster_factory):
    cluster = cluster_factory()
    cluster.start_worker()
    job_id = cluster.submit(seconds=6)
    wait_for(lambda: len(cluster.fake.running()) == 1 and cluster.services.jobs.status(job_id) == "running",
             message="the job to run on a node")
    first = cluster.fake.running()[0]["workload"]
    cluster.fake.kill(first)
    job = cluster.wait(job_id)
    assert job.status == "success", (job.error, cluster.logs())
    assert job.metadata["instance"] != first and job.attempts == 2
    assert cluster.fake.instance(first).stopped is not None, "the dead instance was not stopped"
    assert cluster.fake.launch_calls == 2


def test_node_failing_on_every_attempt_ends_the_job_with_a_clear_error(cluster_factory):
    cluster = cluster_factory(NODE_RETRY_ATTEMPTS=0)
    cluster.start_worker()
    job_id = cluster.submit(seconds=6)
    wait_for(lambda: cluster.services.jobs.status(job_id) == "running" and cluster.fake.running(),
             message="the job to run")
    cluster.fake.kill(cluster.fake.running()[0]["workload"])
    job = cluster.wait(job_id)
    assert job.status == "failed" and "GPU node failed" in job.error
    node_host = cluster.fake.api_url.split("//")[1].split("/")[0]  # the fake's nodes share its host:port
    for shown in filter(None, (job.error, job.progress_message)):  # what GET /status shows
        assert node_host not in shown and "127.0.0.1" not in shown and "ConnectionPool" not in shown, shown


def test_killed_worker_lease_is_reclaimed_and_the_job_finishes(cluster_factory):
    cluster = cluster_factory()
    victim = cluster.start_worker()
    job_id = cluster.submit(seconds=4)
    wait_for(lambda: cluster.services.jobs.status(job_id) == "running", message="the job to start")
    _kill_worker(victim)
    cluster.start_worker()
    job = cluster.wait(job_id, timeout=90)
    assert job.status == "success", cluster.logs()
    assert cluster.fake.launch_calls == 1, "the reclaimed instance should have been reused"


def test_monitor_leadership_moves_when_the_leader_dies(cluster_factory):
    cluster = cluster_factory()
    first = cluster.start_worker()
    wait_for(lambda: cluster.services.redis.get(LEADER_KEY), message="a monitor leader")
    leader = cluster.services.redis.get(LEADER_KEY).decode()
    cluster.start_worker()
    _kill_worker(first)
    wait_for(lambda: (value := cluster.services.redis.get(LEADER_KEY)) and value.decode() != leader,
             timeout=20, message="another leader")


def _kill_worker(process) -> None:
    """SIGKILL a ``c3-render worker`` and the Dramatiq processes it forked, as a crash would."""
    children = subprocess.run(["pgrep", "-P", str(process.pid)], capture_output=True, text=True).stdout.split()
    assert children, "the worker has no child processes to kill"
    for pid in [process.pid, *map(int, children)]:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    process.wait()


def test_cancelling_a_running_job_releases_its_lease(cluster_factory):
    cluster = cluster_factory()
    cluster.start_worker()
    job_id = cluster.submit(seconds=30)
    wait_for(lambda: cluster.services.jobs.status(job_id) == "running", message="the job to start")
    assert cluster.services.lifecycle.finish(job_id, "cancelled", error="stop it")  # what POST /job/{id} does
    pool = cluster.services.pool
    wait_for(lambda: [r["state"] for r in pool.instances()] == ["idle"], timeout=10,
             message="the lease to be released")
    assert cluster.services.jobs.get(job_id).status == "cancelled"
    assert cluster.fake.launch_calls == 1


def test_instance_slower_to_start_than_a_lease_is_not_reclaimed(cluster_factory):
    cluster = cluster_factory(LEASE_TTL=1, GPU_READY_TIMEOUT=30, HEALTH_RETRY_DELAY=0.2)
    cluster.fake.launch_delay = 4  # the node answers 503 for 4 s, longer than 3 monitor passes and a lease
    cluster.start_worker()
    job = cluster.wait(cluster.submit(seconds=0.5))
    assert job.status == "success", (job.error, cluster.logs())
    assert cluster.fake.launch_calls == 1


def test_surplus_idle_instances_stop_before_the_warm_one(cluster_factory):
    # fixed idle policy: with launches this fast (0.5 s) the learned limit would stop both at once
    cluster = cluster_factory(GPU_SURPLUS_IDLE_TIMEOUT=1, GPU_IDLE_TIMEOUT=300, PRE_LAUNCH_TIMEOUT=0,
                              PRE_LAUNCH_TIMEOUT_MAX=0, GPU_LAUNCH_BACKLOG=1, GPU_IDLE_POLICY="fixed")
    cluster.start_worker()
    jobs = [cluster.submit(seconds=2), cluster.submit(seconds=2)]
    assert [cluster.wait(job_id).status for job_id in jobs] == ["success", "success"]
    assert cluster.fake.launch_calls == 2
    wait_for(lambda: len(cluster.fake.running()) == 1, timeout=20, message="the surplus instance to stop")
    time.sleep(2)
    assert len(cluster.fake.running()) == 1, "the warm instance must stay for GPU_IDLE_TIMEOUT"
