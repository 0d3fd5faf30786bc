"""The one place every outbound HTTP request goes through (downloads, webhooks, node calls).

Messages of the exceptions raised here are shown to clients: they name the URL the client
gave, never an address it resolved to (the log keeps that).

Guarantees: connect and read timeouts on every request (seconds), a wall-clock deadline
per transfer (``Timeouts.total``: connecting, sending, every redirect hop and reading the
whole body; a server trickling bytes cannot stretch it), a size limit on downloaded bodies
(bytes), and an address policy applied when a connection is opened: the host is resolved
once, every resolved address is checked, and the socket connects to an address that passed
the check (no DNS-rebinding gap). Redirect hops open their connections through the same
code, so each hop is checked again, and a hop to another origin (scheme, host, port) carries
no credential: only the headers in :data:`CROSS_ORIGIN_SAFE_HEADERS` survive it.

In a guarded session a per-call ``timeout=(connect, read)`` also bounds the whole transfer
to ``connect + read`` seconds; ``(connect, read, total)`` or a :class:`Timeouts` sets the
deadline explicitly.
"""
from __future__ import annotations

import functools
import io
import ipaddress
import json
import logging
import socket
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping
from urllib.parse import urlsplit, urlunsplit

import requests
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import ConnectTimeoutError, NameResolutionError, NewConnectionError, ReadTimeoutError
from urllib3.util.connection import allowed_gai_family, create_connection
from urllib3.util.timeout import Timeout as Urllib3Timeout

log = logging.getLogger(__name__)

MAX_REDIRECTS = 5
CHUNK_BYTES = 64 * 1024
METADATA_HOSTS = frozenset({"metadata.google.internal", "metadata.goog", "metadata", "instance-data",
                            "instance-data.ec2.internal", "metadata.azure.internal"})
METADATA_IPS = frozenset(ipaddress.ip_address(a) for a in (
    "169.254.169.254", "169.254.170.2", "fd00:ec2::254", "100.100.100.200"))
PRIVATE_NETWORKS = tuple(ipaddress.ip_network(n) for n in (
    "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7"))
SHARED_NETWORK = ipaddress.ip_network("100.64.0.0/10")  # carrier-grade NAT, also used by VPN overlays
#: Request headers kept on a redirect to another origin; every other header (auth, keys, cookies) is dropped.
CROSS_ORIGIN_SAFE_HEADERS = frozenset({"accept", "accept-encoding", "accept-language", "user-agent", "connection",
                                       "content-type", "content-length", "transfer-encoding"})


class FetchError(Exception):
    """An outbound request failed; the message is readable by the user who supplied the URL."""


class HttpStatusError(FetchError):
    """The server answered with a status other than 2xx; ``status`` is the code."""

    def __init__(self, message: str, status: int):
        super().__init__(message)
        self.status = status


class BlockedAddress(FetchError):
    """The URL's scheme or the address its host resolves to is refused by the address policy."""


class TooLarge(FetchError):
    """The response body is larger than the allowed number of bytes."""


class FetchAborted(FetchError):
    """The transfer was stopped because the caller's ``should_stop`` returned True."""


class TransferTimeout(FetchError):
    """The transfer did not finish within its wall-clock deadline (``Timeouts.total``)."""


@dataclass(frozen=True)
class Timeouts:
    """Seconds to wait for the TCP/TLS connection, and between two reads of the response;
    ``total``: seconds the whole transfer may take, wall clock (None: ``connect + read``)."""

    connect: float = 10.0
    read: float = 60.0
    total: float | None = None

    @property
    def limit(self) -> float:
        """The transfer's wall-clock limit in seconds."""
        return self.total if self.total is not None else self.connect + self.read


@dataclass(frozen=True)
class Download:
    """A finished download: the file, its size in bytes, its Content-Type and the URL after redirects."""

    path: Path
    size: int
    content_type: str | None
    final_url: str


