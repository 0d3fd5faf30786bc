"""Shared fixtures of the in-process tests: a throwaway redis-server where Redis is the point.

The server starts on a free port the first time a test asks for it (most unit tests never do)
and each test gets an emptied database.
"""

from __future__ import annotations

import pytest
import redis

from render_core.devtools.devservices import RedisServer


@pytest.fixture(scope="session")
def unit_redis_server(tmp_path_factory):
    with RedisServer(tmp_path_factory.mktemp("unit-redis")) as server:
        yield server


@pytest.fixture
def redis_client(unit_redis_server) -> redis.Redis:
    """A client of the throwaway server, on an empty database."""
    client = redis.Redis.from_url(unit_redis_server.url)
    client.flushdb()
    yield client
    client.close()
