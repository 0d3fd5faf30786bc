"""A Redis consumer that waits for a wake-up instead of polling with backoff.

Dramatiq's Redis consumer sleeps up to ``worker_timeout`` after an empty fetch
(and while all its prefetch slots are taken), so a job queued meanwhile waits
for the sleep to end. This one waits on an event set when a message is queued
on its queue (see :mod:`render_core.dispatch.wakeups`) or when one of its own
messages is acked, and fetches right away; ``worker_timeout`` remains the
longest wait, a safety net for a lost notification.
"""

from __future__ import annotations

import redis
from dramatiq.broker import MessageProxy
from dramatiq.brokers.redis import _RedisConsumer
from dramatiq.errors import ConnectionClosed
from dramatiq.message import Message


class WakingConsumer(_RedisConsumer):
    """Parameters (besides Dramatiq's): ``wakeup``, the event that ends an idle wait."""

    def __init__(self, broker, queue_name, prefetch, timeout, wakeup):
        super().__init__(broker, queue_name, prefetch, timeout)
        self.wakeup = wakeup

    def ack(self, message):
        try:
            super().ack(message)
        finally:
            self.wakeup.set()  # a prefetch slot is free

    def nack(self, message):
        try:
            super().nack(message)
        finally:
            self.wakeup.set()

    def __next__(self):
        try:
            while True:
                if self.message_cache:
                    data = self.message_cache.pop(0)
                    if data is None:  # its body is gone (acked elsewhere): nothing to run
                        continue
                    message = Message.decode(data)
                    self.queued_message_ids.add(message.message_id)
                    return MessageProxy(message)
                # Clear before fetching: a notification that arrives after the fetch
                # ends the wait below at once.
                self.wakeup.clear()
                free = self.prefetch - self.outstanding_message_count
                if free > 0:
                    self.message_cache = self.broker.do_fetch(self.queue_name, free)
                    if self.message_cache:
                        continue
                self.wakeup.wait(self.timeout / 1000)
                return None
        except redis.ConnectionError as exc:
            raise ConnectionClosed(exc) from None
