"""Helpers for in-process tests of the worker: a registry of given tasks, job records, stub queues,
an embedded Dramatiq worker."""

from __future__ import annotations

import json
from contextlib import contextmanager

from dramatiq import Message, Worker
from dramatiq.brokers.stub import StubBroker

from render_core.dispatch.broker import messages_key, queue_key
from render_core.dispatch.messages import WEBHOOK_QUEUE
from render_core.jobs.keys import outbox_key
from render_core.jobs.store import JobStore
from render_core.plugin import hookimpl
from render_core.sdk.registry import load_registry

#: An entry-point name no plugin has: load_registry then loads none of the installed plugins.
NO_ENTRY_POINTS = "no-installed-plugin"


def make_registry(*tasks):
    """A registry holding exactly ``tasks`` (no installed plugin)."""
    class TestPlugin:
        @hookimpl
        def c3_render_tasks(self):
            return list(tasks)

    return load_registry(only=NO_ENTRY_POINTS, extra_plugins=(TestPlugin(),))


def create_job(store: JobStore, task: str, *, complete_in: float = 3600, max_time: float = 1200,
               notify_url: str | None = None, **params) -> str:
    """Store a queued job record directly (no message); returns its id."""
    record = store.new_record(task, {"complete_in": complete_in, "max_time": max_time,
                                     "notify_url": notify_url, **params})
    with store.client.pipeline() as pipe:
        store.create(record, pipe)
        pipe.execute()
    return record["id"]


def redis_queued(client, queue_name: str) -> list[Message]:
    """The messages waiting in a Redis queue, decoded: those the job store writes with a status change
    (a requeued job's run_job, a finished job's first deliver_webhook)."""
    return [Message.decode(client.hget(messages_key(queue_name), message_id))
            for message_id in client.lrange(queue_key(queue_name), 0, -1)]


def owed_webhooks(client) -> list[tuple[str, str, dict]]:
    """The webhooks finished jobs owe, as (job id, notify url, body), in the order they were queued."""
    owed = []
    for message in redis_queued(client, WEBHOOK_QUEUE):
        entry = client.hgetall(outbox_key(message.args[0]))
        owed.append((message.args[0], entry[b"url"].decode(), json.loads(entry[b"body"])))
    return owed


def queued_messages(broker: StubBroker, queue_name: str) -> list[Message]:
    """The messages waiting in a stub broker queue, decoded, without consuming them."""
    return [Message.decode(raw) for raw in list(broker.queues[queue_name].queue)]


@contextmanager
def running_worker(broker, *, queues: set[str] | None = None, threads: int = 1):
    """An embedded Dramatiq Worker on ``broker`` (consuming ``queues``, default all) during the block.

    ``process_boot`` is emitted first, as a worker process does, so middleware that start
    at boot (TimeLimit's monitor thread) work.
    """
    broker.emit_after("process_boot")
    worker = Worker(broker, queues=queues, worker_timeout=50, worker_threads=threads)
    worker.start()
    try:
        yield worker
    finally:
        worker.stop()


def process(broker, *messages: Message, timeout_ms: int = 20_000) -> None:
    """Enqueue ``messages`` and return once a worker has processed all of them (and their retries).

    Only the messages' own queues are consumed: what they send elsewhere (webhooks, retries on
    another queue) stays queued for the test to look at.
    """
    queues = {message.queue_name for message in messages}
    with running_worker(broker, queues=queues):
        for message in messages:
            broker.enqueue(message)
        for queue_name in queues:
            broker.join(queue_name, timeout=timeout_ms, fail_fast=False)
