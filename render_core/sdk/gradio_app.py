"""One Gradio app on a GPU node, spoken to over the guarded HTTP client (Gradio 4 or newer).

The Gradio HTTP protocol (``sse_v1`` to ``sse_v3``): ``GET config`` and ``GET info`` describe
the app; files go up with ``POST upload``; a call is ``POST queue/join`` and its outcome
arrives on the ``GET queue/data`` event stream; ``POST cancel`` stops it; output files come
from ``GET file=<path>``. Every request goes through the task's node session (address
policy, the node's auth headers, no credential on a redirect to another origin) with a
wall-clock deadline, every body read has a size cap, and every URL is built from the app's
own base URL: nothing the node answers can send a request elsewhere.

Failures are raised as the SDK's exceptions, with messages that name the service but no
address: NodeError for a failure of the path to the node (connect, reset, timeout, 5xx),
NodeAppError when the node answered with an error or something unusable, JobError for what
went wrong on this side (a request that cannot be built, a local file that cannot be read).
A refusal of the session's address policy propagates as it is (the runner fails the job).

Timeouts are ``(connect, read, total)`` seconds: each connection, each wait for data, and the
whole request (wall clock; the guarded session enforces it).
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator
from urllib.parse import quote, urljoin, urlsplit

import requests

from .errors import JobError, NodeAppError, NodeError
from .transport import is_transport_failure

log = logging.getLogger(__name__)

PROTOCOLS = ("sse_v1", "sse_v2", "sse_v2.1", "sse_v3")
#: Components whose values are not API parameters (as gradio_client skips them).
SKIPPED_COMPONENTS = frozenset({"state", "row", "column", "tabs", "tab", "tabitem", "box", "form", "accordion",
                                "group", "interpretation", "dataset", "sidebar"})
MAX_DESCRIPTION_BYTES = 16 * 1024 * 1024  # config and info answers
MAX_EVENT_BYTES = 16 * 1024 * 1024  # one server-sent event
MAX_SMALL_ANSWER_BYTES = 1024 * 1024  # upload, join and cancel answers
CHUNK_BYTES = 64 * 1024

#: (connect, read, total) seconds of one request.
RequestTimeouts = tuple[float, float, float]


class TransferStopped(Exception):
    """A file download was abandoned because ``should_stop()`` returned True (the file is removed)."""
_SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")


@dataclass(frozen=True)
class Endpoint:
    """A named API endpoint: its function index, the API parameters in order, which inputs hold
    state (sent as None) and which outputs are skipped."""

    api_name: str
    fn_index: int
    parameters: tuple[dict, ...]
    state_inputs: tuple[bool, ...]
    skipped_outputs: tuple[bool, ...]


class GradioApp:
    """The Gradio app at ``url`` (ending in ``/``), reached through ``session``.

    Parameters:
      session: a guarded ``requests.Session`` carrying the node's auth headers.
      url: the app's base URL, e.g. ``https://node/csm/``.
      service: the service name used in messages (``csm``, ``whisper``).
      timeouts: connect/read timeouts (s) and deadline of each short request.
    """

    def __init__(self, session: requests.Session, url: str, *, service: str, timeouts: RequestTimeouts):
        self.session = session
        self.url = url if url.endswith("/") else url + "/"
        self.service = service
        self.timeouts = timeouts
        self.api_url = self.url
        self.config: dict = {}
        self.info: dict = {}

    # ------------------------------------------------------------------ describing the app

    def load(self) -> None:
        """Read the app's config and API description; refuses protocols older than Gradio 4."""
        self.config = self._json("GET", self.url + "config", "reading its configuration", MAX_DESCRIPTION_BYTES)
        if not isinstance(self.config, dict):
            raise self._odd_answer("its configuration is not a JSON object")
        protocol = self.config.get("protocol")
        if protocol not in PROTOCOLS:
            raise NodeAppError(f"the {self.service} app on the GPU node speaks the Gradio protocol {protocol!r}; "
                               f"Gradio 4 or newer ({', '.join(PROTOCOLS)}) is needed")
        self.api_url = self._prefixed(self.config.get("api_prefix") or "")
        self.info = self._json("GET", self.api_url + "info?serialize=False", "describing its API",
                               MAX_DESCRIPTION_BYTES)
        if not isinstance(self.info, dict) or not isinstance(self.info.get("named_endpoints"), dict):
            raise self._odd_answer("its API description has no named endpoints")

    def endpoint(self, api_name: str) -> Endpoint:
        """The endpoint named ``api_name`` (e.g. ``/transcribe_audio``); NodeAppError when the app has none."""
        name = api_name.lstrip("/")
        dependencies = self.config.get("dependencies")
        components = {c.get("id"): c for c in self.config.get("components") or [] if isinstance(c, dict)}
        for index, dependency in enumerate(dependencies if isinstance(dependencies, list) else []):
            if isinstance(dependency, dict) and dependency.get("api_name") == name:
                described = self.info["named_endpoints"].get("/" + name)
                if not isinstance(described, dict) or not isinstance(described.get("parameters"), list):
                    break
                return Endpoint(
                    api_name="/" + name, fn_index=int(dependency.get("id", index)),
                    parameters=tuple(p for p in described["parameters"] if isinstance(p, dict)),
                    state_inputs=tuple(_type_of(components, c) == "state" for c in dependency.get("inputs") or []),
                    skipped_outputs=tuple(_skipped(components.get(c)) for c in dependency.get("outputs") or []))
        raise NodeAppError(f"the {self.service} app on the GPU node has no API endpoint {api_name} "
                           f"(the node runs another version of the app)")

    # ------------------------------------------------------------------ a call

    def arguments(self, endpoint: Endpoint, keywords: dict, upload: Callable[[Path], dict]) -> list:
        """The call's positional data: keyword arguments in parameter order, defaults filled in,
        ``None`` for state inputs, and every ``pathlib.Path`` value replaced by ``upload(path)``."""
        names = [p.get("parameter_name") for p in endpoint.parameters]
        unknown = sorted(set(keywords) - set(names))
        if unknown:
            raise JobError(f"the {self.service} app on the GPU node takes no parameter {', '.join(unknown)} "
                           f"(the node runs another version of the app)")
        values = []
        for parameter in endpoint.parameters:
            name = parameter.get("parameter_name")
            if name in keywords:
                value = keywords[name]
            elif parameter.get("parameter_has_default"):
                value = parameter.get("parameter_default")
            else:
                raise JobError(f"the call to the {self.service} app misses its parameter {name}")
            values.append(upload(value) if isinstance(value, Path) else value)
        data, given = [], iter(values)
        for is_state in endpoint.state_inputs:
            data.append(None if is_state else next(given, None))
        return data

    def upload(self, path: Path, timeouts: RequestTimeouts | None = None) -> dict:
        """Upload a local file (within ``timeouts``, default the app's); returns the Gradio file
        value that names it on the node."""
        try:
            with open(path, "rb") as file:
                answer = self._json("POST", self.api_url + "upload", f"receiving the file {path.name}",
                                    MAX_SMALL_ANSWER_BYTES, timeouts=timeouts,
                                    files=[("files", (_safe_name(path.name), file, "application/octet-stream"))])
        except OSError as exc:
            raise JobError(f"cannot read the file to send to the {self.service} app: {exc.strerror or exc}") from exc
        if not isinstance(answer, list) or not answer or not isinstance(answer[0], str):
            raise self._odd_answer("it did not say where it stored an uploaded file")
        return {"path": answer[0], "orig_name": _safe_name(path.name), "meta": {"_type": "gradio.FileData"}}

    def join(self, endpoint: Endpoint, data: list, session_hash: str) -> str:
        """Queue the call; returns its event id."""
        body = {"data": data, "fn_index": endpoint.fn_index, "session_hash": session_hash,
                "event_data": None, "trigger_id": None}
        answer = self._json("POST", self.api_url + "queue/join", f"queueing {endpoint.api_name}",
                            MAX_SMALL_ANSWER_BYTES, data=_json_body(body, self.service),
                            headers={"Content-Type": "application/json"})
        event_id = answer.get("event_id") if isinstance(answer, dict) else None
        if not isinstance(event_id, str) or not event_id:
            raise self._odd_answer("it queued the call without an event id")
        return event_id

    def cancel(self, endpoint: Endpoint, event_id: str, session_hash: str, timeouts: RequestTimeouts) -> None:
        """Ask the app to cancel the event (best effort: failures are logged, not raised)."""
        body = {"event_id": event_id, "fn_index": endpoint.fn_index, "session_hash": session_hash}
        try:
            with self.session.post(self.api_url + "cancel", data=_json_body(body, self.service),
                                   headers={"Content-Type": "application/json"}, timeout=timeouts) as response:
                log.info("asked the %s app to cancel event %s: HTTP %s", self.service, event_id, response.status_code)
        except Exception as exc:  # the call is abandoned either way
            log.warning("could not cancel event %s on the %s app at %s: %s", event_id, self.service,
                        _without_userinfo(self.url), exc)

    def events(self, session_hash: str, timeouts: RequestTimeouts) -> Iterator[dict]:
        """The session's server-sent events (heartbeats dropped), until the stream ends.

        The caller stops iterating at the event it waits for; ``close()`` on the generator
        closes the stream.
        """
        url = self.api_url + "queue/data?session_hash=" + quote(session_hash)
        what = "streaming the call's events"
        try:
            response = self.session.get(url, stream=True, timeout=timeouts, headers={"Accept": "text/event-stream"})
        except requests.RequestException as exc:
            raise self._failure(what, exc) from exc
        with response:
            self._check_status(response, what)
            try:
                yield from _server_sent_events(response, self)
            except requests.RequestException as exc:
                raise self._failure(what, exc) from exc

    def outputs(self, endpoint: Endpoint, data: list, download: Callable[[dict], str] | None):
        """The call's result as gradio_client returns it: skipped outputs removed, one value alone,
        several as a tuple; Gradio file values replaced by ``download(value)`` when given."""
        if not isinstance(data, list):
            raise self._odd_answer("its result holds no data list")
        kept = [value for value, skipped in zip(data, endpoint.skipped_outputs or [False] * len(data))
                if not skipped]
        if download is not None:
            kept = [_map_files(value, download) for value in kept]
        return kept[0] if len(kept) == 1 else tuple(kept)

    def download(self, value: dict, dest_dir: Path, *, max_bytes: int, timeouts: RequestTimeouts,
                 should_stop: Callable[[], bool]) -> str:
        """Fetch an output file from ``file=<path>`` of this app into ``dest_dir``; returns the local path.

        The node chooses only the path on its side; the URL is always this app's. A node-supplied
        absolute ``url`` in the value is ignored. At most ``max_bytes`` bytes (JobError beyond);
        TransferStopped when ``should_stop()`` turns True.
        """
        remote = value.get("path")
        if not isinstance(remote, str) or not remote:
            raise self._odd_answer("it returned a file without a path")
        dest_dir.mkdir(parents=True, exist_ok=True)
        dest = dest_dir / _safe_name(Path(remote).name)
        what = "sending an output file"
        size = 0
        try:
            with self.session.get(self.api_url + "file=" + quote(remote, safe="/"), stream=True,
                                  timeout=timeouts) as response, open(dest, "wb") as out:
                self._check_status(response, what)
                for chunk in response.iter_content(CHUNK_BYTES):
                    if should_stop():
                        raise TransferStopped(f"the download of an output file of the {self.service} app was stopped")
                    size += len(chunk)
                    if size > max_bytes:
                        raise JobError(f"an output file of the {self.service} app is larger than the limit of "
                                       f"{max_bytes / 1_000_000:g} MB")
                    out.write(chunk)
        except requests.RequestException as exc:
            dest.unlink(missing_ok=True)
            raise self._failure(what, exc) from exc
        except BaseException:
            dest.unlink(missing_ok=True)
            raise
        return str(dest)

    # ------------------------------------------------------------------ plumbing

    def _prefixed(self, api_prefix: str) -> str:
        """The app URL joined with its ``api_prefix``; a prefix that leaves the app's origin is refused."""
        prefix = api_prefix.strip("/")
        joined = urljoin(self.url, prefix + "/") if prefix else self.url
        if _origin(joined) != _origin(self.url) or ".." in prefix.split("/") or "?" in prefix or "#" in prefix:
            raise self._odd_answer("its configuration points its API at another address")
        return joined

    def _json(self, method: str, url: str, what: str, max_bytes: int, timeouts: RequestTimeouts | None = None,
              **kwargs: Any):
        """One request; the answer's JSON (at most ``max_bytes`` bytes)."""
        try:
            with self.session.request(method, url, stream=True, timeout=timeouts or self.timeouts,
                                      **kwargs) as response:
                self._check_status(response, what)
                body = _read_capped(response, max_bytes, self, what)
        except requests.RequestException as exc:
            raise self._failure(what, exc) from exc
        try:
            return json.loads(body)
        except ValueError:
            raise self._odd_answer(f"it answered with something that is not JSON while {what}") from None

    def _check_status(self, response: requests.Response, what: str) -> None:
        code = response.status_code
        if 200 <= code < 300:
            return
        if code >= 500 or code == 429:
            raise NodeError(f"the {self.service} service on the GPU node answered HTTP {code} while {what}")
        if code in (401, 403):
            raise NodeAppError(f"the {self.service} service on the GPU node refused the node credentials "
                               f"(HTTP {code}) while {what}")
        detail = _detail(response)
        raise NodeAppError(f"the {self.service} service on the GPU node refused the request (HTTP {code}) "
                           f"while {what}" + (f": {detail}" if detail else ""))

    def _failure(self, what: str, exc: requests.RequestException) -> Exception:
        """NodeError for a transport failure, JobError for a request this side could not build."""
        if not is_transport_failure(exc):
            return JobError(f"the request to the {self.service} app could not be made ({type(exc).__name__})")
        log.warning("the %s app at %s failed while %s: %r", self.service, _without_userinfo(self.url), what, exc)
        return NodeError(f"cannot reach the {self.service} service on the GPU node while {what}: "
                         f"{_describe_transport(exc)}")

    def _odd_answer(self, detail: str) -> NodeAppError:
        return NodeAppError(f"the {self.service} service on the GPU node gave an unusable answer: {detail}")


