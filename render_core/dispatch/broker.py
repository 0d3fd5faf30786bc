"""The Dramatiq Redis broker of C3 Render: one-call enqueues that wake idle consumers.

``WakingRedisBroker`` keeps Dramatiq's Redis layout and changes three things:

- an enqueue is one script call (EVALSHA) that stores the message, pushes its
  id and publishes a wake-up; :meth:`WakingRedisBroker.prepare` hands those
  writes to a caller's own script (a job submission writes its record and the
  message in one call, see render_core.jobs.submission);
- consumers wait for a wake-up instead of polling (:mod:`.consumer`);
- a process that consumes beats and runs the dead-worker maintenance from one
  thread every ``maintenance_interval`` s (:mod:`.maintenance`) instead of on
  a random share of commands.

Scripts that push a message themselves (the job store's) publish on
:func:`wake_channel_of` its queue, as ENQUEUE_SCRIPT does.
"""

from __future__ import annotations

import uuid

import redis
from dramatiq import Message, Middleware
from dramatiq.brokers.redis import RedisBroker

from render_core.config.settings import Settings

from .consumer import WakingConsumer
from .maintenance import Maintenance
from .wakeups import Wakeups, wake_channel

#: Dramatiq's own key prefix; queues are the Redis lists ``dramatiq:<queue>`` of message ids, the
#: messages themselves the hashes ``dramatiq:<queue>.msgs``. The job store's Lua scripts push messages
#: there directly (HSET + RPUSH/LPUSH + PUBLISH, what ENQUEUE_SCRIPT does), atomically with a job change.
NAMESPACE = "dramatiq"

#: KEYS[1] the queue list, KEYS[2] its message hash; ARGV[1] message id, ARGV[2] encoded
#: message, ARGV[3] wake-up channel (the keys and arguments of :meth:`WakingRedisBroker.prepare`).
ENQUEUE_SCRIPT = """
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
redis.call('RPUSH', KEYS[1], ARGV[1])
redis.call('PUBLISH', ARGV[3], '1')
return 1
"""


def queue_key(queue_name: str) -> str:
    """The Redis list of message ids waiting on ``queue_name``."""
    return f"{NAMESPACE}:{queue_name}"


def messages_key(queue_name: str) -> str:
    """The Redis hash of message id -> encoded message of ``queue_name`` (waiting and in flight)."""
    return f"{NAMESPACE}:{queue_name}.msgs"


def wake_channel_of(queue_name: str) -> str:
    """The channel a message pushed on ``queue_name`` is announced on (consumers wake up)."""
    return wake_channel(NAMESPACE, queue_name)


def with_redis_id(message: Message) -> Message:
    """``message`` with a fresh ``redis_message_id``: its identity in the queue, unique per enqueue."""
    return message.copy(options={"redis_message_id": str(uuid.uuid4())})


def redis_id(message: Message) -> str:
    return message.options["redis_message_id"]


class WakingRedisBroker(RedisBroker):
    """Dramatiq's RedisBroker with one-call enqueues, waking consumers and periodic maintenance.

    Parameters (besides RedisBroker's): ``maintenance_interval``, seconds between the
    heartbeat/maintenance passes of a consuming process.
    """

    def __init__(self, *, maintenance_interval: float = 1.0, **options):
        super().__init__(**options)
        self._enqueue = self.client.register_script(ENQUEUE_SCRIPT)
        self.wakeups = Wakeups(self.client, self.namespace)
        self.maintenance = Maintenance(
            self.client, namespace=self.namespace, broker_id=self.broker_id,
            heartbeat_timeout=self.heartbeat_timeout, dead_message_ttl=self.dead_message_ttl,
            queues=lambda: self.queues | self.delay_queues, on_requeue=self.wakeups.wake_all,
            interval=maintenance_interval)

    def consume(self, queue_name: str, prefetch: int = 1, timeout: int = 5000) -> WakingConsumer:
        """A consumer that waits for wake-ups; the first one starts this process's maintenance."""
        self.maintenance.start()
        return WakingConsumer(self, queue_name, prefetch, timeout, self.wakeups.event(queue_name))

    def close(self) -> None:
        """Stop this process's heartbeat/maintenance thread and wake-up listener."""
        self.maintenance.stop()
        self.wakeups.stop()
        super().close()

    def do_enqueue(self, queue_name: str, message_id: str, data: bytes) -> None:
        """What ``RedisBroker.enqueue`` calls: store, push and wake in one call."""
        queue = f"{self.namespace}:{queue_name}"
        self._enqueue(keys=[queue, queue + ".msgs"], args=[message_id, data, wake_channel(self.namespace, queue_name)])

    def prepare(self, message: Message) -> tuple[Message, list[str], list]:
        """(message with its Redis id, keys, args) of ENQUEUE_SCRIPT for ``message``.

        Runs the before-enqueue hooks; the caller writes the keys (in its own script or
        pipeline) and then calls ``emit_after("enqueue", message, None)``. A
        ``redis_message_id`` already set (:func:`with_redis_id`) is kept.
        """
        if "redis_message_id" not in message.options:
            message = with_redis_id(message)
        self.declare_queue(message.queue_name)
        self.emit_before("enqueue", message, None)
        queue = f"{self.namespace}:{message.queue_name}"
        return message, [queue, queue + ".msgs"], [redis_id(message), message.encode(),
                                                   wake_channel(self.namespace, message.queue_name)]

    def enqueue_in_pipeline(self, pipe, message: Message) -> Message:
        """Queue ``message`` on ``pipe`` (a MULTI/EXEC with other writes): stored, pushed and woken."""
        message, keys, args = self.prepare(message)
        self._enqueue(keys=keys, args=args, client=pipe)
        self.emit_after("enqueue", message, None)
        return message


def enqueue_in_pipeline(broker: WakingRedisBroker, pipe, message: Message) -> Message:
    """``message`` written in the same MULTI/EXEC as ``pipe``'s other writes (a kept
    ``redis_message_id``, the enqueue hooks, the wake-up)."""
    return broker.enqueue_in_pipeline(pipe, message)


def build_broker(settings: Settings, client: redis.Redis,
                 middleware: list[Middleware] | None = None) -> WakingRedisBroker:
    """The broker with heartbeat and maintenance set explicitly (see the README's tuning notes).

    ``middleware`` is the whole stack (workers pass theirs); None builds a broker
    that only sends messages, as the API does.
    """
    return WakingRedisBroker(
        client=client, namespace=NAMESPACE, middleware=list(middleware or []),
        heartbeat_timeout=settings.broker_heartbeat_timeout_ms,
        maintenance_chance=settings.broker_maintenance_chance,
        maintenance_interval=settings.broker_maintenance_interval,
    )