@dataclass(frozen=True)
class AddressPolicy:
    """Which addresses may be connected to. The default admits public addresses only.

    ``allow_loopback`` admits loopback (``c3-render dev``, tests); ``allow_private``
    admits private, shared (100.64/10) and loopback addresses (trusted operator-configured
    targets). ``trusted_endpoints`` are exact ``(host, port)`` pairs (the operator's own object
    storage) whose connections are checked as with ``allow_private``; any other host, or the
    same host on another port, gets the policy above. Link-local, metadata, unspecified,
    multicast and reserved are never admitted.
    """

    allow_loopback: bool = False
    allow_private: bool = False
    trusted_endpoints: frozenset[tuple[str, int]] = frozenset()

    def allows(self, address: str | ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
        """True when a connection to ``address`` is permitted."""
        return self.refusal_reason(address) is None

    def refusal_reason(self, address: str | ipaddress.IPv4Address | ipaddress.IPv6Address) -> str | None:
        """Why ``address`` is refused (e.g. ``"private address"``), or None when it is permitted."""
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return "not an IP address"
        category = _category(ip)
        if category is None or (category == "loopback" and (self.allow_loopback or self.allow_private)):
            return None
        if category in ("private", "shared (CGNAT)") and self.allow_private:
            return None
        return f"{category} address"

    def for_endpoint(self, host: str, port: int) -> "AddressPolicy":
        """The policy for a connection to ``host:port``: private allowed when it is a trusted endpoint."""
        if (host.lower().rstrip("."), port) in self.trusted_endpoints:
            return AddressPolicy(allow_loopback=True, allow_private=True)
        return self

    def host_refusal_reason(self, host: str) -> str | None:
        """Why a host name is refused before it is even resolved (cloud metadata names), or None."""
        return "cloud metadata host" if host.lower().rstrip(".") in METADATA_HOSTS else None


def _category(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str | None:
    """The kind of non-public address ``ip`` is, or None for a public unicast address."""
    if isinstance(ip, ipaddress.IPv6Address):
        embedded = ip.ipv4_mapped or ip.sixtofour
        if embedded is not None:
            return _category(embedded)
        ip = ipaddress.IPv6Address(str(ip).split("%")[0]) if ip.scope_id else ip  # fe80::1%eth0
    checks = (
        ("cloud metadata", ip in METADATA_IPS), ("unspecified", ip.is_unspecified),
        ("loopback", ip.is_loopback), ("link-local", ip.is_link_local), ("multicast", ip.is_multicast),
        ("private", any(ip in net for net in PRIVATE_NETWORKS)), ("shared (CGNAT)", ip in SHARED_NETWORK),
        ("reserved", ip.is_reserved), ("non-public", not ip.is_global),
    )
    return next((name for name, hit in checks if hit), None)


class _DeadlinePassed(socket.timeout):
    """A socket call was refused because the transfer's wall-clock deadline has passed."""


class _Deadline:
    """The monotonic time (s) by which the current transfer on a connection must end, or None."""

    __slots__ = ("at",)

    def __init__(self) -> None:
        self.at: float | None = None

    def remaining(self) -> float | None:
        """Seconds left (None: no deadline); raises _DeadlinePassed when none are left."""
        if self.at is None:
            return None
        left = self.at - time.monotonic()
        if left <= 0:
            raise _DeadlinePassed("the transfer's deadline has passed")
        return left


class _DeadlineSocket:
    """A connected socket whose every send and receive ends by the transfer's deadline.

    Before each blocking call the OS timeout becomes min(per-read timeout, time left), so
    a server that sends one byte now and then cannot keep a transfer alive past it.
    Everything else is the wrapped socket's (http.client and urllib3 see a socket).
    """

    def __init__(self, sock: socket.socket, deadline: _Deadline) -> None:
        self._sock = sock
        self._deadline = deadline
        self._timeout = sock.gettimeout()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sock, name)

    def settimeout(self, value: float | None) -> None:
        self._timeout = value
        self._sock.settimeout(value)

    def gettimeout(self) -> float | None:
        return self._timeout

    def _bounded(self, call: Callable, *args: Any) -> Any:
        """``call(*args)`` with the OS timeout cut to the time left; a timeout at the deadline says so."""
        left = self._deadline.remaining()
        if left is not None:
            self._sock.settimeout(left if self._timeout is None else min(self._timeout, left))
        elif self._sock.gettimeout() != self._timeout:
            self._sock.settimeout(self._timeout)
        try:
            return call(*args)
        except socket.timeout as exc:
            if self._deadline.at is not None and time.monotonic() >= self._deadline.at:
                raise _DeadlinePassed("the transfer's deadline passed") from exc
            raise

    def recv_into(self, buffer, nbytes: int = 0, flags: int = 0) -> int:
        return self._bounded(self._sock.recv_into, buffer, nbytes, flags)

    def recv(self, bufsize: int, flags: int = 0) -> bytes:
        return self._bounded(self._sock.recv, bufsize, flags)

    def send(self, data, flags: int = 0) -> int:
        return self._bounded(self._sock.send, data, flags)

    def sendall(self, data, flags: int = 0) -> None:
        self._bounded(self._sock.sendall, data, flags)

    def makefile(self, mode: str = "r", buffering: int | None = None, **kwargs: Any):
        """A buffered reader reading through this wrapper (http.client reads responses with ``"rb"``)."""
        if mode != "rb":
            return self._sock.makefile(mode, buffering, **kwargs)
        raw = socket.SocketIO(self, "rb")
        self._sock._io_refs += 1  # the real socket stays open until this reader is closed, as with makefile
        return io.BufferedReader(raw, buffering if buffering and buffering > 0 else io.DEFAULT_BUFFER_SIZE)

    def _decref_socketios(self) -> None:
        self._sock._decref_socketios()


class _PolicyConnectMixin:
    """Replaces urllib3's socket creation: resolve, check every address, connect to an allowed one.

    ``self.host`` is left untouched, so the Host header, TLS SNI and certificate
    verification still use the host name from the URL. The connected socket is wrapped
    so that every read and write ends by the deadline of the transfer using it.
    """

    policy = AddressPolicy()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.transfer_deadline = _Deadline()

    def connect(self) -> None:
        super().connect()
        self.transfer_deadline.remaining()  # a TLS handshake that used up the deadline ends here
        self.sock = _DeadlineSocket(self.sock, self.transfer_deadline)

    def _new_conn(self) -> socket.socket:
        host = self.host.strip("[]")
        if reason := self.policy.host_refusal_reason(host):
            log.warning("refused a connection to %s: %s", host, reason)
            raise BlockedAddress(f"refusing to connect to {host}: it is not a public address")
        try:
            infos = socket.getaddrinfo(host, self.port, allowed_gai_family(), socket.SOCK_STREAM)
        except socket.gaierror as exc:
            raise NameResolutionError(self.host, self, exc) from exc
        policy = self.policy.for_endpoint(host, self.port)
        checked = [(info[4][0], policy.refusal_reason(info[4][0])) for info in infos]
        allowed = [ip for ip, reason in checked if reason is None]
        if not allowed:
            ip, reason = checked[0]
            log.warning("refused a connection to %s: it resolves to %s (%s)", host, ip, reason)
            raise BlockedAddress(f"refusing to connect to {host}: it does not resolve to a public address")
        last_error: OSError | None = None
        for ip in allowed:  # an IP literal: create_connection does no further DNS lookup
            timeout = self.timeout
            left = self.transfer_deadline.remaining()
            cut_short = left is not None and (not isinstance(timeout, (int, float)) or left < timeout)
            try:
                sock = create_connection((ip, self.port), left if cut_short else timeout,
                                         source_address=self.source_address, socket_options=self.socket_options)
            except socket.timeout as exc:
                cause = _DeadlinePassed("the transfer's deadline passed while connecting") if cut_short else exc
                raise ConnectTimeoutError(self, f"Connection to {host} timed out") from cause
            except OSError as exc:
                last_error = exc
                continue
            sys.audit("http.client.connect", self, self.host, self.port)
            return sock
        raise NewConnectionError(self, f"Failed to establish a new connection: {last_error}") from last_error


class GuardedHTTPConnection(_PolicyConnectMixin, HTTPConnection):
    """Plain HTTP connection that only opens sockets to addresses its ``policy`` allows."""


class GuardedHTTPSConnection(_PolicyConnectMixin, HTTPSConnection):
    """HTTPS connection that only opens sockets to addresses its ``policy`` allows."""


class _TransferTimeoutSpec(Urllib3Timeout):
    """urllib3 timeouts that also carry the transfer's deadline (monotonic s) to its connection."""

    def __init__(self, connect: float, read: float, deadline: float) -> None:
        super().__init__(connect=connect, read=read)
        self.deadline = deadline
        self.limit = max(0.0, deadline - time.monotonic())

    def clone(self) -> "_TransferTimeoutSpec":
        copy = _TransferTimeoutSpec(self._connect, self._read, self.deadline)
        copy.limit = self.limit
        return copy


def _transfer_timeout(timeout: Any, default: Timeouts) -> _TransferTimeoutSpec:
    """The deadline-carrying timeout of a transfer that starts now, from what the caller passed."""
    if isinstance(timeout, _TransferTimeoutSpec):
        return timeout
    if timeout is None:
        timeout = default
    elif isinstance(timeout, tuple):
        connect, read, *total = timeout
        timeout = Timeouts(default.connect if connect is None else connect, default.read if read is None else read,
                           total[0] if total else None)
    elif isinstance(timeout, (int, float)):
        timeout = Timeouts(connect=timeout, read=timeout, total=timeout)
    if not isinstance(timeout, Timeouts):
        raise TypeError(f"timeout must be seconds, (connect, read) or Timeouts, not {timeout!r}")
    return _TransferTimeoutSpec(timeout.connect, timeout.read, time.monotonic() + timeout.limit)


class _DeadlinePoolMixin:
    """Hands each request's deadline to the connection it runs on (read by its socket wrapper)."""

    def _make_request(self, conn, method, url, *args: Any, **kwargs: Any):
        deadline = getattr(kwargs.get("timeout"), "deadline", None)
        conn.transfer_deadline.at = deadline
        return super()._make_request(conn, method, url, *args, **kwargs)


@functools.cache
def _pool_classes(policy: AddressPolicy) -> dict[str, type[HTTPConnectionPool]]:
    """urllib3 pool classes (by scheme) whose connections enforce ``policy`` and transfer deadlines."""
    http = type("GuardedHTTPConnection", (GuardedHTTPConnection,), {"policy": policy})
    https = type("GuardedHTTPSConnection", (GuardedHTTPSConnection,), {"policy": policy})
    return {"http": type("GuardedHTTPConnectionPool", (_DeadlinePoolMixin, HTTPConnectionPool),
                         {"ConnectionCls": http}),
            "https": type("GuardedHTTPSConnectionPool", (_DeadlinePoolMixin, HTTPSConnectionPool),
                          {"ConnectionCls": https})}


class _GuardedAdapter(HTTPAdapter):
    """Transport adapter: guarded connections, timeouts and a deadline on every transfer, no retries,
    no proxies."""

    def __init__(self, policy: AddressPolicy, timeouts: Timeouts) -> None:
        self.policy, self.timeouts = policy, timeouts
        super().__init__(max_retries=0)

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = _pool_classes(self.policy)

    def proxy_manager_for(self, proxy: str, **proxy_kwargs: Any) -> Any:
        raise FetchError("outbound requests through a proxy are not supported")

    def send(self, request: requests.PreparedRequest, timeout: Any = None, **kwargs: Any) -> requests.Response:
        return super().send(request, timeout=_transfer_timeout(timeout, self.timeouts), **kwargs)


class _GuardedSession(requests.Session):
    """Session that refuses non-http(s) URLs on the first request and on every redirect hop, gives
    the whole transfer (every hop) one deadline, and sends no credential to another origin."""

    default_timeouts = Timeouts()

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
        if urlsplit(request.url or "").scheme.lower() not in ("http", "https"):
            raise BlockedAddress(f"refusing to fetch {request.url}: only http and https URLs are allowed")
        kwargs["timeout"] = _transfer_timeout(kwargs.get("timeout"), self.default_timeouts)
        return super().send(request, **kwargs)

    def rebuild_auth(self, prepared_request: requests.PreparedRequest, response: requests.Response) -> None:
        """On a hop to another origin drop every header but the harmless ones (keys, tokens, cookies)."""
        if _origin(prepared_request.url) != _origin(response.request.url):
            for name in list(prepared_request.headers):
                if name.lower() not in CROSS_ORIGIN_SAFE_HEADERS:
                    del prepared_request.headers[name]
            return
        super().rebuild_auth(prepared_request, response)


def _origin(url: str | None) -> tuple[str, str, int | None]:
    parts = urlsplit(url or "")
    scheme = parts.scheme.lower()
    return scheme, (parts.hostname or "").lower(), parts.port or {"http": 80, "https": 443}.get(scheme)


def session(policy: AddressPolicy = AddressPolicy(), timeouts: Timeouts = Timeouts(),
            max_redirects: int = MAX_REDIRECTS) -> requests.Session:
    """A requests.Session whose every request obeys ``policy`` and ``timeouts`` (unless given per call).

    Environment proxies, .netrc and CA-bundle variables are ignored (``trust_env=False``).
    """
    guarded = _GuardedSession()
    guarded.default_timeouts = timeouts
    guarded.trust_env = False
    guarded.max_redirects = max_redirects
    adapter = _GuardedAdapter(policy, timeouts)
    guarded.mount("http://", adapter)
    guarded.mount("https://", adapter)
    return guarded


def download(url: str, dest: Path, *, max_bytes: int, policy: AddressPolicy = AddressPolicy(),
             timeouts: Timeouts = Timeouts(), headers: Mapping[str, str] | None = None,
             should_stop: Callable[[], bool] | None = None) -> Download:
    """Stream ``url`` into ``dest``, at most ``max_bytes`` bytes, following up to 5 redirects.

    ``timeouts.limit`` bounds the whole transfer (wall clock); ``should_stop`` is checked
    between chunks (cancellation). Raises FetchError (or a subclass: TooLarge,
    TransferTimeout, FetchAborted, BlockedAddress) with a readable message; ``dest`` is
    removed on failure.
    """
    with session(policy, timeouts) as guarded:
        return stream_to_file(guarded, url, dest, max_bytes=max_bytes, timeouts=timeouts, headers=headers,
                              should_stop=should_stop, label=f"download of {url}")


def stream_to_file(guarded: requests.Session, url: str, dest: Path, *, max_bytes: int, timeouts: Timeouts,
                   headers: Mapping[str, str] | None = None, should_stop: Callable[[], bool] | None = None,
                   label: str = "download") -> Download:
    """GET ``url`` through ``guarded`` (a :func:`session`) into ``dest``: at most ``max_bytes`` bytes,
    within ``timeouts.limit`` seconds; ``label`` names the transfer in error messages."""
    dest = Path(dest)
    try:
        with guarded.get(url, headers=headers, stream=True, timeout=timeouts) as response:
            if not 200 <= response.status_code < 300:
                raise HttpStatusError(f"{label} failed: HTTP {response.status_code}", response.status_code)
            _reject_declared_size(response, label, max_bytes)
            size = _stream_to_file(response, dest, label, max_bytes, should_stop)
            return Download(dest, size, response.headers.get("Content-Type"), response.url)
    except requests.RequestException as exc:
        raise _failure(f"{label} failed", exc, timeouts) from exc


def post_json(url: str, payload: Any, *, policy: AddressPolicy = AddressPolicy(),
              timeouts: Timeouts = Timeouts(), headers: Mapping[str, str] | None = None) -> int:
    """POST ``payload`` as JSON (``json_bytes``) and return the HTTP status code; see :func:`post_bytes`."""
    return post_bytes(url, json_bytes(payload), policy=policy, timeouts=timeouts, headers=headers)


def json_bytes(payload: Any) -> bytes:
    """``payload`` serialized the way requests' ``json=`` does it (key order kept, ASCII escapes, no NaN)."""
    return json.dumps(payload, allow_nan=False).encode("utf-8")


def post_bytes(url: str, body: bytes, *, content_type: str = "application/json",
               policy: AddressPolicy = AddressPolicy(), timeouts: Timeouts = Timeouts(),
               headers: Mapping[str, str] | None = None) -> int:
    """POST exactly ``body`` and return the HTTP status code (redirects are not followed).

    The response body is not read; ``timeouts.limit`` bounds the whole exchange (wall clock).
    Network failures and refusals raise FetchError (TransferTimeout past the limit).
    """
    try:
        with session(policy, timeouts) as guarded, guarded.post(
                url, data=body, headers={"Content-Type": content_type, **(headers or {})},
                allow_redirects=False, stream=True) as response:
            return response.status_code
    except requests.RequestException as exc:
        raise _failure(f"POST to {url} failed", exc, timeouts) from exc


def deadline_passed(exc: BaseException) -> bool:
    """True when ``exc`` (or an exception it wraps or was raised from) is a transfer's deadline running out."""
    seen: set[int] = set()
    pending: list[object] = [exc]
    while pending:
        current = pending.pop()
        if not isinstance(current, BaseException) or id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, (_DeadlinePassed, TransferTimeout)):
            return True
        pending += [current.__cause__, current.__context__, getattr(current, "reason", None), *current.args]
    return False


