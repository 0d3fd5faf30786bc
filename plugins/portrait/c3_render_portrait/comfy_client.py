"""A small client for the ComfyUI HTTP API on a GPU node (see docs/protocols.md, "ComfyUI").

Every call goes through one ``requests.Session`` (the node session: the node's auth headers
set, a wall-clock deadline of connect + read seconds per call) with an explicit timeout.
Failures are mapped once, here: the path to the node failing (no connection, reset, timeout,
5xx including 502/504 from its proxy) raises ``NodeError``; an answer that is an error or
unusable (refused credentials, another 4xx, not JSON, a missing field) raises ``NodeAppError``
(the runner health-checks the node to decide whose fault it is); a graph the node rejects
(400 with ``node_errors``) and what fails on this side (a request that cannot be built, a
download over the size limit) raise ``JobError``. Messages name no address.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urljoin

import requests
from render_core.plugin import JobError, NodeAppError, NodeError, is_transport_failure

#: (connect, read) timeouts in seconds, per kind of call.
QUICK_TIMEOUT = (5.0, 10.0)
POLL_TIMEOUT = (5.0, 30.0)
TRANSFER_TIMEOUT = (10.0, 120.0)
#: Bytes read per chunk when downloading an output.
CHUNK_BYTES = 256 * 1024
#: The longest node error summary passed on to the client (characters).
MAX_SUMMARY_CHARS = 600


@dataclass(frozen=True)
class QueueState:
    """Prompt ids running now and pending (in queue order) on the node."""

    running: tuple[str, ...]
    pending: tuple[str, ...]

    def ahead_of(self, prompt_id: str) -> int | None:
        """How many prompts run or wait before a pending ``prompt_id``; None when it is not pending."""
        if prompt_id not in self.pending:
            return None
        return len(self.running) + self.pending.index(prompt_id)


class StopRequested(Exception):
    """A transfer was abandoned because ``should_stop()`` returned True."""


class ComfyClient:
    """Calls to one ComfyUI server at ``base_url`` (ending in ``/``) through ``session``."""

    def __init__(self, session: requests.Session, base_url: str, max_download_bytes: int = 200 * 1024 * 1024):
        self.session = session
        self.base_url = base_url if base_url.endswith("/") else base_url + "/"
        self.max_download_bytes = max_download_bytes

    # ------------------------------------------------------------------ calls

    def is_ready(self) -> bool:
        """True when ``GET /system_stats`` answers 200, False while it fails or answers otherwise.

        Refused credentials (401/403) raise NodeAppError and a request that cannot be made
        raises JobError, at once: waiting would not help.
        """
        try:
            response = self.session.get(self._url("system_stats"), timeout=QUICK_TIMEOUT)
        except requests.RequestException as exc:
            if is_transport_failure(exc):
                return False
            raise _not_sent("checking that ComfyUI is ready", exc) from None
        response.close()
        if response.status_code in (401, 403):
            raise NodeAppError(f"ComfyUI refused the node credentials (HTTP {response.status_code}) on /system_stats")
        return response.status_code == 200

    def upload(self, path: Path, name: str, subfolder: str = "") -> str:
        """Upload a file into ComfyUI's input folder; returns how graphs must refer to it.

        That is the server's returned ``name``, prefixed by ``subfolder/`` when it returned one.
        """
        with open(path, "rb") as file:
            body = self._json("POST", "upload/image", f"uploading {name}", timeout=TRANSFER_TIMEOUT,
                              files={"image": (name, file, "application/octet-stream")},
                              data={"type": "input", "overwrite": "true", "subfolder": subfolder})
        stored = body.get("name") if isinstance(body, dict) else None
        if not isinstance(stored, str) or not stored:
            raise NodeAppError(f"ComfyUI did not say under which name it stored {name}: {body!r:.200}")
        folder = body.get("subfolder") or ""
        return f"{folder}/{stored}" if folder else stored

    def submit(self, prompt: dict, client_id: str) -> str:
        """``POST /prompt``; returns the prompt id. A rejected graph raises JobError."""
        response = self._send("POST", "prompt", "submitting the render", timeout=POLL_TIMEOUT,
                               json={"prompt": prompt, "client_id": client_id}, accept=(200, 400))
        body = _json_body(response, "submitting the render")
        if response.status_code == 400:
            raise JobError(f"the node refused the render: {summarise_rejection(body)}")
        prompt_id = body.get("prompt_id") if isinstance(body, dict) else None
        if not isinstance(prompt_id, str) or not prompt_id:
            raise NodeAppError(f"ComfyUI accepted the render but returned no prompt id: {body!r:.200}")
        return prompt_id

    def history(self, prompt_id: str) -> dict | None:
        """The prompt's history entry once it has finished (or failed), else None."""
        body = self._json("GET", f"history/{prompt_id}", "reading the render's history", timeout=POLL_TIMEOUT)
        if not isinstance(body, dict):
            raise NodeAppError(f"ComfyUI answered /history with {type(body).__name__}, not an object")
        entry = body.get(prompt_id)
        return entry if isinstance(entry, dict) else None

    def queue(self) -> QueueState:
        """The node's queue: which prompt ids run and which wait."""
        body = self._json("GET", "queue", "reading the queue", timeout=POLL_TIMEOUT)
        if not isinstance(body, dict):
            raise NodeAppError(f"ComfyUI answered /queue with {type(body).__name__}, not an object")
        return QueueState(running=_prompt_ids(body.get("queue_running")),
                          pending=_prompt_ids(body.get("queue_pending")))

    def interrupt(self, prompt_id: str) -> None:
        """``POST /interrupt`` (naming the prompt, so newer servers stop only that one)."""
        self._send("POST", "interrupt", "interrupting the render", timeout=QUICK_TIMEOUT,
                   json={"prompt_id": prompt_id})

    def delete_pending(self, prompt_id: str) -> None:
        """``POST /queue {"delete": [prompt_id]}``: remove a prompt that has not started."""
        self._send("POST", "queue", "removing the render from the queue", timeout=QUICK_TIMEOUT,
                   json={"delete": [prompt_id]})

    def download(self, file_ref: dict, dest: Path, should_stop: Callable[[], bool]) -> Path:
        """Stream an output (``{"filename", "subfolder", "type"}``) from ``GET /view`` into ``dest``.

        Raises StopRequested (``dest`` removed) when ``should_stop()`` turns True, and JobError
        when the file is larger than ``max_download_bytes``.
        """
        params = {"filename": file_ref.get("filename", ""), "subfolder": file_ref.get("subfolder", ""),
                  "type": file_ref.get("type") or "output"}
        what = f"downloading {params['filename']}"
        size = 0
        try:
            with self._send("GET", "view", what, timeout=TRANSFER_TIMEOUT, params=params, stream=True) as response, \
                    open(dest, "wb") as out:
                for chunk in response.iter_content(CHUNK_BYTES):
                    if should_stop():
                        raise StopRequested(what)
                    size += len(chunk)
                    if size > self.max_download_bytes:
                        raise JobError(f"the video ComfyUI rendered is larger than the limit of "
                                       f"{self.max_download_bytes / 1_000_000:g} MB")
                    out.write(chunk)
        except requests.RequestException as exc:
            dest.unlink(missing_ok=True)
            if is_transport_failure(exc):
                raise NodeError(f"ComfyUI stopped answering while {what}: {_reason(exc)}") from None
            raise _not_sent(what, exc) from None
        except BaseException:
            dest.unlink(missing_ok=True)
            raise
        return dest

    # ------------------------------------------------------------------ plumbing

    def _url(self, path: str) -> str:
        return urljoin(self.base_url, path)

    def _send(self, method: str, path: str, what: str, *, timeout, accept=(200,), **kwargs) -> requests.Response:
        """One request: transport failures and 5xx raise NodeError, other unexpected codes NodeAppError,
        a request that cannot be built JobError."""
        try:
            response = self.session.request(method, self._url(path), timeout=timeout, **kwargs)
        except requests.RequestException as exc:
            if is_transport_failure(exc):
                raise NodeError(f"ComfyUI did not answer while {what}: {_reason(exc)}") from None
            raise _not_sent(what, exc) from None
        if response.status_code in accept:
            return response
        response.close()
        if response.status_code >= 500:
            raise NodeError(f"ComfyUI answered HTTP {response.status_code} while {what}")
        if response.status_code in (401, 403):
            raise NodeAppError(f"ComfyUI refused the node credentials (HTTP {response.status_code}) while {what}")
        raise NodeAppError(f"ComfyUI answered HTTP {response.status_code} while {what}")

    def _json(self, method: str, path: str, what: str, **kwargs):
        return _json_body(self._send(method, path, what, **kwargs), what)


