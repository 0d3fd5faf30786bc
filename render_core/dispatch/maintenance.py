"""Broker heartbeat and maintenance: one Lua call per interval per consuming process.

Dramatiq's Redis broker beats (ZADD on ``__heartbeats__``) on every command and
runs its maintenance (give the unacked messages of dead workers back to their
queues) on a random share of commands. Consumers here block while idle, so
they send few commands: a daemon thread beats instead, every ``interval``
seconds, and runs the maintenance of every declared queue in the same call. A
SIGKILLed worker's messages come back ``heartbeat_timeout`` + at most one
``interval`` after its last beat, whatever the traffic.
"""

from __future__ import annotations

import logging
import threading
from typing import Callable, Iterable

import redis
from dramatiq.common import current_millis

log = logging.getLogger(__name__)

#: KEYS[1] namespace; ARGV[1] now (ms); ARGV[2] this broker's id; ARGV[3] heartbeat timeout (ms);
#: ARGV[4] dead-letter TTL (ms); ARGV[5..] queue names (with their .DQ twins).
#: Beats for this broker, moves the unacked messages of dead brokers back to their queues
#: (as Dramatiq's maintenance does), drops expired dead letters. Returns the number requeued.
MAINTENANCE_SCRIPT = """
local namespace = KEYS[1]
local now = tonumber(ARGV[1])
local heartbeats = namespace .. ':__heartbeats__'
redis.call('zadd', heartbeats, now, ARGV[2])
local requeued = 0
local dead = redis.call('zrangebyscore', heartbeats, 0, now - tonumber(ARGV[3]))
for _, worker in ipairs(dead) do
  local acks = namespace .. ':__acks__.' .. worker
  for i = 5, #ARGV do
    local queue = namespace .. ':' .. ARGV[i]
    local queue_acks = acks .. '.' .. ARGV[i]
    local ids = redis.call('smembers', queue_acks)
    for _, id in ipairs(ids) do
      if redis.call('hexists', queue .. '.msgs', id) > 0 then
        redis.call('rpush', queue, id)
        requeued = requeued + 1
      end
    end
    if #ids > 0 then redis.call('del', queue_acks) end
  end
  if not next(redis.call('keys', acks .. '*')) then
    redis.call('zrem', heartbeats, worker)
  end
end
local expired_before = now - tonumber(ARGV[4])
for i = 5, #ARGV do
  local name = ARGV[i]
  if string.sub(name, -3) ~= '.DQ' then
    local xqueue = namespace .. ':' .. name .. '.XQ'
    local ids = redis.call('zrangebyscore', xqueue, 0, expired_before, 'LIMIT', 0, 1000)
    if #ids > 0 then
      redis.call('zrem', xqueue, unpack(ids))
      redis.call('hdel', xqueue .. '.msgs', unpack(ids))
    end
  end
end
return requeued
"""


class Maintenance:
    """Beats and maintains from one daemon thread every ``interval`` seconds.

    Parameters:
      client: the Redis client.
      namespace: the broker's key prefix.
      broker_id: the id this process's consumers ack under.
      heartbeat_timeout: ms without a beat after which a broker counts as dead.
      dead_message_ttl: ms dead-lettered messages are kept.
      queues: ``queues()`` -> the queue names to maintain (read on every pass).
      on_requeue: called after a pass moved messages back (wakes this process's consumers).
      interval: seconds between passes.
    """

    def __init__(self, client: redis.Redis, *, namespace: str, broker_id: str, heartbeat_timeout: int,
                 dead_message_ttl: int, queues: Callable[[], Iterable[str]],
                 on_requeue: Callable[[], None] = lambda: None, interval: float = 1.0):
        self.client = client
        self.namespace = namespace
        self.broker_id = broker_id
        self.heartbeat_timeout = heartbeat_timeout
        self.dead_message_ttl = dead_message_ttl
        self.queues = queues
        self.on_requeue = on_requeue
        self.interval = interval
        self._script = client.register_script(MAINTENANCE_SCRIPT)
        self._started = threading.Lock()
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()

    def run_once(self) -> int:
        """One beat + maintenance pass; returns how many messages went back to their queues."""
        queues = sorted(self.queues())
        requeued = int(self._script(keys=[self.namespace],
                                    args=[current_millis(), self.broker_id, self.heartbeat_timeout,
                                          self.dead_message_ttl, *queues]))
        if requeued:
            log.warning("gave %d message(s) of dead workers back to their queues", requeued)
            self.on_requeue()
        return requeued

    def start(self) -> None:
        """Start the thread (once; later calls do nothing)."""
        with self._started:
            if self._thread is None:
                self._thread = threading.Thread(target=self._loop, name="c3-broker-maintenance", daemon=True)
                self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the thread and wait up to ``timeout`` s for its current pass to end."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.run_once()
            except Exception as exc:  # Redis away: the next pass tries again
                log.warning("broker heartbeat/maintenance failed: %s", exc)
            self._stop.wait(self.interval)
