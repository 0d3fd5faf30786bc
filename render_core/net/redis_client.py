"""The Redis client every process uses, with timeouts that turn a hung Redis into an error."""

from __future__ import annotations

import redis

#: Seconds a command may wait for Redis before it fails.
SOCKET_TIMEOUT = 10.0
#: Seconds a connection attempt may take.
CONNECT_TIMEOUT = 5.0


def connect(url: str) -> redis.Redis:
    """A client for ``url`` (``redis://host:port/db``)."""
    return redis.Redis.from_url(url, socket_timeout=SOCKET_TIMEOUT, socket_connect_timeout=CONNECT_TIMEOUT,
                                health_check_interval=30)
