"""Wake-ups for idle consumers: a message was queued (Redis pub/sub) or a consumer freed a slot.

Every enqueue publishes on ``<namespace>:__wake__:<queue>``. A worker process
keeps one pub/sub connection (pattern subscription, one daemon thread) and sets
the event of each consumer of that queue, so a consumer waiting for work
fetches within a round trip of the enqueue instead of at its next poll. A
lost notification (Redis restart, dropped connection) costs at most the
consumers' idle timeout: they still fetch when it runs out.
"""

from __future__ import annotations

import logging
import threading
from collections import defaultdict

import redis

log = logging.getLogger(__name__)

#: Seconds the listener waits for a notification before checking its connection again.
LISTEN_TIMEOUT = 5.0
#: Seconds between reconnection attempts after the pub/sub connection failed.
RECONNECT_DELAY = 0.5


def wake_channel(namespace: str, queue_name: str) -> str:
    """The pub/sub channel an enqueue on ``queue_name`` publishes on."""
    return f"{namespace}:__wake__:{queue_name}"


class Wakeups:
    """Parameters:
      client: the Redis client (its connection pool provides the pub/sub connection).
      namespace: the broker's key prefix.
    """

    def __init__(self, client: redis.Redis, namespace: str):
        self.client = client
        self.namespace = namespace
        self._prefix = wake_channel(namespace, "")
        self._events: dict[str, list[threading.Event]] = defaultdict(list)
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()

    def stop(self) -> None:
        """End the listener (within ``LISTEN_TIMEOUT`` s); waits end at their timeout from then on."""
        self._stop.set()

    def event(self, queue_name: str) -> threading.Event:
        """A new event set whenever ``queue_name`` gets a message; starts the listener on first use."""
        event = threading.Event()
        with self._lock:
            self._events[queue_name].append(event)
            if self._thread is None:
                self._thread = threading.Thread(target=self._listen, name="c3-dispatch-wakeups", daemon=True)
                self._thread.start()
        return event

    def wake(self, queue_name: str) -> None:
        """Set the events of ``queue_name``'s consumers in this process."""
        for event in self._events.get(queue_name, ()):
            event.set()

    def wake_all(self) -> None:
        """Set every consumer's event (messages may have come back without a notification)."""
        with self._lock:
            events = [event for group in self._events.values() for event in group]
        for event in events:
            event.set()

    def _listen(self) -> None:
        while not self._stop.is_set():
            pubsub = self.client.pubsub(ignore_subscribe_messages=True)
            try:
                pubsub.psubscribe(self._prefix + "*")
                self.wake_all()  # anything queued while not subscribed
                while not self._stop.is_set():
                    note = pubsub.get_message(timeout=LISTEN_TIMEOUT)
                    if note is not None and note.get("type") == "pmessage":
                        channel = note["channel"]
                        channel = channel.decode() if isinstance(channel, bytes) else channel
                        self.wake(channel[len(self._prefix):])
            except (redis.ConnectionError, redis.TimeoutError, OSError) as exc:
                log.warning("dispatch wake-ups lost their Redis connection (%s); reconnecting", exc)
                self.wake_all()
            except Exception:
                if self._stop.is_set():
                    break
                log.exception("dispatch wake-ups failed; reconnecting")
                self.wake_all()
            finally:
                try:
                    pubsub.close()
                except Exception:  # the connection is already gone
                    pass
            self._stop.wait(RECONNECT_DELAY)
