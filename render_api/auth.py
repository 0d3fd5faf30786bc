"""API-key middleware: ``X-C3-RENDER-KEY`` or ``Authorization: Bearer`` against C3_RENDER_API_KEY."""

from __future__ import annotations

import hmac
import logging

import falcon

from .errors import ApiError

log = logging.getLogger(__name__)

#: Routes that never need a key: probes, metrics scraping and the API description.
OPEN_PATHS = frozenset({"/healthz", "/readyz", "/metrics", "/openapi.json"})


class ApiKeyAuth:
    """Refuses requests without the configured key; with no key configured, everything is open."""

    def __init__(self, api_key: str):
        self.api_key = api_key.encode()
        if not api_key:
            log.warning("C3_RENDER_API_KEY is not set: the API accepts requests without a key")

    def process_request(self, req: falcon.Request, resp: falcon.Response) -> None:
        if not self.api_key or req.path in OPEN_PATHS:
            return
        presented = req.get_header("X-C3-RENDER-KEY") or _bearer(req.get_header("Authorization"))
        if not presented:
            raise ApiError(falcon.HTTP_401, "Unauthorized",
                           "send the API key in X-C3-RENDER-KEY or Authorization: Bearer <key>")
        if not hmac.compare_digest(presented.encode(), self.api_key):
            raise ApiError(falcon.HTTP_401, "Unauthorized", "the API key is not valid")


def _bearer(header: str | None) -> str | None:
    if header and header[:7].lower() == "bearer ":
        return header[7:].strip()
    return None
