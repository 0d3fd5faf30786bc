"""The job store: one Redis hash per job, every status change through a Lua script.

Keys are listed in :mod:`render_core.jobs.keys`; a record expires ``job_ttl``
seconds after creation. Each change is one script, so a status check and its
writes are one step: a terminal status is never overwritten by a late worker,
a deleted record is never recreated by a progress update, and

- the open-jobs index (ids of non-terminal jobs by ``complete_by``) changes with
  the status, so the sweeper reads open jobs without a SCAN;
- a terminal status, the job's webhook outbox entry and its first
  ``deliver_webhook`` message are written together: no crash between them can
  lose a webhook, and a job finished twice (a redelivery) owes one webhook;
  the job id is published on ``FINISHED_CHANNEL`` (what waiting requests listen to);
- a job goes back to ``queued`` together with its new ``run_job`` message, and
  the record names that message (``message_id``), so older copies are skipped.

A store built with a :class:`RedisRetry` (the workers') retries every call
through a Redis blip; a retried terminal write that had already been applied
counts as applied (an operation token on the record tells).
"""

from __future__ import annotations

import json
import re
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import redis
from dramatiq import Message

from render_core.dispatch.broker import messages_key, queue_key, redis_id, wake_channel_of, with_redis_id
from render_core.dispatch.messages import WEBHOOK_QUEUE, webhook_message
from render_core.net.redis_retry import NO_RETRY, RedisRetry

from . import status as st
from .keys import FINISHED_CHANNEL, HELD_JOBS, KEY_PREFIX, OPEN_JOBS, WEBHOOKS_DUE, job_key, outbox_key
from .webhook_payload import payload_for

__all__ = ["FINISHED_CHANNEL", "KEY_PREFIX", "Job", "JobStore", "job_key", "new_job_id", "valid_job_id"]

JOB_ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")

#: Seconds an owed webhook's first attempt may take before the outbox sends it again (its message
#: was lost, or the worker posting it died): ``claim_seconds(WEBHOOK_TIMEOUT)``.
DEFAULT_WEBHOOK_CLAIM = 30.0

#: KEYS[1] job key; ARGV[1] new status or "" (fields only); ARGV[2] JSON list of
#: statuses the job must be in; ARGV[3..] field/value pairs. Returns {applied, current}.
_UPDATE_IF = """
local current = redis.call('HGET', KEYS[1], 'status')
if not current then return {0, ''} end
local allowed = cjson.decode(ARGV[2])
for _, s in ipairs(allowed) do
  if s == current then
    if ARGV[1] ~= '' then redis.call('HSET', KEYS[1], 'status', ARGV[1]) end
    if #ARGV > 2 then redis.call('HSET', KEYS[1], unpack(ARGV, 3)) end
    return {1, current}
  end
end
return {0, current}
"""

#: The terminal transition with its outbox. KEYS: job, open jobs, webhooks due, outbox, webhook
#: queue list, webhook queue messages, the channel the job id is published on, the webhook
#: queue's wake-up channel (its consumers fetch at once). ARGV: [1] status, [2] JSON statuses it may come from,
#: [3] operation token, [4] job id, [5] now, [6] when the outbox may resend (unix s), [7] outbox
#: ttl (s), [8] webhook body JSON, [9] webhook message id, [10] webhook message, [11..] fields.
#: Returns {applied, status before} and, when applied, the job's type (for the metrics).
_FINISH = """
local current = redis.call('HGET', KEYS[1], 'status')
if not current then return {0, ''} end
local allowed = false
for _, s in ipairs(cjson.decode(ARGV[2])) do
  if s == current then allowed = true end
end
if not allowed then
  if redis.call('HGET', KEYS[1], 'op') == ARGV[3] then return {1, current, redis.call('HGET', KEYS[1], 'type')} end
  return {0, current}
end
redis.call('HSET', KEYS[1], 'status', ARGV[1], 'op', ARGV[3])
if #ARGV > 10 then redis.call('HSET', KEYS[1], unpack(ARGV, 11)) end
redis.call('ZREM', KEYS[2], ARGV[4])
redis.call('PUBLISH', KEYS[7], ARGV[4])
local params = cjson.decode(redis.call('HGET', KEYS[1], 'params') or '{}')
local url = params['notify_url']
if type(url) == 'string' and url ~= '' then
  redis.call('HSET', KEYS[4], 'url', url, 'body', ARGV[8], 'task', redis.call('HGET', KEYS[1], 'type'),
             'attempts', 0)
  redis.call('EXPIRE', KEYS[4], ARGV[7])
  redis.call('ZADD', KEYS[3], ARGV[6], ARGV[4])
  redis.call('HSET', KEYS[1], 'webhook', 'pending', 'webhook_next_at', ARGV[5])
  redis.call('HSET', KEYS[6], ARGV[9], ARGV[10])
  redis.call('RPUSH', KEYS[5], ARGV[9])
  redis.call('PUBLISH', KEYS[8], '1')
end
return {1, current, redis.call('HGET', KEYS[1], 'type')}
"""

