"""The webhook outbox: webhooks owed to receivers, kept in Redis until delivered or given up.

The terminal transition (:meth:`JobStore.transition`) writes an entry (URL,
body, attempts so far) and queues the first ``deliver_webhook(job_id, 1)``
message in the same script. Every attempt then goes through here:

- :meth:`begin` claims attempt n for ``claim`` seconds (a copy of the same
  attempt arriving meanwhile, or an attempt already made, is refused);
- :meth:`record` stores its outcome, schedules the next attempt in the due set
  or removes the entry, and mirrors the outcome on the job record for GET /status;
- :meth:`claim_due` hands out entries whose next attempt is due, or whose
  attempt never reported (its message was lost, its worker died): the webhook
  pump turns them into messages.

So a webhook outlives worker crashes and restarts, Redis blips and deploys,
and each attempt is made once (at least once if a worker dies mid-POST).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import redis

from render_core.net.redis_retry import NO_RETRY, RedisRetry

from .keys import OUTBOX_PREFIX, WEBHOOKS_DUE, job_key, outbox_key

#: Delivery outcomes mirrored on the job record (``webhook``).
PENDING, RETRYING, DELIVERED, FAILED = "pending", "retrying", "delivered", "failed"

#: KEYS[1] webhooks due; ARGV[1] now, [2] claim until, [3] at most this many, [4] outbox key prefix.
#: Returns a flat list: id, attempts made, id, attempts made, ...
_CLAIM_DUE = """
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[3]))
local out = {}
for _, id in ipairs(ids) do
  local attempts = redis.call('HGET', ARGV[4] .. id, 'attempts')
  if attempts then
    redis.call('ZADD', KEYS[1], ARGV[2], id)
    table.insert(out, id)
    table.insert(out, attempts)
  else
    redis.call('ZREM', KEYS[1], id)
  end
end
return out
"""

#: KEYS[1] outbox entry, [2] webhooks due; ARGV[1] job id, [2] attempt, [3] now, [4] claim until,
#: [5] claim token (a retried call whose reply was lost finds its own claim).
#: Returns {"go", url, body, task} or {"gone"}, {"stale"} (attempt made already), {"busy"} (in flight).
_BEGIN = """
if redis.call('EXISTS', KEYS[1]) == 0 then return {'gone'} end
local made = tonumber(redis.call('HGET', KEYS[1], 'attempts') or '0')
local attempt = tonumber(ARGV[2])
if attempt ~= made + 1 then return {'stale'} end
local inflight = tonumber(redis.call('HGET', KEYS[1], 'inflight') or '0')
local until_at = tonumber(redis.call('HGET', KEYS[1], 'inflight_until') or '0')
if inflight == attempt and until_at > tonumber(ARGV[3]) and redis.call('HGET', KEYS[1], 'token') ~= ARGV[5] then
  return {'busy'}
end
redis.call('HSET', KEYS[1], 'inflight', attempt, 'inflight_until', ARGV[4], 'token', ARGV[5])
redis.call('ZADD', KEYS[2], ARGV[4], ARGV[1])
return {'go', redis.call('HGET', KEYS[1], 'url'), redis.call('HGET', KEYS[1], 'body'),
        redis.call('HGET', KEYS[1], 'task') or ''}
"""

#: KEYS[1] outbox entry, [2] webhooks due, [3] job; ARGV[1] job id, [2] attempt, [3] outcome,
#: [4] error, [5] next attempt at (unix s; "" when the entry is done). Returns 1 if recorded.
_RECORD = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
local made = tonumber(redis.call('HGET', KEYS[1], 'attempts') or '0')
if made + 1 ~= tonumber(ARGV[2]) then return 0 end
if ARGV[3] == 'retrying' then
  redis.call('HSET', KEYS[1], 'attempts', ARGV[2], 'inflight', 0, 'inflight_until', 0)
  redis.call('ZADD', KEYS[2], ARGV[5], ARGV[1])
else
  redis.call('DEL', KEYS[1])
  redis.call('ZREM', KEYS[2], ARGV[1])
end
if redis.call('EXISTS', KEYS[3]) == 1 then
  redis.call('HSET', KEYS[3], 'webhook', ARGV[3], 'webhook_attempts', ARGV[2], 'webhook_error', ARGV[4],
             'webhook_next_at', ARGV[5])
end
return 1
"""


def claim_seconds(timeout: float) -> float:
    """Seconds an attempt may take (connect + read with ``timeout``, plus slack) before it is sent again."""
    return 2 * timeout + 10.0


@dataclass(frozen=True)
class Attempt:
    """What :meth:`WebhookOutbox.begin` answered: ``state`` go/gone/stale/busy; url, body, task when go."""

    state: str
    url: str = ""
    body: bytes = b""
    task: str = ""


class WebhookOutbox:
    """Parameters:
      client: the Redis client.
      retry: how long calls are retried through a Redis blip.
    """

    def __init__(self, client: redis.Redis, retry: RedisRetry = NO_RETRY):
        self.client = client
        self.retry = retry
        self._claim_due = client.register_script(_CLAIM_DUE)
        self._begin = client.register_script(_BEGIN)
        self._record = client.register_script(_RECORD)

    def claim_due(self, now: float, claim_until: float, limit: int = 100) -> list[tuple[str, int]]:
        """Entries due by ``now``, claimed until ``claim_until``: [(job id, attempts made)]."""
        flat = self.retry.call(self._claim_due, keys=[WEBHOOKS_DUE], args=[now, claim_until, limit, OUTBOX_PREFIX])
        return [(flat[i].decode(), int(flat[i + 1])) for i in range(0, len(flat), 2)]

    def begin(self, job_id: str, attempt: int, now: float, claim_until: float) -> Attempt:
        """Claim attempt ``attempt`` (1-based) of the job's webhook until ``claim_until``."""
        reply = self.retry.call(self._begin, keys=[outbox_key(job_id), WEBHOOKS_DUE],
                                args=[job_id, attempt, now, claim_until, uuid.uuid4().hex])
        state = reply[0].decode()
        if state != "go":
            return Attempt(state)
        return Attempt(state, reply[1].decode(), reply[2], reply[3].decode() if reply[3] else "")

    def record(self, job_id: str, attempt: int, outcome: str, error: str = "",
               next_at: float | None = None) -> bool:
        """Store attempt ``attempt``'s outcome (retrying with ``next_at``, delivered or failed)."""
        args = [job_id, attempt, outcome, error, "" if next_at is None else next_at]
        return bool(self.retry.call(self._record, keys=[outbox_key(job_id), WEBHOOKS_DUE, job_key(job_id)],
                                    args=args))

    def owed(self) -> int:
        """Webhooks not yet delivered or given up."""
        return int(self.retry.call(self.client.zcard, WEBHOOKS_DUE))
