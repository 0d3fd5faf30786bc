"""Probes: ``/healthz`` (process up) and ``/readyz`` (Redis reachable)."""

from __future__ import annotations

import falcon
import redis

from ..errors import ApiError


class Liveness:
    def on_get(self, req, resp) -> None:
        resp.media = {"status": "ok"}


class Readiness:
    def __init__(self, client: redis.Redis):
        self.client = client

    def on_get(self, req, resp) -> None:
        try:
            self.client.ping()
        except redis.RedisError as exc:
            raise ApiError(falcon.HTTP_503, "Not ready", f"Redis cannot be reached: {exc}") from None
        resp.media = {"status": "ready"}
