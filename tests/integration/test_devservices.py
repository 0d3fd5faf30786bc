"""Real redis-server and SeaweedFS ``weed mini`` started by render_core.devtools.devservices."""

import io
import socket

import pytest
import redis
import requests
from minio.error import S3Error

from render_core.devtools.devservices import RedisServer, S3Server, free_port

ACCESS_KEY = "devservices-test"
SECRET_KEY = "devservices-test-secret"
BUCKET = "renders"


@pytest.fixture(scope="module")
def s3_server(tmp_path_factory):
    with S3Server(tmp_path_factory.mktemp("s3"), ACCESS_KEY, SECRET_KEY, bucket=BUCKET) as server:
        yield server


def test_free_port_can_be_bound():
    port = free_port()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", port))


def test_redis_answers_ping_on_its_url(tmp_path):
    with RedisServer(tmp_path) as server:
        assert server.url == f"redis://127.0.0.1:{server.port}/0"
        client = redis.Redis.from_url(server.url)
        assert client.ping() is True
        client.close()
    assert (tmp_path / "redis.log").stat().st_size > 0


def test_redis_with_aof_keeps_data_across_kill_and_restart(tmp_path):
    server = RedisServer(tmp_path, appendonly=True)
    server.start()
    try:
        port = server.port
        redis.Redis.from_url(server.url).set("job:1", "queued")
        server.kill()
        with pytest.raises(redis.ConnectionError):
            redis.Redis.from_url(server.url, socket_connect_timeout=1).ping()
        server.restart()
        assert server.port == port
        assert redis.Redis.from_url(server.url).get("job:1") == b"queued"
    finally:
        server.stop()


def test_redis_refuses_a_port_in_use(tmp_path):
    with RedisServer(tmp_path / "a") as first:
        second = RedisServer(tmp_path / "b", port=first.port)
        with pytest.raises(RuntimeError, match="already in use"):
            second.start()


def test_redis_that_dies_at_start_reports_its_log(tmp_path):
    class MisconfiguredRedis(RedisServer):
        def _command(self):
            return super()._command() + ["--no-such-directive", "1"]

    with pytest.raises(RuntimeError, match="(?s)redis-server exited.*no-such-directive"):
        MisconfiguredRedis(tmp_path).start()


def test_s3_put_and_get_object(s3_server):
    client = s3_server.client()
    client.put_object(BUCKET, "jobs/1/out.bin", io.BytesIO(b"\x00render\xff"), 8)
    response = client.get_object(BUCKET, "jobs/1/out.bin")
    try:
        assert response.read() == b"\x00render\xff"
    finally:
        response.close()
        response.release_conn()


def test_s3_presigned_get_works_with_plain_http(s3_server):
    client = s3_server.client()
    client.put_object(BUCKET, "jobs/2/out.txt", io.BytesIO(b"presigned"), 9)
    url = client.presigned_get_object(BUCKET, "jobs/2/out.txt")
    assert url.startswith(f"http://{s3_server.endpoint}/")
    response = requests.get(url, timeout=10)
    assert response.status_code == 200
    assert response.content == b"presigned"


def test_s3_refuses_unsigned_and_wrongly_signed_requests(s3_server):
    s3_server.client().put_object(BUCKET, "jobs/3/secret.txt", io.BytesIO(b"x"), 1)
    unsigned = requests.get(f"http://{s3_server.endpoint}/{BUCKET}/jobs/3/secret.txt", timeout=10)
    assert unsigned.status_code == 403
    with pytest.raises(S3Error) as refused:
        s3_server.client(secret_key="not-the-secret").get_object(BUCKET, "jobs/3/secret.txt")
    assert refused.value.code in {"AccessDenied", "SignatureDoesNotMatch"}


def test_two_s3_servers_run_side_by_side(s3_server, tmp_path):
    with S3Server(tmp_path, "second-key", "second-secret", bucket="other") as second:
        assert second.endpoint != s3_server.endpoint
        assert [b.name for b in second.client().list_buckets()] == ["other"]
        assert BUCKET in [b.name for b in s3_server.client().list_buckets()]


def test_s3_restart_keeps_port_and_objects(s3_server):
    s3_server.client().put_object(BUCKET, "jobs/4/kept.txt", io.BytesIO(b"kept"), 4)
    endpoint = s3_server.endpoint
    s3_server.restart()
    assert s3_server.endpoint == endpoint
    response = s3_server.client().get_object(BUCKET, "jobs/4/kept.txt")
    try:
        assert response.read() == b"kept"
    finally:
        response.close()
        response.release_conn()