#: Back to ``queued`` with a new run_job message. KEYS: job, held jobs, queue list, queue messages,
#: the queue's wake-up channel.
#: ARGV: [1] job id, [2] JSON statuses the job must be in, [3] message id the job must name ("" =
#: any), [4] now, [5] new message id, [6] new message, [7] "front" or "back", [8] "sweep" (also
#: require: not held by a live worker, old message not waiting in the queue; its body is dropped)
#: or "", [9..] fields. Returns {applied, status before}.
_REQUEUE = """
local current = redis.call('HGET', KEYS[1], 'status')
if not current then return {0, ''} end
local allowed = false
for _, s in ipairs(cjson.decode(ARGV[2])) do
  if s == current then allowed = true end
end
if not allowed then return {0, current} end
local old = redis.call('HGET', KEYS[1], 'message_id') or ''
if ARGV[3] ~= '' and old ~= ARGV[3] then return {0, current} end
if ARGV[8] == 'sweep' then
  local held = redis.call('ZSCORE', KEYS[2], ARGV[1])
  if held and tonumber(held) > tonumber(ARGV[4]) then return {0, current} end
  if old ~= '' then
    if redis.call('LPOS', KEYS[3], old) then return {0, current} end
    redis.call('HDEL', KEYS[4], old)
  end
end
redis.call('HSET', KEYS[1], 'status', 'queued', 'message_id', ARGV[5])
if #ARGV > 8 then redis.call('HSET', KEYS[1], unpack(ARGV, 9)) end
redis.call('HSET', KEYS[4], ARGV[5], ARGV[6])
if ARGV[7] == 'front' then
  redis.call('LPUSH', KEYS[3], ARGV[5])
else
  redis.call('RPUSH', KEYS[3], ARGV[5])
end
redis.call('PUBLISH', KEYS[5], '1')
return {1, current}
"""

#: Delete a record and take it out of the open index. KEYS: job, open jobs; ARGV[1] job id.
_DELETE = """
redis.call('ZREM', KEYS[2], ARGV[1])
return redis.call('DEL', KEYS[1])
"""




def new_job_id() -> str:
    return str(uuid.uuid4())


def valid_job_id(job_id: str) -> bool:
    """True when the whole of ``job_id`` is a lowercase UUID (no trailing newline or other extra)."""
    return JOB_ID.fullmatch(job_id) is not None