def _json_body(response: requests.Response, what: str):
    try:
        return response.json()
    except requests.RequestException as exc:
        if is_transport_failure(exc):
            raise NodeError(f"ComfyUI stopped answering while {what}: {_reason(exc)}") from None
        raise NodeAppError(f"ComfyUI answered with something that is not JSON while {what}") from None
    except ValueError:
        raise NodeAppError(f"ComfyUI answered with something that is not JSON while {what}") from None


def _reason(exc: requests.RequestException) -> str:
    """What failed, without the exception's text (it names the node's address)."""
    if isinstance(exc, requests.ConnectTimeout):
        return "no connection in time"
    if isinstance(exc, requests.Timeout) or "deadline" in repr(exc):
        return "no answer in time"
    return "the connection was refused, reset or broken"


def _not_sent(what: str, exc: requests.RequestException) -> JobError:
    return JobError(f"the request to ComfyUI could not be made while {what} ({type(exc).__name__})")


def _prompt_ids(items) -> tuple[str, ...]:
    """Prompt ids of ``queue_running``/``queue_pending`` items (arrays with the id at index 1)."""
    if not isinstance(items, list):
        return ()
    ordered = sorted((item for item in items if isinstance(item, list) and len(item) > 1),
                     key=lambda item: item[0] if isinstance(item[0], (int, float)) else 0)
    return tuple(str(item[1]) for item in ordered)


def summarise_rejection(body) -> str:
    """One readable line from a 400 ``/prompt`` answer: the error, then each node's complaints."""
    if not isinstance(body, dict):
        return "no details given"
    parts = []
    error = body.get("error")
    if isinstance(error, dict):
        parts.append(str(error.get("message") or error.get("type") or "invalid graph"))
    elif error:
        parts.append(str(error))
    node_errors = body.get("node_errors")
    if isinstance(node_errors, dict):
        for node_id, info in node_errors.items():
            info = info if isinstance(info, dict) else {}
            for problem in info.get("errors") or []:
                problem = problem if isinstance(problem, dict) else {"message": str(problem)}
                detail = problem.get("details") or problem.get("message") or problem.get("type") or "invalid"
                parts.append(f"{info.get('class_type', 'node')} (node {node_id}): {detail}")
    summary = "; ".join(parts) or "no details given"
    return summary if len(summary) <= MAX_SUMMARY_CHARS else summary[: MAX_SUMMARY_CHARS - 3] + "..."
