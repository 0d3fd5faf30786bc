"""The job store: one Redis hash per job, every status change through ``transition``.

Keys are ``c3render:job:<id>`` and expire ``job_ttl`` seconds after creation.
Changes run as Lua scripts so a status check and its write are one step: a
terminal status is never overwritten by a late worker, and a deleted record is
never recreated by a progress update.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import redis

from . import status as st

KEY_PREFIX = "c3render:job:"
#: Pub/sub channel on which every move to a terminal status publishes the job id.
FINISHED_CHANNEL = "c3render:jobs:finished"
JOB_ID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")

#: KEYS[1] job key; KEYS[2] (optional) a channel to publish the job id on when applied;
#: ARGV[1] new status or "" (fields only); ARGV[2] JSON list of statuses the job must be in;
#: ARGV[3..] field/value pairs. Returns {applied, current}.
_UPDATE_IF = """
local current = redis.call('HGET', KEYS[1], 'status')
if not current then return {0, ''} end
local allowed = cjson.decode(ARGV[2])
for _, s in ipairs(allowed) do
  if s == current then
    if ARGV[1] ~= '' then redis.call('HSET', KEYS[1], 'status', ARGV[1]) end
    if #ARGV > 2 then redis.call('HSET', KEYS[1], unpack(ARGV, 3)) end
    if KEYS[2] then redis.call('PUBLISH', KEYS[2], redis.call('HGET', KEYS[1], 'id')) end
    return {1, current}
  end
end
return {0, current}
"""


def new_job_id() -> str:
    return str(uuid.uuid4())


def valid_job_id(job_id: str) -> bool:
    return bool(JOB_ID.match(job_id))


def job_key(job_id: str) -> str:
    return KEY_PREFIX + job_id


@dataclass
class Job:
    """A job record as stored; times are unix seconds (float)."""

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
            webhook_error=data.get("webhook_error") or None, owner=data.get("owner", ""),
        )


def _encode(fields: dict[str, Any]) -> list:
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
    applied, current = result
    return bool(applied), (current.decode() or None) if isinstance(current, bytes) else (current or None)


class JobStore:
    """Reads and changes job records in Redis."""

    def __init__(self, client: redis.Redis, ttl: int):
        """``ttl``: seconds a record lives after creation."""
        self.client = client
        self.ttl = ttl
        self._update_if = client.register_script(_UPDATE_IF)

    def new_record(self, task: str, params: dict, *, now: float | None = None, owner: str = "") -> dict:
        """The fields of a fresh queued job (not yet stored); ``owner`` is the submitting key's name."""
        now = time.time() if now is None else now
        return {
            "id": new_job_id(), "type": task, "status": st.QUEUED, "params": params,
            "created_at": now, "complete_by": now + params["complete_in"], "max_time": params["max_time"],
            "attempts": 0, "webhook": "pending" if params.get("notify_url") else "", "owner": owner,
        }

    def create(self, record: dict, pipe) -> None:
        """Queue the writes that store ``record`` on ``pipe`` (a Redis pipeline)."""
        key = job_key(record["id"])
        pipe.hset(key, mapping=dict(zip(*[iter(_encode(record))] * 2)))
        pipe.expire(key, self.ttl)

    def get(self, job_id: str) -> Job | None:
        raw = self.client.hgetall(job_key(job_id))
        return Job.from_hash(raw) if raw else None

    def status(self, job_id: str) -> str | None:
        value = self.client.hget(job_key(job_id), "status")
        return value.decode() if value else None

    def transition(self, job_id: str, new_status: str, *, pipe=None, **fields) -> tuple[bool, str | None]:
        """Move the job to ``new_status`` if allowed; returns (applied, previous status).

        With ``pipe`` (a Redis pipeline) the change is only queued on it: read its
        outcome with :func:`outcome` from the pipeline's results.
        """
        allowed = sorted(st.ALLOWED_FROM[new_status])
        if new_status in st.TERMINAL:
            fields.setdefault("finished_at", time.time())
        keys = [job_key(job_id), FINISHED_CHANNEL] if new_status in st.TERMINAL else [job_key(job_id)]
        result = self._update_if(keys=keys, args=[new_status, json.dumps(allowed), *_encode(fields)], client=pipe)
        return (False, None) if pipe is not None else outcome(result)

    def update(self, job_id: str, *, when: tuple[str, ...] = (st.RUNNING,), pipe=None, **fields) -> bool:
        """Write ``fields`` only while the job is in one of ``when``; never recreates a record.

        With ``pipe`` the write is only queued (see :meth:`transition`).
        """
        result = self._update_if(keys=[job_key(job_id)], args=["", json.dumps(list(when)), *_encode(fields)],
                                 client=pipe)
        return False if pipe is not None else outcome(result)[0]

    def record_webhook(self, job_id: str, outcome: str, attempts: int, error: str = "") -> bool:
        """Store the webhook delivery outcome (pending, delivered, failed) whatever the status."""
        return self.update(job_id, when=st.ALL, webhook=outcome,
                           webhook_attempts=attempts, webhook_error=error)

    def delete(self, job_id: str) -> bool:
        return bool(self.client.delete(job_key(job_id)))
