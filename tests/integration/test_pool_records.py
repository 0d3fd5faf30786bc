"""What the GPU pool keeps in Redis: provider, instance id and public URLs; never a credential.

A real Redis; static nodes on a local file server (one configured with userinfo in its URL)
and the fake Comput3 API. After leases, every Redis key and value is read back.
"""

from __future__ import annotations

import time

import pytest
import redis

from render_core.devtools.devservices import RedisServer
from render_core.gpu.monitor import Monitor, MonitorPolicy
from render_core.gpu.pool import GpuPool, PoolPolicy
from render_core.gpu.providers.comput3 import Comput3Provider
from render_core.gpu.providers.static import StaticProvider, parse_static_nodes
from render_core.net.http import Timeouts
from support.fake_comput3 import FakeComput3
from support.servers import FileServer

NODE_KEY = "static-node-key-Secret-1"
PASSWORD = "url-Password-2"
C3_KEY = "comput3-account-key-Secret-3"
POLICY = PoolPolicy(poll=0.05, ready_poll=0.1, ready_timeout=10.0, pre_launch_wait=0.0, pre_launch_wait_max=0.0)


@pytest.fixture(scope="module")
def redis_client(tmp_path_factory):
    with RedisServer(tmp_path_factory.mktemp("pool-records")) as server:
        yield redis.Redis.from_url(server.url)


@pytest.fixture
def client(redis_client):
    redis_client.flushall()
    return redis_client


@pytest.fixture(scope="module")
def nodes():
    with FileServer() as server:
        for name in ("gpu1", "gpu2"):
            server.add(f"/{name}/", b"ok", "text/plain")
        yield server


def redis_dump(client) -> list[str]:
    """Every key and every value (hash fields, set members, strings) as text."""
    found = []
    for key in client.scan_iter("*"):
        found.append(key.decode())
        kind = client.type(key).decode()
        if kind == "hash":
            found += [part.decode() for pair in client.hgetall(key).items() for part in pair]
        elif kind == "set":
            found += [member.decode() for member in client.smembers(key)]
        elif kind == "zset":
            found += [member.decode() for member in client.zrange(key, 0, -1)]
        elif kind == "string":
            found.append(client.get(key).decode())
    return found


def lease_twice(pool: GpuPool, workload: str):
    """A launch, then (after a healthy release) the same instance taken idle from its record."""
    deadline = time.time() + 30
    instance_id, launched = pool.acquire(workload, "holder-1", deadline=deadline)
    pool.release(instance_id, "holder-1", healthy=True)
    again_id, taken = pool.acquire(workload, "holder-2", deadline=deadline)
    assert again_id == instance_id
    return instance_id, launched, taken


def test_static_records_hold_no_key_no_url_credentials_and_no_url_as_a_key(client, nodes):
    host = nodes.url.removeprefix("http://")
    secret_url = f"http://operator:{PASSWORD}@{host}/gpu1"
    provider = StaticProvider(parse_static_nodes(f"{secret_url},{nodes.url}/gpu2"), NODE_KEY, health_timeout=2.0)
    pool = GpuPool(client, provider, POLICY)

    instance_id, launched, taken = lease_twice(pool, "media:fast")

    dump = redis_dump(client)
    assert not [text for text in dump if NODE_KEY in text or PASSWORD in text or "operator" in text], dump
    keys = [key.decode() for key in client.scan_iter("*")]
    assert not [key for key in keys if "http" in key or host in key], keys
    assert instance_id.startswith("static-") and host not in instance_id
    record = pool.instance(instance_id)
    assert record["provider"] == "static" and f"http://{host}/gpu1" in record["node"]
    # the worker rebuilds what the record left out from its own settings
    for node in (launched, taken):
        assert node.headers == {"X-C3-API-KEY": NODE_KEY, "Authorization": f"Bearer {NODE_KEY}"}
        assert node.base_url == secret_url and node.instance_id == instance_id


def test_comput3_records_hold_no_account_key(client):
    with FakeComput3(C3_KEY, launch_delay=0.2) as fake:
        provider = Comput3Provider(fake.api_url, C3_KEY, node_url_template=fake.node_url_template,
                                   ui_url_template=fake.ui_url_template, launch_backoff=[0.01],
                                   health_timeout=2.0, api_timeouts=Timeouts(connect=2.0, read=5.0))
        pool = GpuPool(client, provider, POLICY)
        try:
            instance_id, launched, taken = lease_twice(pool, "media:fast")
            dump = redis_dump(client)
            assert not [text for text in dump if C3_KEY in text], dump
            assert pool.instance(instance_id)["provider"] == "comput3"
            assert launched.headers == taken.headers == {"X-C3-API-KEY": C3_KEY}
            assert taken.base_url == launched.base_url and pool.healthy(instance_id)
        finally:
            for record in pool.instances():
                pool.stop(record["id"], reason="test teardown")


def test_a_health_check_that_cannot_be_made_here_stops_no_node(client, nodes):
    """A key ending in a newline cannot go into a header: that is this worker's fault, not the node's."""
    provider = StaticProvider([nodes.url + "/gpu1"], "node-key\n", health_timeout=2.0)
    pool = GpuPool(client, provider, POLICY)
    instance = provider.launch("media:fast", expires_at=time.time() + 3600)
    pool.add(instance, state="idle")

    assert pool.healthy(instance.id, tries=2, retry_delay=0.05)
    Monitor(client, pool, MonitorPolicy(tries=2, retry_delay=0.05)).run_once()
    assert pool.instance(instance.id) is not None, "the node was stopped for this worker's own mistake"