def _failure(prefix: str, exc: requests.RequestException, timeouts: Timeouts) -> FetchError:
    if deadline_passed(exc):
        return TransferTimeout(f"{prefix}: it did not finish within {timeouts.limit:g} s")
    return FetchError(f"{prefix}: {_describe(exc, timeouts)}")


def public_url(url: str) -> str:
    """``url`` without its userinfo (``https://user:pass@host/`` -> ``https://host/``); "" stays ""."""
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    return urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))


def _megabytes(size: int) -> str:
    return f"{size / 1_000_000:g} MB"


def _reject_declared_size(response: requests.Response, label: str, max_bytes: int) -> None:
    """Raise TooLarge before reading the body when Content-Length exceeds ``max_bytes``."""
    try:
        declared = int(response.headers.get("Content-Length", ""))
    except ValueError:
        return
    if declared > max_bytes:
        raise TooLarge(f"{label} refused: its size ({_megabytes(declared)}) "
                       f"exceeds the limit of {_megabytes(max_bytes)}")


def _stream_to_file(response: requests.Response, dest: Path, label: str, max_bytes: int,
                    should_stop: Callable[[], bool] | None) -> int:
    """Write the body to ``dest`` chunk by chunk; return its size in bytes; remove ``dest`` on failure."""
    size = 0
    try:
        with dest.open("wb") as out:
            for chunk in response.iter_content(chunk_size=CHUNK_BYTES):
                if should_stop is not None and should_stop():
                    raise FetchAborted(f"{label} was cancelled")
                size += len(chunk)
                if size > max_bytes:
                    raise TooLarge(f"{label} refused: it is larger than the limit of {_megabytes(max_bytes)}")
                out.write(chunk)
    except BaseException:
        dest.unlink(missing_ok=True)
        raise
    return size