@dataclass
class Job:
    """A job record as stored; times are unix seconds (float).

    ``queue``: the task queue its run_job messages go to; ``message_id``: the
    Redis id of its current run_job message (older copies are stale).
    """

    id: str
    type: str
    status: str
    params: dict
    created_at: float
    complete_by: float
    max_time: float
    started_at: float | None = None
    finished_at: float | None = None
    result_url: str | None = None
    result_key: str | None = None
    text: str | None = None
    metadata: dict = field(default_factory=dict)
    error: str | None = None
    progress: float | None = None
    progress_message: str | None = None
    attempts: int = 0
    webhook: str | None = None
    webhook_attempts: int = 0
    webhook_error: str | None = None
    webhook_next_at: float | None = None
    queue: str | None = None
    message_id: str | None = None
    owner: str = ""

    @property
    def notify_url(self) -> str | None:
        return self.params.get("notify_url")

    @property
    def terminal(self) -> bool:
        return self.status in st.TERMINAL

    def run_time(self, max_render_time: float = float("inf")) -> float:
        """Seconds a run may take: the job's max_time, capped by the worker's MAX_RENDER_TIME."""
        return min(self.max_time, max_render_time)

    def deadline(self, started_at: float, max_render_time: float = float("inf")) -> float:
        """Unix time by which a run starting at ``started_at`` must end: min(complete_by,
        started_at + max_time), max_time capped by ``max_render_time`` (s)."""
        return min(self.complete_by, started_at + self.run_time(max_render_time))

    @classmethod
    def from_hash(cls, raw: dict[bytes, bytes]) -> "Job":
        data = {k.decode(): v.decode() for k, v in raw.items()}

        def number(name):
            return float(data[name]) if data.get(name) else None

        return cls(
            id=data["id"], type=data["type"], status=data["status"],
            params=json.loads(data.get("params", "{}")),
            created_at=float(data["created_at"]), complete_by=float(data["complete_by"]),
            max_time=float(data["max_time"]),
            started_at=number("started_at"), finished_at=number("finished_at"),
            result_url=data.get("result_url") or None, result_key=data.get("result_key") or None,
            text=data.get("text"), metadata=json.loads(data.get("metadata") or "{}"),
            error=data.get("error") or None, progress=number("progress"),
            progress_message=data.get("progress_message") or None,
            attempts=int(data.get("attempts") or 0), webhook=data.get("webhook") or None,
            webhook_attempts=int(data.get("webhook_attempts") or 0),
            webhook_error=data.get("webhook_error") or None,
            webhook_next_at=number("webhook_next_at"),
            queue=data.get("queue") or None, message_id=data.get("message_id") or None,
            owner=data.get("owner", ""),
        )


def encode_fields(fields: dict[str, Any]) -> list:
    """``fields`` as a flat name/value list as stored (dicts and lists as JSON, None as "")."""
    """``fields`` as a flat name/value list as stored (dicts and lists as JSON, None as "")."""
    flat: list = []
    for name, value in fields.items():
        if isinstance(value, (dict, list)):
            value = json.dumps(value)
        elif value is None:
            value = ""
        flat.extend((name, value))
    return flat


def outcome(result) -> tuple[bool, str | None]:
    """(applied, previous status) of a conditional change, from its script's answer."""
    applied, current = result[0], result[1]
    return bool(applied), (current.decode() or None) if isinstance(current, bytes) else (current or None)


