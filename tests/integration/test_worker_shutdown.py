"""A worker told to stop (SIGTERM): running jobs get WORKER_SHUTDOWN_TIMEOUT, the rest go
back to the queue and another worker runs them; nothing ends failed because of it.

These tests run their own workers on a Redis database of their own, so the session's
worker never takes their jobs.
"""

from __future__ import annotations

import signal

import pytest

from render_api.services import ApiServices
from render_core.config.settings import Settings
from render_core.sdk.registry import load_registry
from support.servers import wait_for
from support.stack import spawn, stop

#: Redis database of these tests (the session's stack uses 0).
DATABASE = 7


@pytest.fixture
def isolated(stack_env, redis_server, services_dir):
    """(environment, services) on a Redis database no other worker consumes."""
    env = {**stack_env, "REDIS_URL": redis_server.url.rsplit("/", 1)[0] + f"/{DATABASE}", "METRICS_PORT": "0"}
    services = ApiServices(Settings.from_env(env), load_registry())
    services.redis.flushdb()
    yield env, services
    services.redis.flushdb()


@pytest.fixture
def workers(services_dir):
    """start(name, env, *flags) -> a `c3-render worker` with 1 thread; all stopped at the end."""
    started = []

    def start(name, env, *flags):
        process = spawn(["worker", "--processes", "1", "--threads", "1", *flags], env, services_dir / f"{name}.log")
        started.append(process)
        return process

    yield start
    for process in started:
        stop(process)


def echo(services, seconds: float) -> str:
    params = {"message": f"{seconds} s", "seconds": seconds, "fail": None, "ignore_cancel": False,
              "input_url": None, "notify_url": None, "max_time": 120, "complete_in": 600}
    return services.lifecycle.submit(services.registry.get("echo"), params)["id"]


def job(services, job_id):
    return services.jobs.get(job_id)


@pytest.mark.slow
def test_a_job_longer_than_the_drain_is_requeued_and_finished_by_another_worker(isolated, workers,
                                                                                services_dir):
    env, services = isolated
    first = workers("stopping-worker", {**env, "WORKER_SHUTDOWN_TIMEOUT": "1"})
    job_id = echo(services, seconds=6)
    wait_for(lambda: job(services, job_id).status == "running", timeout=30, message="the job to start")
    first.send_signal(signal.SIGTERM)

    requeued = wait_for(lambda: (j := job(services, job_id)).status == "queued" and j, timeout=30,
                        message="the job to go back to the queue")
    assert requeued.attempts == 1 and requeued.started_at is None
    assert "queued again for another worker" in requeued.progress_message
    assert first.wait(timeout=60) == 0, (services_dir / "stopping-worker.log").read_text()

    workers("second-worker", env)
    done = wait_for(lambda: (j := job(services, job_id)).terminal and j, timeout=60,
                    message="the second worker to finish the job")
    assert (done.status, done.text, done.attempts) == ("success", "6 s", 2), done.error


@pytest.mark.slow
def test_prefetched_jobs_go_back_at_once_and_running_ones_finish_within_the_drain(isolated, workers):
    env, services = isolated
    # One thread that may hold a second message: the second job waits in the worker's memory.
    first = workers("draining-worker", {**env, "WORKER_SHUTDOWN_TIMEOUT": "60", "dramatiq_queue_prefetch": "2"})
    long_id = echo(services, seconds=12)
    wait_for(lambda: job(services, long_id).status == "running", timeout=30, message="the long job to start")
    short_id = echo(services, seconds=0)
    queue = "dramatiq:" + services.registry.get("echo").queue
    wait_for(lambda: services.redis.llen(queue) == 0, timeout=10,
             message="the first worker to prefetch the short job")
    first.send_signal(signal.SIGTERM)

    workers("second-worker", env)
    short = wait_for(lambda: (j := job(services, short_id)).terminal and j, timeout=60,
                     message="the second worker to run the short job")
    assert short.status == "success"
    assert first.poll() is None, "the short job should not have waited for the first worker's drain"

    assert first.wait(timeout=60) == 0
    long = job(services, long_id)
    assert (long.status, long.attempts) == ("success", 1)  # it finished within the drain, where it started
