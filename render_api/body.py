"""Reading a JSON request body with a size limit and a nesting limit."""

from __future__ import annotations

import json

import falcon

from .errors import ApiError

#: Deepest nesting of arrays and objects accepted in a body; the task schemas need 2.
MAX_DEPTH = 32


def read_json(req: falcon.Request, max_bytes: int) -> object:
    """The parsed JSON body; 413 above ``max_bytes`` bytes, 400 when empty, not JSON or nested too deeply.

    Any Content-Type is accepted (``curl -d`` sends form encoding by default).
    ``NaN`` and ``Infinity`` are not JSON and are refused like any other syntax error.
    """
    if req.content_length is not None and req.content_length > max_bytes:
        raise ApiError(falcon.HTTP_413, "Body too large", f"the request body is limited to {max_bytes} bytes")
    raw = req.bounded_stream.read(max_bytes + 1)
    if len(raw) > max_bytes:
        raise ApiError(falcon.HTTP_413, "Body too large", f"the request body is limited to {max_bytes} bytes")
    if not raw.strip():
        raise ApiError(falcon.HTTP_400, "Invalid request", "the request body is empty; send a JSON object",
                       errors=[{"field": "body", "message": "is required"}])
    try:
        body = json.loads(raw, parse_constant=_refuse_constant)
    except RecursionError:
        body = _TOO_DEEP
    except (UnicodeDecodeError, ValueError) as exc:
        raise ApiError(falcon.HTTP_400, "Invalid request", f"the request body is not valid JSON: {exc}",
                       errors=[{"field": "body", "message": "is not valid JSON"}]) from None
    if body is _TOO_DEEP or _deeper_than(body, MAX_DEPTH):
        raise ApiError(falcon.HTTP_400, "Invalid request",
                       f"the request body nests arrays or objects more than {MAX_DEPTH} levels deep",
                       errors=[{"field": "body", "message": f"is nested more than {MAX_DEPTH} levels deep"}])
    return body


_TOO_DEEP = object()


def _refuse_constant(name: str) -> None:
    raise ValueError(f"{name} is not a JSON value")


def _deeper_than(value: object, limit: int) -> bool:
    """True when ``value`` nests lists or dicts more than ``limit`` levels (iterative: no recursion)."""
    containers = [value] if isinstance(value, (list, dict)) else []
    depth = 0
    while containers:
        depth += 1
        if depth > limit:
            return True
        containers = [child for item in containers for child in (item.values() if isinstance(item, dict) else item)
                      if isinstance(child, (list, dict))]
    return False
