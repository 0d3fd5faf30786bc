"""``GET /jobs``: the caller's jobs, newest first, filtered and paged with an opaque cursor.

Query: ``limit`` (1-100, default 20), ``next`` (the cursor of the previous page), ``status``
and ``type`` (comma-separated), ``created_after`` / ``created_before`` (RFC 3339 or unix
seconds, exclusive). An admin key lists every job, or one owner's with ``owner`` (403 for
other keys). Each value must match its pattern in ``index_params`` (the OpenAPI document).
Answer: ``{"jobs": [<status body>, ...], "next": <cursor> | null}``. A filtered page reads at
most 1,000 index entries, so it may hold fewer than ``limit`` jobs; follow ``next`` until null.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

import falcon

from render_core.jobs import status as st
from render_core.jobs.index import MAX_LIMIT, BadCursor, Cursor

from ..errors import ApiError
from ..keys import NAME
from ..services import ApiServices
from .index_params import TIME, choices_pattern
from .jobs import principal_of, status_body

DEFAULT_LIMIT = 20


def _invalid(field: str, message: str) -> ApiError:
    return ApiError(falcon.HTTP_400, "Invalid request", f"{field} {message}",
                    errors=[{"field": field, "message": message}])


def _time(req: falcon.Request, field: str) -> float | None:
    raw = req.get_param(field)
    if raw is None or raw == "":
        return None
    match = TIME.fullmatch(raw)
    if match is None:
        raise _invalid(field, "must be an RFC 3339 time (2026-01-31T12:00:00Z) or unix seconds")
    unix, date, hour, minute, second, fraction, offset = match.groups()
    if unix:
        return float(unix)
    zone = timezone.utc if offset in ("Z", "z") else \
        timezone((-1 if offset[0] == "-" else 1) * timedelta(hours=int(offset[1:3]), minutes=int(offset[4:6])))
    moment = datetime.strptime(f"{date} {hour}:{minute}:{second}", "%Y-%m-%d %H:%M:%S").replace(tzinfo=zone)
    return moment.timestamp() + float(f"0.{fraction or 0}")


def _choices(req: falcon.Request, field: str, allowed) -> frozenset[str] | None:
    raw = req.get_param(field)
    if not raw:
        return None
    if not re.fullmatch(choices_pattern(allowed), raw):
        raise _invalid(field, f"must be comma-separated values of {', '.join(sorted(allowed))}")
    return frozenset(raw.split(","))


class JobListResource:
    def __init__(self, services: ApiServices):
        self.services = services

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        principal = principal_of(req)
        raw_limit = req.get_param("limit")
        if raw_limit is None:
            limit = DEFAULT_LIMIT
        elif re.fullmatch("-?[0-9]{1,6}", raw_limit) and 1 <= int(raw_limit) <= MAX_LIMIT:
            limit = int(raw_limit)
        else:
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
        if owner is not None and not NAME.fullmatch(owner):
            raise _invalid("owner", "is not a key name")
        if not principal.admin:
            if owner not in (None, principal.name):
                raise ApiError(falcon.HTTP_403, "Forbidden", "only an admin key may list another key's jobs",
                               errors=[{"field": "owner", "message": "may only be given with an admin key"}])
            owner = principal.name

        def accept(job) -> bool:
            return (statuses is None or job.status in statuses) and (types is None or job.type in types)

        page = self.services.index.page(owner, limit=limit, cursor=cursor, created_after=after,
                                        created_before=before, accept=accept)
        resp.media = {"jobs": [status_body(job) for job in page.jobs],
                      "next": page.next.encode() if page.next else None}
