"""``RenderClient``: submit, wait, read results, cancel, list and upload through the HTTP API."""

from __future__ import annotations

import mimetypes
import time
import uuid
from pathlib import Path
from typing import Callable, Iterator

import requests

from .errors import ApiError, Unreachable

TERMINAL = frozenset({"success", "failed", "timed_out", "cancelled", "expired"})
#: Seconds one long-poll (``Prefer: wait``) asks the server to hold; progress is seen this often.
POLL_WAIT = 2
#: Seconds to connect, and to read an answer on top of the server's wait.
CONNECT_TIMEOUT = 10.0
READ_TIMEOUT = 30.0
#: Attempts of a submit when the API cannot be reached or answers 502/503/504 (same Idempotency-Key).
SUBMIT_ATTEMPTS = 3
#: Consecutive failed status reads a wait tolerates (an API restarting during a rollout).
WAIT_ATTEMPTS = 5
CHUNK_BYTES = 1024 * 1024


class RenderClient:
    """Parameters:
      url: the API's base URL, e.g. ``http://127.0.0.1:5000``.
      key: an API key (sent as ``X-C3-RENDER-KEY``), or "" for an open API.
      session: a ``requests.Session`` to use (tests), default a new one.
    """

    def __init__(self, url: str, key: str = "", session: requests.Session | None = None):
        self.url = url.rstrip("/")
        self.session = session or requests.Session()
        if key:
            self.session.headers["X-C3-RENDER-KEY"] = key

    def _request(self, method: str, path: str, *, wait: int | None = None, headers: dict | None = None,
                 **kwargs) -> requests.Response:
        headers = dict(headers or {})
        if wait is not None:
            headers["Prefer"] = f"wait={int(wait)}"
        timeout = (CONNECT_TIMEOUT, READ_TIMEOUT + (wait or 0))
        try:
            response = self.session.request(method, self.url + path, headers=headers, timeout=timeout, **kwargs)
        except requests.RequestException as exc:
            raise Unreachable(f"cannot reach the API at {self.url}: {exc}") from exc
        if response.status_code >= 400:
            try:
                body = response.json()
            except ValueError:
                body = {"title": response.reason, "description": response.text[:300]}
            raise ApiError(response.status_code, body if isinstance(body, dict) else {"description": str(body)})
        return response

    def submit(self, task: str, body: dict, *, wait: int | None = None, idempotency_key: str | None = None) -> dict:
        """Queue a job; returns ``{"id", "status"}`` (the status body when ``wait`` s were given).

        Sends an Idempotency-Key (a new one unless given) and retries on connection errors
        and 502/503/504, so a retry never creates a second job.
        """
        headers = {"Idempotency-Key": idempotency_key or str(uuid.uuid4())}
        for attempt in range(1, SUBMIT_ATTEMPTS + 1):
            try:
                return self._request("POST", f"/{task}", json=body, wait=wait, headers=headers).json()
            except Unreachable:
                if attempt == SUBMIT_ATTEMPTS:
                    raise
            except ApiError as exc:
                if exc.status not in (502, 503, 504) or attempt == SUBMIT_ATTEMPTS:
                    raise
            time.sleep(attempt)
        raise AssertionError("not reached")

    def status(self, job_id: str, *, wait: int | None = None) -> dict:
        """The job's status body; with ``wait`` the server holds the answer up to that many s until it ends."""
        return self._request("GET", f"/status/{job_id}", wait=wait).json()

    def result(self, job_id: str) -> dict:
        """``{"result_url"}`` or ``{"text"}`` of a succeeded job (ApiError 409 otherwise)."""
        return self._request("GET", f"/result/{job_id}").json()

    def cancel(self, job_id: str, *, remove_data: bool = False) -> dict:
        return self._request("POST", f"/job/{job_id}",
                             json={"status": "cancelled", "remove_data": remove_data}).json()

    def jobs(self, *, limit: int = 20, next: str | None = None, **filters) -> dict:
        """One page of ``GET /jobs``: ``{"jobs": [...], "next"}``; filters: status, type, created_after/before."""
        params = {"limit": limit, **{k: v for k, v in filters.items() if v not in (None, "")}}
        if next:
            params["next"] = next
        return self._request("GET", "/jobs", params=params).json()

    def iter_jobs(self, *, page_size: int = 100, **filters) -> Iterator[dict]:
        """Every job of ``GET /jobs``, following ``next`` cursors."""
        cursor = None
        while True:
            page = self.jobs(limit=page_size, next=cursor, **filters)
            yield from page["jobs"]
            cursor = page.get("next")
            if not cursor:
                return

    def wait(self, job_id: str, *, timeout: float | None = None,
             on_update: Callable[[dict], None] | None = None) -> dict:
        """Long-poll the status until the job is terminal (or ``timeout`` s); returns the last status body."""
        deadline = None if timeout is None else time.monotonic() + timeout
        failures = 0
        while True:
            wait = POLL_WAIT if deadline is None else max(0, min(POLL_WAIT, int(deadline - time.monotonic())))
            try:
                body = self.status(job_id, wait=wait)
            except Unreachable:
                failures += 1
                if failures >= WAIT_ATTEMPTS:
                    raise
                time.sleep(1)
                continue
            except ApiError as exc:
                failures += 1
                if exc.status not in (502, 503, 504) or failures >= WAIT_ATTEMPTS:
                    raise
                time.sleep(1)
                continue
            failures = 0
            if on_update is not None:
                on_update(body)
            if body["status"] in TERMINAL or (deadline is not None and time.monotonic() >= deadline):
                return body

    def upload(self, path: str | Path, content_type: str | None = None) -> str:
        """Upload a local file through ``POST /uploads``; returns the input URL a task accepts."""
        path = Path(path)
        size = path.stat().st_size
        content_type = content_type or mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        place = self._request("POST", "/uploads",
                              json={"filename": path.name, "content_type": content_type, "size": size}).json()
        try:
            with path.open("rb") as handle:
                answer = requests.put(place["upload_url"], data=handle,
                                      headers={**place.get("headers", {}), "Content-Length": str(size)},
                                      timeout=(CONNECT_TIMEOUT, 300))
        except requests.RequestException as exc:
            raise Unreachable(f"cannot upload {path.name} to object storage: {exc}") from exc
        if answer.status_code >= 300:
            raise ApiError(answer.status_code, {"title": "Upload failed",
                                                "description": f"object storage answered {answer.status_code}: "
                                                               f"{answer.text[:200]}"})
        return place["input_url"]

    def download(self, url: str, dest: str | Path) -> Path:
        """Save a result URL to ``dest``; returns the path."""
        dest = Path(dest)
        try:
            with requests.get(url, stream=True, timeout=(CONNECT_TIMEOUT, 300)) as response:
                if response.status_code >= 300:
                    raise ApiError(response.status_code, {"title": "Download failed",
                                                          "description": f"{url} answered {response.status_code}"})
                with dest.open("wb") as out:
                    for chunk in response.iter_content(CHUNK_BYTES):
                        out.write(chunk)
        except requests.RequestException as exc:
            raise Unreachable(f"cannot download the result: {exc}") from exc
        return dest
