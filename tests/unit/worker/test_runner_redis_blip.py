"""A Redis restart while a job runs delays its state writes; the job still ends, with its webhook."""

from __future__ import annotations

import threading
import time

import pytest
import redis

from render_core.jobs.lifecycle import JobLifecycle
from render_core.jobs.store import JobStore
from render_core.devtools.devservices import RedisServer
from render_core.net.http import AddressPolicy
from render_core.net.redis_retry import NO_RETRY, RedisRetry
from render_core.plugin import Schema, Task, TextOutput
from render_core.sdk.node import Node
from render_core.worker.runner import Runner
from support.job_harness import create_job, make_registry, owed_webhooks


class LocalLease:
    def current_node(self):
        return Node.local_machine()

    def mark_unhealthy(self):
        pass


@pytest.fixture
def server(tmp_path):
    with RedisServer(tmp_path / "redis", appendonly=True, appendfsync="always") as server:
        yield server


def run_through_a_restart(server, settings, stub_broker, retry):
    """Run a job whose task stops Redis; Redis is back on the same port and data 1.5 s later
    (restarted from this thread: a server dies with the thread that started it)."""
    client = redis.Redis.from_url(server.url, socket_timeout=2, socket_connect_timeout=1)
    store = JobStore(client, ttl=600, retry=retry)
    killed = threading.Event()
    failure: list[BaseException] = []

    def run(ctx, params):
        server.kill()
        killed.set()
        return TextOutput("made it")

    def run_job():
        try:
            runner.run(store.get(job_id))
        except BaseException as exc:
            failure.append(exc)

    task = Task("blip", Schema({}), run, output="text")
    runner = Runner(settings=settings, registry=make_registry(task), lifecycle=JobLifecycle(store, stub_broker),
                    lease=LocalLease(), storage=lambda: None, url_policy=AddressPolicy())
    job_id = create_job(store, "blip", notify_url="https://hooks.example/x")
    thread = threading.Thread(target=run_job)
    thread.start()
    assert killed.wait(10)
    time.sleep(1.5)
    server.start()
    thread.join(30)
    if failure:
        raise failure[0]
    return store, job_id


def test_the_terminal_write_waits_for_redis_to_come_back(server, settings, stub_broker):
    store, job_id = run_through_a_restart(server, settings, stub_broker, RedisRetry(budget=20))
    job = store.get(job_id)
    assert (job.status, job.text) == ("success", "made it")
    assert [webhook[0] for webhook in owed_webhooks(store.client)] == [job_id]


def test_without_a_retry_the_write_fails(server, settings, stub_broker):
    with pytest.raises(redis.ConnectionError):
        run_through_a_restart(server, settings, stub_broker, NO_RETRY)
