"""Idempotent submission: an ``Idempotency-Key`` names one job per client key for 24 h.

``c3render:idem:<owner>:<sha256 of the key>`` holds ``{"job_id", "body"}`` where ``body`` is
the SHA-256 of the task name and the canonical JSON of the request body. The key is written in
the same MULTI/EXEC as the job (see :meth:`JobLifecycle.submit_once`), under WATCH, so
concurrent duplicates create exactly one job.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass

KEY_PREFIX = "c3render:idem:"
#: Seconds an idempotency key is remembered (never longer than the job itself lives).
TTL = 24 * 3600
#: What a client may send as a key: 1-255 visible ASCII characters.
VALID_KEY = re.compile(r"^[\x21-\x7e]{1,255}$")


class IdempotencyConflict(Exception):
    """The key was used before with a different body (or another task)."""

    def __init__(self, job_id: str):
        super().__init__(job_id)
        self.job_id = job_id


@dataclass(frozen=True)
class Claim:
    """One submission's idempotency key (scoped to its owner) and the hash of what it submits."""

    redis_key: str
    body_hash: str

    @classmethod
    def of(cls, owner: str, key: str, task: str, body: object) -> "Claim":
        scoped = hashlib.sha256(key.encode()).hexdigest()
        canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        body_hash = hashlib.sha256(f"{task}\n{canonical}".encode()).hexdigest()
        return cls(f"{KEY_PREFIX}{owner}:{scoped}", body_hash)

    def value(self, job_id: str) -> str:
        return json.dumps({"job_id": job_id, "body": self.body_hash})

    def replay(self, stored: bytes) -> str:
        """The job id a stored claim names; raises :class:`IdempotencyConflict` for another body."""
        data = json.loads(stored)
        if data["body"] != self.body_hash:
            raise IdempotencyConflict(data["job_id"])
        return data["job_id"]