def _describe(exc: requests.RequestException, timeouts: Timeouts) -> str:
    """A short, user-readable reason for a failed request."""
    cause = exc.args[0] if exc.args else None
    reason = getattr(cause, "reason", cause)  # urllib3's MaxRetryError wraps the real error
    if isinstance(exc, requests.ConnectTimeout):
        return f"could not connect within {timeouts.connect:g} s"
    if isinstance(exc, requests.ReadTimeout) or isinstance(reason, ReadTimeoutError):
        return f"no data received for {timeouts.read:g} s"
    if isinstance(exc, requests.TooManyRedirects):
        return "too many redirects"
    if isinstance(exc, (requests.exceptions.InvalidURL, requests.exceptions.MissingSchema,
                        requests.exceptions.InvalidSchema)):
        return f"invalid URL ({exc})"
    if isinstance(exc, requests.exceptions.SSLError):
        return "TLS handshake or certificate verification failed"
    if isinstance(reason, NameResolutionError):
        return "the host name could not be resolved"
    if isinstance(reason, NewConnectionError) and isinstance(reason.__cause__, OSError):
        return f"could not connect ({reason.__cause__.strerror or reason.__cause__})"
    if isinstance(exc, (requests.exceptions.ChunkedEncodingError, requests.exceptions.ContentDecodingError)):
        return "the connection broke off or sent a malformed body"
    if isinstance(exc, requests.ConnectionError):
        return "the connection was refused, reset or closed before an answer"
    return f"the request failed ({type(exc).__name__})"  # not the exception's text: it names addresses
