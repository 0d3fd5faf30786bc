"""One JSON error format for every failure: ``{"title", "description", ...}``.

Domain errors are mapped here once; an unexpected exception becomes a 500 JSON
without a traceback (the traceback goes to the log). The body is always JSON,
whatever the client's Accept header, and escapes every non-ASCII character, so
client-supplied text in a message (a field name with a lone surrogate, say)
can never break the serializer.
"""

from __future__ import annotations

import json
import logging

import falcon
import redis

from render_core.sdk.schema import ValidationError

log = logging.getLogger(__name__)


class ApiError(falcon.HTTPError):
    """An HTTP error whose JSON body carries ``extra`` fields next to title/description."""

    def __init__(self, http_status, title: str, description: str | None = None, /, **extra):
        super().__init__(http_status, title=title, description=description)
        self.extra = extra

    def to_dict(self, obj_type=dict):
        body = super().to_dict(obj_type)
        body.update(self.extra)
        return body


def validation_failed(req, resp, exc: ValidationError, params):
    problems = [{"field": p.field, "message": p.message} for p in exc.problems]
    summary = "; ".join(f"{p.field} {p.message}" for p in exc.problems)
    raise ApiError(falcon.HTTP_400, "Invalid request", summary, errors=problems)


def redis_unavailable(req, resp, exc: redis.RedisError, params):
    log.error("Redis error on %s %s: %s", req.method, req.path, exc)
    raise ApiError(falcon.HTTP_503, "Service unavailable", "the job store (Redis) cannot be reached; retry later")


def unexpected(req, resp, exc: Exception, params):
    if isinstance(exc, falcon.HTTPError):
        raise exc
    log.exception("unhandled error on %s %s", req.method, req.path)
    raise ApiError(falcon.HTTP_500, "Internal error", "the server failed to handle this request; it was logged")


def serialize(req: falcon.Request, resp: falcon.Response, exc: falcon.HTTPError) -> None:
    """Write ``exc`` as an ASCII-only JSON body (Falcon's default would pick XML or nothing by Accept)."""
    resp.content_type = falcon.MEDIA_JSON
    resp.data = json.dumps(exc.to_dict(), ensure_ascii=True).encode("ascii")


def install(app: falcon.App) -> None:
    """Register the handlers (most specific last wins in Falcon's lookup by MRO) and the error serializer."""
    app.set_error_serializer(serialize)
    app.add_error_handler(Exception, unexpected)
    app.add_error_handler(redis.RedisError, redis_unavailable)
    app.add_error_handler(ValidationError, validation_failed)
