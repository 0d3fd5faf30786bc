"""Per-owner job indexes: Redis sorted sets of job ids scored by creation time (unix s).

``c3render:jobs:owner:<name>`` holds the jobs a key submitted, ``c3render:jobs:all`` every job
(what an admin lists). A page is a ZREVRANGEBYSCORE from a cursor plus one pipelined HGETALL
per returned id, so it costs O(page), never a SCAN.

Entries expire with their jobs: each write trims entries older than the job TTL and sets the
index's own TTL; reads never look below ``now - ttl`` and skip (and remove) ids whose record
is gone (removed with ``remove_data``).

Filters the index cannot answer (status, type) are applied to the loaded records, so a status
filter is always current; one page reads at most ``scan_budget`` entries, and may therefore hold
fewer than ``limit`` jobs while its ``next`` cursor still points further down.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from typing import Callable

import redis

from .store import Job, job_key

OWNER_PREFIX = "c3render:jobs:owner:"
ALL_KEY = "c3render:jobs:all"
#: Largest page a caller may ask for.
MAX_LIMIT = 100
#: Index entries one page may read when filters skip jobs (bounded work per page).
SCAN_BUDGET = 1000


class BadCursor(ValueError):
    """The cursor was not produced by this API."""


#: What ``Cursor.encode`` writes: the last entry's score (creation time, unix s, as Python writes a
#: float) and its job id, e.g. ``1764480000.123456_0b6c1c4e-2f0a-4d7e-9d55-2a1a3f6f2e11``. Every
#: string of this form is a cursor (the OpenAPI document states the pattern).
CURSOR_PATTERN = ("^([0-9]{1,16}(?:\\.[0-9]{1,17})?)_"
                  "([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})$")
_CURSOR = re.compile(CURSOR_PATTERN)


@dataclass(frozen=True)
class Cursor:
    """Position after the last entry read: its score (created_at) and job id."""

    score: float
    job_id: str

    def encode(self) -> str:
        return f"{self.score!r}_{self.job_id}"

    @classmethod
    def decode(cls, text: str) -> "Cursor":
        match = _CURSOR.fullmatch(text)
        if match is None:
            raise BadCursor("the cursor is not valid; pass the `next` value of the previous page")
        return cls(float(match[1]), match[2])


@dataclass(frozen=True)
class Page:
    jobs: list[Job]
    next: Cursor | None


def owner_key(owner: str) -> str:
    return OWNER_PREFIX + owner


class JobIndex:
    """Parameters:
      client: the Redis client.
      ttl: seconds a job lives (entries older than this are dropped).
      scan_budget: index entries one page may read at most.
    """

    def __init__(self, client: redis.Redis, ttl: int, scan_budget: int = SCAN_BUDGET):
        self.client = client
        self.ttl = ttl
        self.scan_budget = scan_budget

    def add(self, pipe, record: dict) -> None:
        """Queue on ``pipe`` the writes that index ``record`` (a new job) and trim old entries."""
        created = record["created_at"]
        for key in self._keys_of(record.get("owner", "")):
            pipe.zadd(key, {record["id"]: created})
            pipe.zremrangebyscore(key, "-inf", f"({created - self.ttl!r}")
            pipe.expire(key, self.ttl)

    def keys_for(self, owner: str) -> list[str]:
        """The index keys a job of ``owner`` is added to."""
        return list(self._keys_of(owner))

    def remove(self, job_id: str, owner: str, pipe=None) -> None:
        """Drop ``job_id`` from its indexes (on removal of the job)."""
        target = pipe if pipe is not None else self.client
        for key in self._keys_of(owner):
            target.zrem(key, job_id)

    def page(self, owner: str | None, *, limit: int, cursor: Cursor | None = None,
             created_after: float | None = None, created_before: float | None = None,
             accept: Callable[[Job], bool] = lambda job: True, now: float | None = None) -> Page:
        """Jobs newest first (``owner`` None = all jobs), at most ``limit``, after ``cursor``.

        ``created_after``/``created_before`` are exclusive bounds in unix seconds; ``accept``
        filters loaded records. Reads at most ``scan_budget`` index entries.
        """
        key = ALL_KEY if owner is None else owner_key(owner)
        now = time.time() if now is None else now
        floor = now - self.ttl
        if created_after is not None:
            floor = max(floor, created_after)
        low = f"({floor!r}"
        jobs: list[Job] = []
        scanned = 0
        position = cursor
        batch_size = min(max(limit * 2, 20), self.scan_budget)
        ties_done = cursor is None
        while len(jobs) < limit and scanned < self.scan_budget:
            want = min(batch_size, self.scan_budget - scanned)
            if not ties_done:  # entries with the cursor's exact score that sort after it
                entries = [(m, s) for m, s in self._range(key, repr(position.score), repr(position.score), 0)
                           if m < position.job_id]
                ties_done = True
                if not entries:
                    continue
            else:
                if position is not None:
                    high = f"({position.score!r}"
                elif created_before is not None:
                    high = f"({created_before!r}"
                else:
                    high = "+inf"
                entries = self._range(key, high, low, want)
                if not entries:
                    return Page(jobs, None)
            records = self._load([m for m, _ in entries])
            gone = []
            for (member, score), job in zip(entries, records):
                scanned += 1
                position = Cursor(score, member)
                if job is None:
                    gone.append(member)
                elif accept(job):
                    jobs.append(job)
                    if len(jobs) == limit:
                        break
            if gone:
                self.client.zrem(key, *gone)
        return Page(jobs, position if position is not None and self._has_more(key, position, low) else None)

    def _range(self, key: str, high: str, low: str, count: int) -> list[tuple[str, float]]:
        """Entries from ``high`` down to ``low`` (Redis score syntax); ``count`` 0 = all."""
        kwargs = {"start": 0, "num": count} if count else {}
        raw = self.client.zrevrangebyscore(key, high, low, withscores=True, **kwargs)
        return [(member.decode(), score) for member, score in raw]

    def _load(self, ids: list[str]) -> list[Job | None]:
        with self.client.pipeline(transaction=False) as pipe:
            for job_id in ids:
                pipe.hgetall(job_key(job_id))
            return [Job.from_hash(raw) if raw else None for raw in pipe.execute()]

    def _has_more(self, key: str, position: Cursor, low: str) -> bool:
        """Whether any entry sorts after ``position`` (one cheap look-ahead)."""
        if any(m < position.job_id for m, _ in self._range(key, repr(position.score), repr(position.score), 0)):
            return True
        return bool(self._range(key, f"({position.score!r}", low, 1))

    @staticmethod
    def _keys_of(owner: str) -> list[str]:
        return [ALL_KEY, owner_key(owner)] if owner else [ALL_KEY]
