"""The broker helpers on a throwaway Redis: build_broker and enqueue_in_pipeline."""

from __future__ import annotations

import pytest
from dramatiq import Middleware

from render_core.config.settings import Settings
from render_core.dispatch.broker import NAMESPACE, build_broker, enqueue_in_pipeline
from render_core.dispatch.messages import RUN_JOB, run_job_message

QUEUE = "task.piped"


class RecordingMiddleware(Middleware):
    def __init__(self):
        self.events: list[tuple[str, str]] = []

    def before_enqueue(self, broker, message, delay):
        self.events.append(("before", message.message_id))

    def after_enqueue(self, broker, message, delay):
        self.events.append(("after", message.message_id))


@pytest.fixture
def broker(redis_client):
    settings = Settings.from_env({"BROKER_HEARTBEAT_TIMEOUT": "7000", "BROKER_MAINTENANCE_CHANCE": "12345"})
    broker = build_broker(settings, redis_client)
    yield broker
    broker.close()


def consume_one(broker, queue_name: str):
    """The next message of ``queue_name`` (acknowledged), or None within 1 s."""
    consumer = broker.consume(queue_name, prefetch=1, timeout=1000)
    try:
        proxy = next(consumer)
        if proxy is not None:
            consumer.ack(proxy)
        return proxy
    finally:
        consumer.close()


def test_build_broker_takes_its_tuning_from_the_settings(broker):
    assert (broker.namespace, broker.heartbeat_timeout, broker.maintenance_chance) == (NAMESPACE, 7000, 12345)
    assert broker.middleware == [], "the API's broker only sends"


def test_the_message_is_written_with_the_pipeline_and_not_before(broker, redis_client):
    message = run_job_message(QUEUE, "job-1")
    with redis_client.pipeline(transaction=True) as pipe:
        pipe.set("written-together", "yes")
        queued = enqueue_in_pipeline(broker, pipe, message)
        assert redis_client.llen(f"{NAMESPACE}:{QUEUE}") == 0
        pipe.execute()
    assert redis_client.get("written-together") == b"yes"
    received = consume_one(broker, QUEUE)
    assert (received.actor_name, received.args, received.message_id) == (RUN_JOB, ("job-1",), message.message_id)
    assert received.options["redis_message_id"] == queued.options["redis_message_id"]


def test_a_discarded_pipeline_enqueues_nothing(broker, redis_client):
    with redis_client.pipeline(transaction=True) as pipe:
        enqueue_in_pipeline(broker, pipe, run_job_message(QUEUE, "job-2"))
        pipe.reset()
    assert consume_one(broker, QUEUE) is None


def test_each_enqueue_gets_its_own_redis_id_and_runs_the_enqueue_hooks(broker, redis_client):
    recorder = RecordingMiddleware()
    broker.add_middleware(recorder)
    first, second = run_job_message(QUEUE, "a"), run_job_message(QUEUE, "b")
    with redis_client.pipeline(transaction=True) as pipe:
        ids = [enqueue_in_pipeline(broker, pipe, m).options["redis_message_id"] for m in (first, second)]
        pipe.execute()
    assert len(set(ids)) == 2
    assert recorder.events == [("before", first.message_id), ("after", first.message_id),
                               ("before", second.message_id), ("after", second.message_id)]
    assert QUEUE in broker.get_declared_queues()
    assert sorted(consume_one(broker, QUEUE).args[0] for _ in range(2)) == ["a", "b"]
