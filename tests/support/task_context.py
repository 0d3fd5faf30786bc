"""Build a real ``render_core`` TaskContext for calling a task's ``run(ctx, params)`` in tests.

No Redis, S3 or worker: downloads go through ``render_core.net.http.download``, node calls
through ``render_core.net.http.session``, progress is collected in a list, cancellation comes
from a ``threading.Event``.
"""

from __future__ import annotations

import contextlib
import threading
import time
from pathlib import Path

from render_core.sdk.context import TaskContext
from render_core.sdk.node import Node
from render_core.net.http import AddressPolicy, Timeouts, download, session

MAX_DOWNLOAD_BYTES = 64 * 1024 * 1024
NODE_TIMEOUTS = Timeouts(connect=5.0, read=30.0)


def make_context(tmp_path: Path, node: Node, *, poll_interval: float = 0.05, deadline_s: float = 120,
                 cancel_event: threading.Event | None = None,
                 allow_loopback_downloads: bool = True) -> tuple[TaskContext, list[tuple[float, str]]]:
    """A TaskContext running on ``node``, and the list its progress reports are appended to.

    ``poll_interval`` (s) is ``ctx.poll_interval``; ``deadline_s`` (s) is the time from now
    to the job's deadline; setting ``cancel_event`` cancels the job (seen within ~0 s).
    ``allow_loopback_downloads`` lets ``ctx.download`` fetch from 127.0.0.1 test servers.
    """
    work_dir = Path(tmp_path) / "work"
    work_dir.mkdir(parents=True, exist_ok=True)
    progress: list[tuple[float, str]] = []
    cancel = cancel_event or threading.Event()
    url_policy = AddressPolicy(allow_loopback=allow_loopback_downloads)

    def downloader(url, dest, should_stop):
        return download(url, dest, max_bytes=MAX_DOWNLOAD_BYTES, policy=url_policy, should_stop=should_stop).path

    def reporter(fraction, message):
        progress.append((fraction, message))

    def node_session():
        return session(AddressPolicy(allow_loopback=True, allow_private=True), NODE_TIMEOUTS)

    ctx = TaskContext(
        job_id="test-job", task="test", node=node, work_dir=work_dir, deadline=time.time() + deadline_s,
        downloader=downloader, reporter=reporter, is_cancelled=cancel.is_set,
        timer=lambda stage: contextlib.nullcontext(), session_factory=node_session,
        poll_interval=poll_interval, cancel_poll_interval=0.0)
    return ctx, progress
