"""The Dramatiq Redis broker and enqueueing inside a Redis pipeline."""

from __future__ import annotations

import uuid

import redis
from dramatiq import Message, Middleware
from dramatiq.brokers.redis import RedisBroker
from dramatiq.common import current_millis

from render_core.config.settings import Settings

#: Dramatiq's own key prefix; queues are the Redis lists ``dramatiq:<queue>`` of message ids, the
#: messages themselves the hashes ``dramatiq:<queue>.msgs``. The job store's Lua scripts push messages
#: there directly (HSET + RPUSH/LPUSH, what Dramatiq's enqueue does), atomically with a job change.
NAMESPACE = "dramatiq"


def build_broker(settings: Settings, client: redis.Redis, middleware: list[Middleware] | None = None) -> RedisBroker:
    """A Redis broker with heartbeat and maintenance set explicitly (see the README's tuning notes).

    ``middleware`` is the whole stack (workers pass theirs); None builds a broker
    that only sends messages, as the API does.
    """
    return RedisBroker(
        client=client, namespace=NAMESPACE, middleware=list(middleware or []),
        heartbeat_timeout=settings.broker_heartbeat_timeout_ms,
        maintenance_chance=settings.broker_maintenance_chance,
    )


def queue_key(queue_name: str) -> str:
    """The Redis list of message ids waiting on ``queue_name``."""
    return f"{NAMESPACE}:{queue_name}"


def messages_key(queue_name: str) -> str:
    """The Redis hash of message id -> encoded message of ``queue_name`` (waiting and in flight)."""
    return f"{NAMESPACE}:{queue_name}.msgs"


def with_redis_id(message: Message) -> Message:
    """``message`` with a fresh ``redis_message_id``: its identity in the queue, unique per enqueue."""
    return message.copy(options={"redis_message_id": str(uuid.uuid4())})


def redis_id(message: Message) -> str:
    return message.options["redis_message_id"]


def enqueue_in_pipeline(broker: RedisBroker, pipe, message: Message) -> Message:
    """Queue ``message`` on ``pipe`` so it is written in the same MULTI/EXEC as other writes.

    Does what ``RedisBroker.enqueue`` does (unique redis_message_id, enqueue
    hooks, the ``dispatch`` script's enqueue command) but on a pipeline. A
    ``redis_message_id`` already set (:func:`with_redis_id`) is kept.
    """
    if "redis_message_id" not in message.options:
        message = with_redis_id(message)
    broker.declare_queue(message.queue_name)
    broker.emit_before("enqueue", message, None)
    dispatch = broker.scripts["dispatch"]
    args = ["enqueue", current_millis(), message.queue_name, broker.broker_id, broker.heartbeat_timeout,
            broker.dead_message_ttl, 0, 7999, message.options["redis_message_id"], message.encode()]
    dispatch(keys=[broker.namespace], args=args, client=pipe)
    broker.emit_after("enqueue", message, None)
    return message