def _json_body(body: dict, service: str) -> bytes:
    """``body`` as UTF-8 JSON; text that cannot be encoded (a lone surrogate) is this side's error."""
    try:
        return json.dumps(body, ensure_ascii=False, allow_nan=False).encode("utf-8")
    except (UnicodeEncodeError, ValueError) as exc:
        raise JobError(f"the call to the {service} app cannot be sent: it holds text that is not valid Unicode "
                       f"or a number JSON cannot carry ({type(exc).__name__})") from None


def _server_sent_events(response: requests.Response, app: GradioApp) -> Iterator[dict]:
    """Parse ``data:`` events from the stream (each at most MAX_EVENT_BYTES); heartbeats are dropped."""
    buffer = b""
    while True:
        chunk = response.raw.read1(65536)
        if not chunk:
            return
        buffer += chunk.replace(b"\r\n", b"\n")
        while b"\n\n" in buffer:
            block, buffer = buffer.split(b"\n\n", 1)
            event = _event(block, app)
            if event is not None and event.get("msg") != "heartbeat":
                yield event
        if len(buffer) > MAX_EVENT_BYTES:
            raise app._odd_answer(f"one of its events is larger than {MAX_EVENT_BYTES // (1024 * 1024)} MiB")


def _event(block: bytes, app: GradioApp) -> dict | None:
    data = b"\n".join(line[5:].lstrip(b" ") for line in block.split(b"\n") if line.startswith(b"data:"))
    if not data:
        return None
    try:
        event = json.loads(data)
    except ValueError:
        raise app._odd_answer("its event stream carried something that is not JSON") from None
    if not isinstance(event, dict):
        raise app._odd_answer("its event stream carried something that is not an event")
    return event


