"""``GET /jobs``: the caller's jobs, newest first, filtered and paged with an opaque cursor.

Query: ``limit`` (1-100, default 20), ``next`` (the cursor of the previous page), ``status``
and ``type`` (comma-separated), ``created_after`` / ``created_before`` (ISO 8601 or unix
seconds, exclusive). An admin key lists every job, or one owner's with ``owner``.
Answer: ``{"jobs": [<status body>, ...], "next": <cursor> | null}``. A filtered page reads at
most 1,000 index entries, so it may hold fewer than ``limit`` jobs; follow ``next`` until null.
"""

from __future__ import annotations

from datetime import datetime

import falcon

from render_core.jobs import status as st
from render_core.jobs.index import MAX_LIMIT, BadCursor, Cursor

from ..errors import ApiError
from ..services import ApiServices
from .jobs import principal_of, status_body

DEFAULT_LIMIT = 20


def _invalid(field: str, message: str) -> ApiError:
    return ApiError(falcon.HTTP_400, "Invalid request", f"{field} {message}",
                    errors=[{"field": field, "message": message}])


def _time(req: falcon.Request, field: str) -> float | None:
    raw = req.get_param(field)
    if raw is None or raw == "":
        return None
    try:
        return float(raw)
    except ValueError:
        pass
    try:
        parsed = datetime.fromisoformat(raw.replace("Z", "+00:00").replace(" ", "+"))
    except ValueError:
        raise _invalid(field, "must be an ISO 8601 time (2026-01-31T12:00:00Z) or unix seconds") from None
    if parsed.tzinfo is None:
        raise _invalid(field, "must carry a time zone (e.g. a trailing Z)")
    return parsed.timestamp()


def _choices(req: falcon.Request, field: str, allowed) -> frozenset[str] | None:
    raw = req.get_param(field)
    if not raw:
        return None
    values = frozenset(part.strip() for part in raw.split(",") if part.strip())
    unknown = sorted(values - set(allowed))
    if unknown:
        raise _invalid(field, f"has unknown value(s) {', '.join(unknown)}; one of {', '.join(sorted(allowed))}")
    return values


class JobListResource:
    def __init__(self, services: ApiServices):
        self.services = services

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        principal = principal_of(req)
        raw_limit = req.get_param("limit")
        try:
            limit = DEFAULT_LIMIT if raw_limit in (None, "") else int(raw_limit)
        except ValueError:
            raise _invalid("limit", f"must be an integer from 1 to {MAX_LIMIT}") from None
        if not 1 <= limit <= MAX_LIMIT:
            raise _invalid("limit", f"must be an integer from 1 to {MAX_LIMIT}")
        statuses = _choices(req, "status", st.ALL)
        types = _choices(req, "type", self.services.registry.tasks)
        after, before = _time(req, "created_after"), _time(req, "created_before")
        cursor = None
        if req.get_param("next"):
            try:
                cursor = Cursor.decode(req.get_param("next"))
            except BadCursor as exc:
                raise _invalid("next", str(exc)) from None
        owner = req.get_param("owner") or None
        if not principal.admin:
            if owner not in (None, principal.name):
                raise _invalid("owner", "may only be given with an admin key")
            owner = principal.name

        def accept(job) -> bool:
            return (statuses is None or job.status in statuses) and (types is None or job.type in types)

        page = self.services.index.page(owner, limit=limit, cursor=cursor, created_after=after,
                                        created_before=before, accept=accept)
        resp.media = {"jobs": [status_body(job) for job in page.jobs],
                      "next": page.next.encode() if page.next else None}