class JobStore:
    """Reads and changes job records in Redis.

    Parameters:
      client: the Redis client.
      ttl: seconds a record (and an owed webhook) lives after creation.
      retry: how long calls are retried through a Redis blip (default: not at all).
      webhook_claim: seconds before an owed webhook whose first attempt did not report is sent again.
    """

    def __init__(self, client: redis.Redis, ttl: int, retry: RedisRetry = NO_RETRY,
                 webhook_claim: float = DEFAULT_WEBHOOK_CLAIM):
        self.client = client
        self.ttl = ttl
        self.retry = retry
        self.webhook_claim = webhook_claim
        self._update_if = client.register_script(_UPDATE_IF)
        self._finish = client.register_script(_FINISH)
        self._requeue = client.register_script(_REQUEUE)
        self._delete = client.register_script(_DELETE)

    def new_record(self, task: str, params: dict, *, now: float | None = None, owner: str = "",
                   queue: str | None = None) -> dict:
        """The fields of a fresh queued job (not yet stored); ``owner`` is the submitting key's name,
        ``queue`` the task's queue."""
        now = time.time() if now is None else now
        return {
            "id": new_job_id(), "type": task, "status": st.QUEUED, "params": params,
            "created_at": now, "complete_by": now + params["complete_in"], "max_time": params["max_time"],
            "attempts": 0, "webhook": "pending" if params.get("notify_url") else "", "owner": owner,
            "queue": queue or "",
        }

    def create(self, record: dict, pipe) -> None:
        """Queue the writes that store ``record`` and index it as open on ``pipe`` (a Redis pipeline)."""
        key = job_key(record["id"])
        pipe.hset(key, mapping=dict(zip(*[iter(encode_fields(record))] * 2)))
        pipe.expire(key, self.ttl)
        pipe.zadd(OPEN_JOBS, {record["id"]: record["complete_by"]})

    def get(self, job_id: str) -> Job | None:
        raw = self.retry.call(self.client.hgetall, job_key(job_id))
        return Job.from_hash(raw) if raw else None

    def status(self, job_id: str) -> str | None:
        value = self.retry.call(self.client.hget, job_key(job_id), "status")
        return value.decode() if value else None

    def transition(self, job_id: str, new_status: str, *, pipe=None, **fields) -> tuple[bool, str | None]:
        """Move the job to ``new_status`` if allowed; returns (applied, previous status).

        A terminal status also leaves the open index and, when the job has a
        ``notify_url``, writes its webhook outbox entry and first delivery message.
        With ``pipe`` (a Redis pipeline) the change is only queued on it: read its
        outcome with :func:`outcome` from the pipeline's results.
        """
        allowed = json.dumps(sorted(st.ALLOWED_FROM[new_status]))
        if new_status not in st.TERMINAL:
            return self._run(self._update_if, [job_key(job_id)], [new_status, allowed, *encode_fields(fields)], pipe)
        return self._run(self._finish, *self._finish_call(job_id, new_status, allowed, fields), pipe)

    def finish(self, job_id: str, new_status: str, **fields) -> tuple[bool, str | None]:
        """:meth:`transition` to a terminal ``new_status`` in one call that also tells the job's
        type: (applied, type or None)."""
        allowed = json.dumps(sorted(st.ALLOWED_FROM[new_status]))
        result = self.retry.call(self._finish, *self._finish_call(job_id, new_status, allowed, fields))
        applied, _ = outcome(result)
        job_type = result[2] if applied and len(result) > 2 else None
        return applied, job_type.decode() if isinstance(job_type, bytes) else job_type

    def _finish_call(self, job_id: str, new_status: str, allowed: str, fields: dict) -> tuple[list, list]:
        """Keys and arguments of _FINISH."""
        now = time.time()
        fields.setdefault("finished_at", now)
        body = json.dumps(payload_for(job_id, new_status, fields))
        message = with_redis_id(webhook_message(job_id, 1))
        keys = [job_key(job_id), OPEN_JOBS, WEBHOOKS_DUE, outbox_key(job_id), queue_key(WEBHOOK_QUEUE),
                messages_key(WEBHOOK_QUEUE), FINISHED_CHANNEL, wake_channel_of(WEBHOOK_QUEUE)]
        args = [new_status, allowed, uuid.uuid4().hex, job_id, now, now + self.webhook_claim, self.ttl, body,
                redis_id(message), message.encode(), *encode_fields(fields)]
        return keys, args

    def update(self, job_id: str, *, when: tuple[str, ...] = (st.RUNNING,), pipe=None, **fields) -> bool:
        """Write ``fields`` only while the job is in one of ``when``; never recreates a record.

        With ``pipe`` the write is only queued (see :meth:`transition`).
        """
        return self._run(self._update_if, [job_key(job_id)], ["", json.dumps(list(when)), *encode_fields(fields)],
                         pipe)[0]

    def _run(self, script, keys: list, args: list, pipe) -> tuple[bool, str | None]:
        """Run ``script`` now (retried) and return its outcome, or queue it on ``pipe``: (False, None)."""
        if pipe is not None:
            script(keys=keys, args=args, client=pipe)
            return False, None
        return outcome(self.retry.call(script, keys=keys, args=args))

    def requeue(self, job_id: str, message: Message, *, when: tuple[str, ...], expect_message_id: str = "",
                sweep: bool = False, now: float | None = None, **fields) -> bool:
        """Put the job back to ``queued`` with ``message`` (a run_job message), if it is in one of ``when``.

        ``expect_message_id``: only if the job still names that message. ``sweep``: only if no
        live worker holds the job at ``now`` (unix s) and its message is not waiting in the queue;
        the new message goes to the front of the queue (the job has waited already), otherwise to
        the back.
        """
        message = message if "redis_message_id" in message.options else with_redis_id(message)
        keys = [job_key(job_id), HELD_JOBS, queue_key(message.queue_name), messages_key(message.queue_name),
                wake_channel_of(message.queue_name)]
        now = time.time() if now is None else now
        args = [job_id, json.dumps(list(when)), expect_message_id, now, redis_id(message),
                message.encode(), "front" if sweep else "back", "sweep" if sweep else "", *encode_fields(fields)]
        applied, _ = self.retry.call(self._requeue, keys=keys, args=args)
        return bool(applied)

    def delete(self, job_id: str) -> bool:
        """Delete the record (an owed webhook is still delivered)."""
        return bool(self.retry.call(self._delete, keys=[job_key(job_id), OPEN_JOBS], args=[job_id]))