def _read_capped(response: requests.Response, max_bytes: int, app: GradioApp, what: str) -> bytes:
    body = b""
    for chunk in response.iter_content(64 * 1024):
        body += chunk
        if len(body) > max_bytes:
            raise app._odd_answer(f"its answer while {what} is larger than {max_bytes} bytes")
    return body


def _detail(response: requests.Response) -> str:
    """The ``detail``/``error`` text of a refusal, shortened (read from at most 4 KiB of the body)."""
    try:
        raw = response.raw.read(4096, decode_content=True) or b""
        data = json.loads(raw)
    except Exception:
        return ""
    text = data.get("detail") or data.get("error") if isinstance(data, dict) else None
    return " ".join(str(text).split())[:300] if text else ""


def _describe_transport(exc: BaseException) -> str:
    if isinstance(exc, requests.ConnectTimeout):
        return "no connection in time"
    if isinstance(exc, requests.Timeout) or "timed out" in str(exc).lower():
        return "no answer in time"
    if isinstance(exc, requests.exceptions.SSLError):
        return "TLS failed"
    return "the connection was refused, reset or broken"


def _map_files(value, download: Callable[[dict], str]):
    if isinstance(value, dict) and isinstance(value.get("path"), str) and (
            value.get("meta", {}).get("_type") == "gradio.FileData" or "url" in value or "orig_name" in value):
        return download(value)
    if isinstance(value, list):
        return [_map_files(item, download) for item in value]
    if isinstance(value, tuple):
        return tuple(_map_files(item, download) for item in value)
    return value


def _type_of(components: dict, component_id) -> str | None:
    component = components.get(component_id)
    return component.get("type") if isinstance(component, dict) else None


def _skipped(component) -> bool:
    if not isinstance(component, dict):
        return False
    return bool(component.get("skip_api", component.get("type") in SKIPPED_COMPONENTS))


def _safe_name(name: str) -> str:
    """A file name with nothing but letters, digits, dot, dash and underscore; never empty or dots only."""
    cleaned = _SAFE_NAME.sub("_", name)[-100:].lstrip(".")
    return cleaned or "file"


def _without_userinfo(url: str) -> str:
    """``url`` for a log line: without ``user:password@``."""
    parts = urlsplit(url)
    return parts._replace(netloc=parts.netloc.rpartition("@")[2]).geturl()


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    return parts.scheme.lower(), (parts.hostname or "").lower(), parts.port
