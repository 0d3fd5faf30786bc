"""Tests of render_core.net.http against real HTTP servers on loopback (no external network)."""
from __future__ import annotations

import json
import shutil
import socket
import ssl
import subprocess
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Callable

import pytest
import requests

from render_core.net.http import AddressPolicy, BlockedAddress, FetchAborted, FetchError, Timeouts, TooLarge, download, post_json, session

LOOPBACK = AddressPolicy(allow_loopback=True)
QUICK = Timeouts(connect=2.0, read=0.5)


# --------------------------------------------------------------------------- servers

class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], routes: dict[str, Callable]) -> None:
        super().__init__(address, _Handler)
        self.routes = routes
        self.hits: list[tuple[str, str, dict, bytes]] = []  # method, path, headers, body
        self.release = threading.Event()  # set at teardown to wake handlers that stall


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args: object) -> None:
        pass

    def _dispatch(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.server.hits.append((self.command, self.path, dict(self.headers), body))
        self.server.routes.get(self.path, not_found)(self)

    do_GET = do_POST = _dispatch


def send(handler: BaseHTTPRequestHandler, body: bytes, status: int = 200, content_type: str = "image/png") -> None:
    handler.send_response(status)
    handler.send_header("Content-Type", content_type)
    handler.send_header("Content-Length", str(len(body)))
    handler.end_headers()
    handler.wfile.write(body)


def not_found(handler: BaseHTTPRequestHandler) -> None:
    send(handler, b"no such file", status=404, content_type="text/plain")


def redirect_to(location: str, status: int = 302) -> Callable:
    def route(handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(status)
        handler.send_header("Location", location)
        handler.send_header("Content-Length", "0")
        handler.end_headers()
    return route


def chunked(total_bytes: int, chunk_bytes: int = 64 * 1024) -> Callable:
    """A body without Content-Length, sent with chunked transfer encoding."""
    def route(handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(200)
        handler.send_header("Transfer-Encoding", "chunked")
        handler.end_headers()
        try:
            for start in range(0, total_bytes, chunk_bytes):
                piece = b"x" * min(chunk_bytes, total_bytes - start)
                handler.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
            handler.wfile.write(b"0\r\n\r\n")
        except OSError:
            pass  # the client gave up, as it should
    return route


def stall(handler: BaseHTTPRequestHandler, headers_first: bool = False) -> None:
    """Answer only after teardown (or after sending headers and a few bytes when ``headers_first``)."""
    if headers_first:
        handler.send_response(200)
        handler.send_header("Content-Length", "1000")
        handler.end_headers()
        handler.wfile.write(b"abc")
        handler.wfile.flush()
    handler.server.release.wait(10)


@dataclass
class Served:
    server: _Server

    def url(self, path: str = "/", host: str | None = None) -> str:
        address, port = self.server.server_address[:2]
        return f"http://{host or address}:{port}{path}"

    @property
    def port(self) -> int:
        return self.server.server_address[1]

    @property
    def paths(self) -> list[str]:
        return [hit[1] for hit in self.server.hits]


@pytest.fixture
def serve():
    """Start an HTTP(S) server: ``serve(routes, host="127.0.0.1", tls=None) -> Served``."""
    servers: list[_Server] = []

    def start(routes: dict[str, Callable], host: str = "127.0.0.1", tls: ssl.SSLContext | None = None) -> Served:
        server = _Server((host, 0), routes)
        if tls is not None:
            server.socket = tls.wrap_socket(server.socket, server_side=True)
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True).start()
        servers.append(server)
        return Served(server)

    yield start
    for server in servers:
        server.release.set()
        server.shutdown()
        server.server_close()


@pytest.fixture
def fake_dns(monkeypatch):
    """Make chosen host names resolve to chosen addresses: ``fake_dns({"name": ["ip", ...]})``."""
    real_getaddrinfo = socket.getaddrinfo

    def install(table: dict[str, list[str]]) -> None:
        def getaddrinfo(host, port, family=0, type=0, proto=0, flags=0):
            if host not in table:
                return real_getaddrinfo(host, port, family, type, proto, flags)
            return [(socket.AF_INET6, socket.SOCK_STREAM, 6, "", (ip, port, 0, 0)) if ":" in ip
                    else (socket.AF_INET, socket.SOCK_STREAM, 6, "", (ip, port)) for ip in table[host]]
        monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return install


# --------------------------------------------------------------------------- policy

POLICY_TABLE = [
    # address,               default, allow_loopback, allow_private
    ("93.184.216.34",          True,  True,  True),
    ("8.8.8.8",                True,  True,  True),
    ("172.32.0.1",             True,  True,  True),
    ("2606:4700:4700::1111",   True,  True,  True),
    ("127.0.0.1",              False, True,  True),
    ("127.8.9.10",             False, True,  True),
    ("::1",                    False, True,  True),
    ("::ffff:127.0.0.1",       False, True,  True),
    ("10.0.0.5",               False, False, True),
    ("172.16.0.1",             False, False, True),
    ("172.31.255.254",         False, False, True),
    ("192.168.1.10",           False, False, True),
    ("fd12:3456::1",           False, False, True),
    ("::ffff:192.168.0.1",     False, False, True),
    ("100.64.0.1",             False, False, True),
    ("169.254.169.254",        False, False, False),
    ("::ffff:169.254.169.254", False, False, False),
    ("169.254.1.1",            False, False, False),
    ("fe80::1",                False, False, False),
    ("fe80::1%eth0",           False, False, False),
    ("fd00:ec2::254",          False, False, False),
    ("100.100.100.200",        False, False, False),
    ("0.0.0.0",                False, False, False),
    ("::",                     False, False, False),
    ("224.0.0.1",              False, False, False),
    ("ff02::1",                False, False, False),
    ("240.0.0.1",              False, False, False),
    ("255.255.255.255",        False, False, False),
    ("192.0.2.1",              False, False, False),
    ("2001:db8::1",            False, False, False),
    ("2002:a00:5::1",          False, False, True),   # 6to4 wrapping 10.0.0.5
    ("not-an-ip",              False, False, False),
]


@pytest.mark.parametrize("address, by_default, with_loopback, with_private", POLICY_TABLE)
def test_policy_table(address, by_default, with_loopback, with_private):
    assert AddressPolicy().allows(address) is by_default
    assert AddressPolicy(allow_loopback=True).allows(address) is with_loopback
    assert AddressPolicy(allow_private=True).allows(address) is with_private


@pytest.mark.parametrize("address, reason", [
    ("127.0.0.1", "loopback address"), ("10.1.2.3", "private address"), ("169.254.169.254", "cloud metadata address"),
    ("169.254.3.3", "link-local address"), ("::ffff:10.0.0.1", "private address"), ("8.8.8.8", None),
])
def test_refusal_reason_names_the_kind_of_address(address, reason):
    assert AddressPolicy().refusal_reason(address) == reason


@pytest.mark.parametrize("host", ["metadata.google.internal", "METADATA.google.internal.", "metadata"])
def test_metadata_host_names_are_refused_under_every_policy(host):
    assert AddressPolicy(allow_private=True).host_refusal_reason(host) == "cloud metadata host"
    assert AddressPolicy().host_refusal_reason("example.com") is None


# --------------------------------------------------------------------------- address checks at connect time

def test_loopback_is_refused_by_default_without_any_request(serve, tmp_path):
    served = serve({"/a.png": lambda h: send(h, b"png")})
    with pytest.raises(BlockedAddress, match=r"refusing to connect to 127\.0\.0\.1: it does not resolve to a public"):
        download(served.url("/a.png"), tmp_path / "a.png", max_bytes=1000)
    assert served.paths == []
    assert not (tmp_path / "a.png").exists()


def test_loopback_is_allowed_with_allow_loopback(serve, tmp_path):
    served = serve({"/a.png": lambda h: send(h, b"\x89PNG data")})
    result = download(served.url("/a.png"), tmp_path / "a.png", max_bytes=1000, policy=LOOPBACK)
    assert (result.path, result.size, result.content_type) == (tmp_path / "a.png", 9, "image/png")
    assert result.final_url == served.url("/a.png")
    assert (tmp_path / "a.png").read_bytes() == b"\x89PNG data"


@pytest.mark.parametrize("host", ["localhost", "2130706433", "0x7f.1"])
def test_host_names_are_checked_after_resolution(serve, tmp_path, host, caplog):
    served = serve({"/": lambda h: send(h, b"secret")})
    with pytest.raises(BlockedAddress, match=rf"refusing to connect to {host}: it does not resolve to a public"):
        download(served.url("/", host=host), tmp_path / "out", max_bytes=1000)
    assert served.paths == []
    assert f"{host}: it resolves to 127.0.0.1 (loopback address)" in caplog.text


def test_connects_only_to_an_allowed_resolved_address_and_keeps_the_host_name(serve, fake_dns, tmp_path):
    served = serve({"/f": lambda h: send(h, b"ok")})
    fake_dns({"files.example.test": ["10.0.0.5", "127.0.0.1"]})
    url = served.url("/f", host="files.example.test")

    result = download(url, tmp_path / "f", max_bytes=100, policy=LOOPBACK)

    assert result.size == 2
    assert served.server.hits[0][2]["Host"] == f"files.example.test:{served.port}"


def test_refusal_names_the_host_but_not_the_address_it_resolves_to(serve, fake_dns, tmp_path, caplog):
    """The message reaches clients (a notify_url's error in GET /status): no resolved address in it."""
    fake_dns({"files.example.internal": ["10.0.0.5"]})
    with pytest.raises(BlockedAddress) as raised:
        download("http://files.example.internal/x", tmp_path / "x", max_bytes=100)
    assert str(raised.value) == ("refusing to connect to files.example.internal: "
                                 "it does not resolve to a public address")
    assert "10.0.0.5" not in str(raised.value) and "private" not in str(raised.value)
    assert "files.example.internal: it resolves to 10.0.0.5 (private address)" in caplog.text


def test_metadata_host_name_is_refused_before_resolution(fake_dns, tmp_path, caplog):
    fake_dns({"metadata.google.internal": ["8.8.8.8"]})
    with pytest.raises(BlockedAddress, match="metadata.google.internal: it is not a public address"):
        download("http://metadata.google.internal/computeMetadata/v1/", tmp_path / "m",
                 max_bytes=100, policy=AddressPolicy(allow_private=True))
    assert "metadata.google.internal: cloud metadata host" in caplog.text


@pytest.mark.parametrize("url", ["file:///etc/passwd", "ftp://example.com/a", "gopher://example.com/", "dict://x:11211/"])
def test_non_http_urls_are_refused(url, tmp_path):
    with pytest.raises(BlockedAddress, match="only http and https URLs are allowed"):
        download(url, tmp_path / "x", max_bytes=100, policy=AddressPolicy(allow_private=True))


@pytest.mark.parametrize("url", ["not a url", "http://", "//example.com/x", "http://[::1/"])
def test_malformed_urls_are_a_readable_fetch_error(url, tmp_path):
    with pytest.raises(FetchError, match=r"failed: invalid URL \("):
        download(url, tmp_path / "x", max_bytes=100)


# --------------------------------------------------------------------------- redirects

@dataclass(frozen=True)
class _DenySecondLoopback(AddressPolicy):
    """Test policy: loopback allowed, except 127.0.0.2 (stands in for a refused target)."""

    def refusal_reason(self, address):
        return "denied by test" if str(address) == "127.0.0.2" else super().refusal_reason(address)


def test_each_redirect_hop_is_checked_again(serve, tmp_path, caplog):
    try:
        refused = serve({"/secret": lambda h: send(h, b"secret")}, host="127.0.0.2")
    except OSError:
        pytest.skip("127.0.0.2 is not available on this machine")
    allowed = serve({"/start": redirect_to(refused.url("/secret"))})
    policy = _DenySecondLoopback(allow_loopback=True)

    with pytest.raises(BlockedAddress, match=r"127\.0\.0\.2: it does not resolve to a public address"):
        download(allowed.url("/start"), tmp_path / "out", max_bytes=100, policy=policy)
    assert "127.0.0.2 (denied by test)" in caplog.text

    assert allowed.paths == ["/start"]
    assert refused.paths == []
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("target, match", [
    ("http://169.254.169.254/latest/meta-data/", r"169\.254\.169\.254: it does not resolve to a public address"),
    ("http://10.0.0.1/admin", r"10\.0\.0\.1: it does not resolve to a public address"),
    ("file:///etc/passwd", "only http and https URLs are allowed"),
])
def test_redirect_to_a_refused_target_is_refused(serve, tmp_path, target, match):
    served = serve({"/start": redirect_to(target, status=301)})
    with pytest.raises(BlockedAddress, match=match):
        download(served.url("/start"), tmp_path / "out", max_bytes=100, policy=LOOPBACK)


def test_allowed_redirects_are_followed(serve, tmp_path):
    served = serve({"/old": redirect_to("/new", status=307), "/new": lambda h: send(h, b"moved")})
    result = download(served.url("/old"), tmp_path / "out", max_bytes=100, policy=LOOPBACK)
    assert result.final_url == served.url("/new")
    assert (tmp_path / "out").read_bytes() == b"moved"


def test_redirect_loops_are_capped(serve, tmp_path):
    served = serve({"/loop": redirect_to("/loop")})
    with pytest.raises(FetchError, match="too many redirects"):
        download(served.url("/loop"), tmp_path / "out", max_bytes=100, policy=LOOPBACK)
    assert len(served.paths) == 6  # the first request and 5 redirects


# --------------------------------------------------------------------------- size limits, errors, cancellation

def test_declared_size_above_limit_is_refused_before_reading_the_body(serve, tmp_path):
    def huge(handler):
        handler.send_response(200)
        handler.send_header("Content-Length", str(3_000_000))
        handler.end_headers()
        handler.wfile.write(b"x" * 10)  # then nothing: reading the body would time out instead
        handler.server.release.wait(10)

    served = serve({"/big": huge})
    with pytest.raises(TooLarge, match=r"size \(3 MB\) exceeds the limit of 1 MB"):
        download(served.url("/big"), tmp_path / "big", max_bytes=1_000_000, policy=LOOPBACK, timeouts=QUICK)
    assert not (tmp_path / "big").exists()


def test_streamed_body_above_limit_is_aborted_and_the_partial_file_removed(serve, tmp_path):
    served = serve({"/stream": chunked(total_bytes=600_000)})
    with pytest.raises(TooLarge, match=r"larger than the limit of 0\.2 MB"):
        download(served.url("/stream"), tmp_path / "s", max_bytes=200_000, policy=LOOPBACK)
    assert not (tmp_path / "s").exists()


def test_streamed_body_within_limit_is_saved(serve, tmp_path):
    served = serve({"/stream": chunked(total_bytes=200_000)})
    result = download(served.url("/stream"), tmp_path / "s", max_bytes=200_000, policy=LOOPBACK)
    assert result.size == 200_000 == (tmp_path / "s").stat().st_size


def test_http_error_status_is_a_readable_fetch_error(serve, tmp_path):
    served = serve({})
    url = served.url("/missing.png")
    with pytest.raises(FetchError, match=rf"download of {url} failed: HTTP 404$"):
        download(url, tmp_path / "m", max_bytes=100, policy=LOOPBACK)
    assert not (tmp_path / "m").exists()


def test_server_that_does_not_answer_times_out(serve, tmp_path):
    served = serve({"/slow": stall})
    with pytest.raises(FetchError, match=r"no data received for 0\.5 s"):
        download(served.url("/slow"), tmp_path / "slow", max_bytes=100, policy=LOOPBACK, timeouts=QUICK)


def test_server_that_stalls_mid_body_times_out_and_the_partial_file_is_removed(serve, tmp_path):
    served = serve({"/stall": lambda h: stall(h, headers_first=True)})
    with pytest.raises(FetchError, match=r"no data received for 0\.5 s"):
        download(served.url("/stall"), tmp_path / "stall", max_bytes=10_000, policy=LOOPBACK, timeouts=QUICK)
    assert not (tmp_path / "stall").exists()


def test_refused_connection_is_a_readable_fetch_error(tmp_path):
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(FetchError, match=r"could not connect \(Connection refused\)"):
        download(f"http://127.0.0.1:{port}/", tmp_path / "x", max_bytes=100, policy=LOOPBACK)


def test_should_stop_aborts_between_chunks_and_removes_the_file(serve, tmp_path):
    served = serve({"/stream": chunked(total_bytes=1_000_000)})
    checks = []

    def should_stop():
        checks.append(1)
        return len(checks) >= 3

    with pytest.raises(FetchAborted, match="was cancelled"):
        download(served.url("/stream"), tmp_path / "s", max_bytes=10_000_000, policy=LOOPBACK, should_stop=should_stop)
    assert len(checks) == 3
    assert not (tmp_path / "s").exists()


def test_proxy_environment_variables_are_ignored(serve, tmp_path, monkeypatch):
    served = serve({"/a": lambda h: send(h, b"direct")})
    for name in ("HTTP_PROXY", "http_proxy", "ALL_PROXY"):
        monkeypatch.setenv(name, "http://10.9.9.9:3128")
    monkeypatch.setenv("NO_PROXY", "")
    assert download(served.url("/a"), tmp_path / "a", max_bytes=100, policy=LOOPBACK).size == 6


# --------------------------------------------------------------------------- webhooks and sessions

def test_post_json_sends_json_and_returns_the_status(serve):
    served = serve({"/hook": lambda h: send(h, b"", status=202)})
    status = post_json(served.url("/hook"), {"id": "j1", "status": "success"}, policy=LOOPBACK,
                       headers={"X-Test": "1"})
    method, path, headers, body = served.server.hits[0]
    assert (status, method, path) == (202, "POST", "/hook")
    assert headers["Content-Type"] == "application/json" and headers["X-Test"] == "1"
    assert json.loads(body) == {"id": "j1", "status": "success"}


def test_post_json_returns_error_statuses_without_raising(serve):
    served = serve({"/hook": lambda h: send(h, b"oops", status=503)})
    assert post_json(served.url("/hook"), {}, policy=LOOPBACK) == 503


def test_post_json_does_not_follow_redirects(serve):
    served = serve({"/hook": redirect_to("/elsewhere"), "/elsewhere": lambda h: send(h, b"")})
    assert post_json(served.url("/hook"), {"a": 1}, policy=LOOPBACK) == 302
    assert served.paths == ["/hook"]


def test_post_json_refuses_loopback_by_default(serve):
    served = serve({"/hook": lambda h: send(h, b"")})
    with pytest.raises(BlockedAddress):
        post_json(served.url("/hook"), {"a": 1})
    assert served.paths == []


def test_post_json_timeout_is_a_fetch_error(serve):
    served = serve({"/hook": stall})
    with pytest.raises(FetchError, match=r"POST to .* failed: no data received for 0\.5 s"):
        post_json(served.url("/hook"), {}, policy=LOOPBACK, timeouts=QUICK)


def test_session_applies_policy_and_default_timeouts(serve):
    served = serve({"/slow": stall, "/ok": lambda h: send(h, b"fine")})
    with session(AddressPolicy()) as strict:
        with pytest.raises(BlockedAddress):
            strict.get(served.url("/ok"))
    with session(LOOPBACK, Timeouts(connect=2, read=0.3)) as guarded:
        assert guarded.get(served.url("/ok")).content == b"fine"
        with pytest.raises(requests.ReadTimeout):
            guarded.get(served.url("/slow"))


# --------------------------------------------------------------------------- TLS keeps the host name

@pytest.fixture(scope="module")
def certificate(tmp_path_factory) -> tuple[Path, Path]:
    """A self-signed certificate for files.example.test (needs the openssl command)."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl command not available")
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                    "-nodes", "-days", "2", "-subj", "/CN=files.example.test",
                    "-addext", "subjectAltName=DNS:files.example.test",
                    "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True)
    return cert, key


def test_https_verifies_the_certificate_against_the_host_name(serve, fake_dns, certificate):
    cert, key = certificate
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    served = serve({"/": lambda h: send(h, b"over tls")}, tls=context)
    fake_dns({"files.example.test": ["127.0.0.1"]})

    with session(LOOPBACK, QUICK) as guarded:
        guarded.verify = str(cert)
        good = guarded.get(f"https://files.example.test:{served.port}/")
        with pytest.raises(requests.exceptions.SSLError):  # same server, but the name does not match
            guarded.get(f"https://127.0.0.1:{served.port}/")
    assert good.content == b"over tls"


# --------------------------------------------------------------------------- trusted endpoints


def test_a_trusted_endpoint_is_reachable_on_loopback_and_only_on_its_port(serve, tmp_path, caplog):
    storage = serve({"/bucket/uploads/a": lambda h: send(h, b"upload")})
    other = serve({"/x": lambda h: send(h, b"other")})
    policy = AddressPolicy(trusted_endpoints=frozenset({("127.0.0.1", storage.port)}))

    assert download(storage.url("/bucket/uploads/a"), tmp_path / "a", max_bytes=100, policy=policy).size == 6
    with pytest.raises(BlockedAddress, match="not .*a public address"):
        download(other.url("/x"), tmp_path / "b", max_bytes=100, policy=policy)
    assert other.paths == []
    assert "loopback" in caplog.text  # the reason goes to the log, not to the client


def test_a_redirect_from_a_trusted_endpoint_is_checked_again(serve, tmp_path, caplog):
    other = serve({"/x": lambda h: send(h, b"other")})
    storage = serve({"/go": redirect_to(other.url("/x"))})
    policy = AddressPolicy(trusted_endpoints=frozenset({("127.0.0.1", storage.port)}))
    with pytest.raises(BlockedAddress, match="not .*a public address"):
        download(storage.url("/go"), tmp_path / "c", max_bytes=100, policy=policy)
    assert other.paths == []
    assert "loopback" in caplog.text  # the reason goes to the log, not to the client


def test_a_trusted_endpoint_never_opens_metadata_addresses(fake_dns, tmp_path, caplog):
    fake_dns({"storage.internal": ["169.254.169.254"]})
    policy = AddressPolicy(trusted_endpoints=frozenset({("storage.internal", 80)}))
    with pytest.raises(BlockedAddress, match="not .*a public address"):
        download("http://storage.internal/bucket/uploads/a", tmp_path / "d", max_bytes=100, policy=policy)
    assert "cloud metadata" in caplog.text  # the reason goes to the log, not to the client
