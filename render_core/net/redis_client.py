"""The Redis client every process uses, with timeouts that turn a hung Redis into an error."""

from __future__ import annotations

import redis

#: Seconds a command may wait for Redis before it fails.
SOCKET_TIMEOUT = 10.0
#: Seconds a connection attempt may take.
CONNECT_TIMEOUT = 5.0


def connect(url: str, max_connections: int | None = None) -> redis.Redis:
    """A client for ``url`` (``redis://host:port/db``).

    ``max_connections`` bounds the pool: a thread then waits (up to SOCKET_TIMEOUT s) for a free
    connection instead of opening another, so a burst of hundreds of threads (the API waking
    its waiting requests) does not open hundreds of connections at once.
    """
    options = {"socket_timeout": SOCKET_TIMEOUT, "socket_connect_timeout": CONNECT_TIMEOUT,
               "health_check_interval": 30}
    if max_connections is None:
        return redis.Redis.from_url(url, **options)
    pool = redis.BlockingConnectionPool.from_url(url, max_connections=max_connections, timeout=SOCKET_TIMEOUT,
                                                 **options)
    return redis.Redis(connection_pool=pool)
