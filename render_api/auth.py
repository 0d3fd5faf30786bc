"""API-key middleware: ``X-C3-RENDER-KEY`` or ``Authorization: Bearer`` against the key ring.

Every request to a protected route gets ``req.context.principal`` (the key's name and role);
with no key configured at all (only when C3_RENDER_ALLOW_OPEN=true says so: ``create_app``
refuses otherwise), the API is open and every caller is ``anonymous`` (an admin).
"""

from __future__ import annotations

import logging

import falcon

from .errors import ApiError
from .keys import ANONYMOUS, KeyRing

log = logging.getLogger(__name__)

#: Routes that never need a key: probes, metrics scraping and the API description.
OPEN_PATHS = frozenset({"/healthz", "/readyz", "/metrics", "/openapi.json"})


class ApiKeyAuth:
    """Refuses requests without a configured key; with no key configured, everything is open."""

    def __init__(self, keys: KeyRing):
        self.keys = keys
        if keys.open:
            log.warning("C3_RENDER_API_KEY is not set and no keys are given (C3_RENDER_KEYS_FILE, C3_RENDER_KEYS): "
                        "the API accepts requests without a key")

    def process_request(self, req: falcon.Request, resp: falcon.Response) -> None:
        if self.keys.open:
            req.context.principal = ANONYMOUS
            return
        if req.path in OPEN_PATHS:
            return
        presented = req.get_header("X-C3-RENDER-KEY") or _bearer(req.get_header("Authorization"))
        if not presented:
            raise ApiError(falcon.HTTP_401, "Unauthorized",
                           "send the API key in X-C3-RENDER-KEY or Authorization: Bearer <key>")
        principal = self.keys.identify(presented)
        if principal is None:
            raise ApiError(falcon.HTTP_401, "Unauthorized", "the API key is not valid")
        req.context.principal = principal


def _bearer(header: str | None) -> str | None:
    if header and header[:7].lower() == "bearer ":
        return header[7:].strip()
    return None
