"""Reading a JSON request body with a size limit."""

from __future__ import annotations

import json

import falcon

from .errors import ApiError


def read_json(req: falcon.Request, max_bytes: int) -> object:
    """The parsed JSON body; 413 above ``max_bytes`` bytes, 400 when empty or not JSON.

    Any Content-Type is accepted (``curl -d`` sends form encoding by default).
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
        return json.loads(raw)
    except (UnicodeDecodeError, ValueError) as exc:
        raise ApiError(falcon.HTTP_400, "Invalid request", f"the request body is not valid JSON: {exc}",
                       errors=[{"field": "body", "message": "is not valid JSON"}]) from None
