"""Dispatch against a real Redis: one-call submit, consumers woken instead of polling, periodic maintenance."""

from __future__ import annotations

import threading
import uuid

import pytest
import redis

from render_core.config.settings import Settings
from render_core.dispatch.broker import NAMESPACE, build_broker
from render_core.dispatch.messages import run_job_message
from render_core.jobs.index import ALL_KEY
from render_core.jobs.lifecycle import JobLifecycle
from render_core.jobs.store import JobStore
from render_core.sdk.schema import Schema
from render_core.sdk.task import Task

#: A consumer's idle timeout (ms) far longer than any test: only a wake-up can end its wait.
LONG_IDLE_MS = 120_000


def _noop(ctx, params):
    return None


@pytest.fixture
def brokers(redis_server):
    """Makes brokers on one client; closes them (their threads) after the test."""
    client = redis.Redis.from_url(redis_server.url)
    made = []

    def make():
        made.append(build_broker(Settings.from_env({}), client))
        return made[-1]

    yield client, make
    for broker in made:
        broker.close()


@pytest.fixture
def queue_name():
    return f"test-dispatch-{uuid.uuid4().hex[:8]}"


def _stats(client) -> dict[str, int]:
    return {name: values["calls"] for name, values in client.info("commandstats").items()}


def _next_in_thread(consumer) -> tuple[threading.Thread, list]:
    """Call ``next(consumer)`` in a thread until it yields a message (None = woken without one)."""
    got: list = []

    def take():
        while not got:
            message = next(consumer)
            if message is not None:
                got.append(message)

    thread = threading.Thread(target=take, daemon=True)
    thread.start()
    return thread, got


def test_submit_writes_record_and_message_in_one_script_call(brokers):
    client, make = brokers
    broker = make()
    store = JobStore(client, ttl=100)
    lifecycle = JobLifecycle(store, broker)
    task = Task(name=f"noop-{uuid.uuid4().hex[:8]}", schema=Schema({}), run=_noop, output="text")
    queue_name = task.queue
    lifecycle.submit(task, {"complete_in": 3600, "max_time": 60})  # loads the script once
    inside = ("hset", "expire", "zadd", "zremrangebyscore", "rpush", "publish")

    def others(calls):  # apart from INFO, only the EVALSHA and the writes its script makes
        return sum(n for name, n in calls.items() if name.startswith("cmdstat_") and name not in (
            "cmdstat_info", "cmdstat_evalsha", *(f"cmdstat_{c}" for c in inside)))

    # The server's counters are global: the brokers' background beat (a script call every 0.5 s) only
    # ever adds, so the quietest of a few measured submissions is the submission alone.
    measured = []
    for _ in range(5):
        before = _stats(client)
        record = lifecycle.submit(task, {"complete_in": 3600, "max_time": 60, "notify_url": None})
        after = _stats(client)
        measured.append({name: after.get(name, 0) - before.get(name, 0) for name in after})
        if measured[-1].get("cmdstat_evalsha") == 1 and not others(measured[-1]):
            break
    calls = min(measured, key=lambda c: (c.get("cmdstat_evalsha", 0), others(c)))
    assert calls.get("cmdstat_evalsha") == 1
    assert not calls.get("cmdstat_script|exists") and not calls.get("cmdstat_multi")
    assert others(calls) == 0

    job = store.get(record["id"])
    assert job.status == "queued" and job.type == task.name and job.max_time == 60
    assert client.zscore(ALL_KEY, record["id"]) == pytest.approx(record["created_at"])
    assert 90 < client.ttl(f"c3render:job:{record['id']}") <= 100
    ids = client.lrange(f"{NAMESPACE}:{queue_name}", 0, -1)
    assert len(ids) == 1 + len(measured)
    body = client.hget(f"{NAMESPACE}:{queue_name}.msgs", ids[-1])
    message = run_job_message(queue_name, record["id"]).decode(body)
    assert message.actor_name == "run_job" and message.args == (record["id"],)


def test_an_idle_consumer_is_woken_by_an_enqueue(brokers, queue_name):
    client, make = brokers
    sender, receiver = make(), make()
    receiver.declare_queue(queue_name)
    consumer = receiver.consume(queue_name, prefetch=1, timeout=LONG_IDLE_MS)
    thread, got = _next_in_thread(consumer)
    thread.join(0.5)
    assert thread.is_alive() and not got  # nothing queued: it waits
    sent = sender.enqueue(run_job_message(queue_name, "job-1"))
    thread.join(30)
    assert not thread.is_alive(), "the consumer was not woken by the enqueue"
    assert got[0].message_id == sent.message_id


def test_an_ack_wakes_a_full_consumer_for_the_next_message(brokers, queue_name):
    client, make = brokers
    broker = make()
    broker.declare_queue(queue_name)
    consumer = broker.consume(queue_name, prefetch=1, timeout=LONG_IDLE_MS)
    broker.enqueue(run_job_message(queue_name, "first"))
    first = next(consumer)
    # queued behind Dramatiq's own script: no wake-up is published for this one
    second = run_job_message(queue_name, "second").copy(options={"redis_message_id": "second"})
    broker._dispatch("enqueue")(queue_name, "second", second.encode())
    thread, got = _next_in_thread(consumer)
    thread.join(0.5)
    assert thread.is_alive()  # its one prefetch slot is taken
    consumer.ack(first)
    thread.join(30)
    assert not thread.is_alive(), "the ack did not wake the consumer"
    assert got[0].args == ("second",)


def test_maintenance_gives_a_dead_workers_messages_back_and_leaves_live_ones(brokers, queue_name):
    client, make = brokers
    dead, alive, survivor = make(), make(), make()
    for broker in (dead, alive, survivor):
        broker.declare_queue(queue_name)
    dead.enqueue(run_job_message(queue_name, "orphan"))
    orphan = next(dead.consume(queue_name, prefetch=1, timeout=LONG_IDLE_MS))
    alive.enqueue(run_job_message(queue_name, "kept"))
    next(alive.consume(queue_name, prefetch=1, timeout=LONG_IDLE_MS))
    dead.maintenance.stop()
    heartbeats = f"{NAMESPACE}:__heartbeats__"
    client.zadd(heartbeats, {dead.broker_id: 1})  # its last beat: long ago
    client.zadd(heartbeats, {alive.broker_id: int(client.time()[0] * 1000)})

    assert survivor.maintenance.run_once() == 1
    assert client.lrange(f"{NAMESPACE}:{queue_name}", 0, -1) == [orphan.options["redis_message_id"].encode()]
    assert client.zscore(heartbeats, dead.broker_id) is None
    assert client.scard(f"{NAMESPACE}:__acks__.{alive.broker_id}.{queue_name}") == 1
    assert survivor.maintenance.run_once() == 0
