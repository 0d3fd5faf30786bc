"""TaskContext: everything a task's ``run(ctx, params)`` may use while a job runs."""

from __future__ import annotations

import logging
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator
from urllib.parse import unquote, urlsplit

from .errors import DeadlineExceeded, JobCancelled, WorkerStopping
from .node import Node


class TaskContext:
    """Per-job services handed to a task.

    Parameters:
      job_id: the job's id.
      task: the task name.
      node: where to run (see :class:`Node`).
      work_dir: a private directory for the job's files, created when first used, removed after the job.
      deadline: unix time (s) by which the job must end.
      downloader: ``downloader(url, dest, should_stop) -> Path`` (size-limited, SSRF-safe).
      reporter: ``reporter(fraction, message)`` stores progress on the job.
      is_cancelled: returns True once a client cancelled the job.
      timer: ``timer(stage)`` context manager that records seconds per stage.
      session_factory: ``session_factory() -> requests.Session`` for calls to the node
        (operator-configured targets, timeouts applied).
      poll_interval: seconds between status polls of remote work (RENDER_POLLING_INTERVAL).
      is_stopping: returns True once the worker is shutting down and wants the job back
        (it is requeued for another worker, not failed).
      max_download_bytes: the size limit (bytes) of one input download, also applied to files
        fetched from the node (MAX_DOWNLOAD_BYTES).
    """

    def __init__(self, *, job_id: str, task: str, node: Node, work_dir: Path, deadline: float,
                 downloader: Callable[[str, Path, Callable[[], bool]], Path],
                 reporter: Callable[[float, str], None], is_cancelled: Callable[[], bool],
                 timer: Callable[[str], object], logger: logging.Logger | None = None,
                 session_factory: Callable[[], object] | None = None, poll_interval: float = 5.0,
                 cancel_poll_interval: float = 1.0, is_stopping: Callable[[], bool] = lambda: False,
                 max_download_bytes: int = 200 * 1024 * 1024):
        self.job_id = job_id
        self.task = task
        self.node = node
        self._work_dir = work_dir
        self._work_dir_made = False
        self.deadline = deadline
        self.log = logging.LoggerAdapter(logger or logging.getLogger(f"c3_render.task.{task}"), {"job_id": job_id})
        self._downloader = downloader
        self._reporter = reporter
        self._is_cancelled = is_cancelled
        self._timer = timer
        self._session_factory = session_factory
        self._is_stopping = is_stopping
        self.poll_interval = poll_interval
        self.max_download_bytes = max_download_bytes
        self._cancel_poll_interval = cancel_poll_interval
        self._cancel_checked_at = 0.0
        self._cancelled = False
        self._downloads = 0

    @property
    def work_dir(self) -> Path:
        """The job's private directory (created on first use: a job that writes no file costs no directory)."""
        if not self._work_dir_made:
            self._work_dir.mkdir(parents=True, exist_ok=True)
            self._work_dir_made = True
        return self._work_dir

    def remaining(self) -> float:
        """Seconds left before the job's deadline (never negative)."""
        return max(0.0, self.deadline - time.time())

    def cancelled(self) -> bool:
        """True once the client cancelled (or marked timed out) this job; cheap to call often."""
        if not self._cancelled and time.monotonic() - self._cancel_checked_at >= self._cancel_poll_interval:
            self._cancel_checked_at = time.monotonic()
            self._cancelled = self._is_cancelled()
        return self._cancelled

    def stopping(self) -> bool:
        """True once the worker is shutting down and wants this job back in the queue."""
        return self._is_stopping()

    def should_stop(self) -> bool:
        """True when the task should stop now: cancelled, out of time, or the worker is stopping."""
        return self.cancelled() or self.remaining() <= 0 or self.stopping()

    def check(self) -> None:
        """Raise when the task must stop; call between chunks of work.

        JobCancelled (cancelled by the client), DeadlineExceeded (out of time) or
        WorkerStopping (the worker is shutting down: the job is requeued, not failed).
        """
        if self.cancelled():
            raise JobCancelled("the job was cancelled")
        if self.remaining() <= 0:
            raise DeadlineExceeded("the job ran out of time")
        if self.stopping():
            raise WorkerStopping("the worker is shutting down; the job goes back to the queue")

    def download(self, url: str, name: str | None = None) -> Path:
        """Fetch a user-supplied URL into the work dir (timed as stage ``download``); returns its path."""
        self._downloads += 1
        dest = self.work_dir / (name or f"input{self._downloads}{_suffix_of(url)}")
        with self.stage("download"):
            return self._downloader(url, dest, self.should_stop)

    def node_session(self):
        """A ``requests.Session`` for calls to ``self.node``: its auth headers set, timeouts applied.

        The guarded client: a per-call ``timeout=(connect, read)`` bounds the whole call to
        ``connect + read`` seconds, and a redirect to another origin carries none of the
        node's headers. Callers still should stop when ``should_stop()``.
        """
        if self._session_factory is None:
            raise RuntimeError("this context has no node session factory")
        session = self._session_factory()
        session.headers.update(self.node.headers)
        return session

    def progress(self, fraction: float, message: str = "") -> None:
        """Report progress: ``fraction`` in 0..1 and a short message."""
        self._reporter(min(1.0, max(0.0, float(fraction))), message)

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        """Time a block as stage ``name`` (e.g. ``inference``)."""
        with self._timer(name):
            yield


def _suffix_of(url: str) -> str:
    path = unquote(urlsplit(url).path)
    suffix = Path(path).suffix.lower()
    return suffix if suffix.isascii() and 1 < len(suffix) <= 6 and suffix[1:].isalnum() else ""
