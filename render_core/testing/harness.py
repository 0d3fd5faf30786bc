"""TaskHarness: run a plugin's task in this process, the way a worker would, without Redis, S3 or a worker.

The body is validated by the task's schema (plus the common fields) as the API
does; the task gets a real :class:`~render_core.plugin.TaskContext` with a real
work dir, the guarded downloader (loopback allowed, so a :class:`FileServer`
can serve inputs) and, when the task declares a GPU workload, a
:class:`FakeNode`; what it raises or returns becomes the job's outcome exactly
as the worker decides it. Everything the task reported is recorded in the
returned :class:`Run`.
"""

from __future__ import annotations

import json
import threading
import time
import traceback
import uuid
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from tempfile import mkdtemp
from typing import Any

from render_core.gpu.providers.common import node_answers
from render_core.net.http import AddressPolicy, FetchError, Timeouts, download, session
from render_core.sdk.context import TaskContext
from render_core.sdk.errors import DeadlineExceeded, JobCancelled, JobError, NodeAppError, NodeError, WorkerStopping
from render_core.sdk.node import Node
from render_core.sdk.registry import load_registry
from render_core.sdk.schema import ValidationError
from render_core.sdk.task import FileOutput, Task, TextOutput

from .servers import FakeNode, FileServer

#: The service's default download limit (MAX_DOWNLOAD_BYTES), in bytes.
DEFAULT_MAX_DOWNLOAD_BYTES = 200 * 1024 * 1024
#: Timeouts of calls to the node, in seconds (the worker's are 10 s connect, 60 s read).
NODE_TIMEOUTS = Timeouts(connect=5.0, read=30.0)
#: Seconds the node's health check may take after a NodeAppError (HEALTH_TIMEOUT).
NODE_HEALTH_TIMEOUT_S = 5.0


@dataclass
class Trail:
    """What a task reported while it ran.

    ``progress``: ``(fraction, message)`` in order; ``stages``: stage names in the order
    they were entered (``download`` comes from ``ctx.download``); ``stage_seconds``:
    total seconds per stage; ``downloads``: the URLs fetched.
    """

    progress: list[tuple[float, str]] = field(default_factory=list)
    stages: list[str] = field(default_factory=list)
    stage_seconds: dict[str, float] = field(default_factory=dict)
    downloads: list[str] = field(default_factory=list)


class RecordedContext(TaskContext):
    """A TaskContext whose reports are recorded in ``trail``."""

    trail: Trail


@dataclass
class Run:
    """The outcome of one job run by the harness.

    ``status`` is what the job would end with: ``success``, ``failed``, ``cancelled``,
    ``timed_out``, ``requeued`` (the task stopped because its worker was shutting down:
    the service puts the job back in the queue), or ``rejected`` when the API would have
    answered 400 (``problems`` maps each bad field to its message; no job exists then). On success ``text`` or
    ``file`` (+ ``content_type``) holds the result and ``metadata`` its metadata;
    otherwise ``error`` is the message the client would read. ``node_failed`` is True
    when the task raised NodeError, or a NodeAppError after which the node failed its
    health check (the service retries such a job on a fresh node while time remains). ``exception`` is what the task raised, ``traceback`` its
    formatted traceback when the task crashed.
    """

    task: str
    status: str
    params: dict = field(default_factory=dict)
    text: str | None = None
    file: Path | None = None
    content_type: str | None = None
    metadata: dict = field(default_factory=dict)
    error: str | None = None
    problems: dict[str, str] = field(default_factory=dict)
    node: Node | None = None
    node_failed: bool = False
    work_dir: Path | None = None
    trail: Trail = field(default_factory=Trail)
    exception: BaseException | None = None
    traceback: str | None = None

    @property
    def progress(self) -> list[tuple[float, str]]:
        return self.trail.progress

    @property
    def stages(self) -> list[str]:
        return self.trail.stages

    def __str__(self) -> str:
        """A one-paragraph summary, handy as an assertion message: ``assert run.status == "success", run``."""
        detail = self.error or (f"problems {self.problems}" if self.problems else "")
        lines = [f"task {self.task!r} ended {self.status}" + (f": {detail}" if detail else "")]
        if self.traceback:
            lines.append(self.traceback)
        return "\n".join(lines)


class TaskHarness:
    """Runs the tasks of one plugin in the calling thread.

    Parameters:
      plugin: the plugin object (usually its entry-point module) whose hooks provide the
        tasks; checked like an installed plugin (declared API range, hooks).
      work_root: where job work dirs go (pytest's ``tmp_path``); a temporary dir by default.
      max_download_bytes: the download limit, as MAX_DOWNLOAD_BYTES (bytes).
      poll_interval: ``ctx.poll_interval`` in seconds (the service's RENDER_POLLING_INTERVAL).

    ``files`` is a :class:`FileServer` for inputs and ``node`` the :class:`FakeNode` handed to
    tasks that declare a workload; both start on first use. Use as a context manager, or
    call ``close()``.
    """

    def __init__(self, plugin: object, *, work_root: Path | str | None = None,
                 max_download_bytes: int = DEFAULT_MAX_DOWNLOAD_BYTES, poll_interval: float = 0.05):
        self.registry = load_registry(extra_plugins=(plugin,), entry_points=False)
        self.work_root = Path(work_root) if work_root is not None else Path(mkdtemp(prefix="c3-render-harness-"))
        self.max_download_bytes = max_download_bytes
        self.poll_interval = poll_interval
        self._files: FileServer | None = None
        self._node: FakeNode | None = None

    @property
    def tasks(self) -> dict[str, Task]:
        """The plugin's tasks by name."""
        return self.registry.tasks

    @property
    def files(self) -> FileServer:
        if self._files is None:
            self._files = FileServer()
        return self._files

    @property
    def node(self) -> FakeNode:
        if self._node is None:
            self._node = FakeNode()
        return self._node

    def close(self) -> None:
        """Stop the file server and the fake node."""
        for server in (self._files, self._node):
            if server is not None:
                server.close()

    def __enter__(self) -> "TaskHarness":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def task(self, name: str) -> Task:
        task = self.registry.get(name)
        if task is None:
            raise KeyError(f"the plugin provides no task {name!r} (it has: {', '.join(sorted(self.tasks)) or 'none'})")
        return task

    def validate(self, name: str, body: Any) -> dict:
        """The parameters the API would pass to the task (defaults applied); raises ValidationError like a 400."""
        return self.registry.request_schema(self.task(name)).validate(body)

    def context(self, task: str = "test", *, node: Node | FakeNode | None = None, time_limit: float = 120.0,
                cancel: threading.Event | None = None, cancel_at: float | None = None,
                worker_stop: threading.Event | None = None, job_id: str | None = None) -> RecordedContext:
        """A context as the worker builds it, recording into ``ctx.trail``.

        Parameters:
          node: ``ctx.node``: a Node, a FakeNode, or None for the local machine.
          time_limit: seconds from now to the job's deadline.
          cancel: setting this event cancels the job (seen at the next ``ctx.cancelled()``).
          cancel_at: cancel the job once the task reports progress of at least this fraction.
          worker_stop: setting this event tells the task its worker is shutting down
            (``ctx.stopping()``; ``ctx.check()`` raises and the job would be requeued).
        """
        job_id = job_id or str(uuid.uuid4())
        work_dir = self.work_root / job_id
        work_dir.mkdir(parents=True, exist_ok=True)
        trail = Trail()
        cancel = cancel or threading.Event()
        worker_stop = worker_stop or threading.Event()
        node = node.node if isinstance(node, FakeNode) else node or Node.local_machine()
        max_bytes = self.max_download_bytes
        inputs_policy = AddressPolicy(allow_loopback=True)
        deadline = time.time() + time_limit

        def downloader(url, dest, should_stop):  # as the worker: the whole transfer ends by the deadline
            trail.downloads.append(url)
            timeouts = Timeouts(connect=10.0, read=60.0, total=max(1.0, deadline - time.time()))
            return download(url, dest, max_bytes=max_bytes, policy=inputs_policy, timeouts=timeouts,
                            should_stop=should_stop).path

        def reporter(fraction, message):
            trail.progress.append((fraction, message))
            if cancel_at is not None and fraction >= cancel_at:
                cancel.set()

        @contextmanager
        def timer(stage):
            trail.stages.append(stage)
            started = time.monotonic()
            try:
                yield
            finally:
                trail.stage_seconds[stage] = trail.stage_seconds.get(stage, 0.0) + time.monotonic() - started

        def node_session():
            return session(AddressPolicy(allow_loopback=True, allow_private=True), NODE_TIMEOUTS)

        ctx = RecordedContext(job_id=job_id, task=task, node=node, work_dir=work_dir,
                              deadline=deadline, downloader=downloader, reporter=reporter,
                              is_cancelled=cancel.is_set, timer=timer, session_factory=node_session,
                              poll_interval=self.poll_interval, cancel_poll_interval=0.0,
                              is_stopping=worker_stop.is_set, max_download_bytes=max_bytes)
        ctx.trail = trail
        return ctx

    def run(self, name: str, body: dict | None = None, *, node: Node | FakeNode | None = None,
            time_limit: float | None = None, cancel: threading.Event | None = None,
            cancel_at: float | None = None, worker_stop: threading.Event | None = None) -> Run:
        """Submit ``body`` to task ``name`` and run the job to its end; returns the :class:`Run`.

        Parameters:
          node: defaults to this harness's FakeNode when the task declares a workload, else
            the local machine (what the ``local`` GPU provider gives).
          time_limit: seconds the job may run (default: the body's ``max_time``, 1200).
          cancel, cancel_at, worker_stop: as :meth:`context`.
        """
        task = self.task(name)
        try:
            params = self.validate(name, body if body is not None else {})
        except ValidationError as exc:
            return Run(task=name, status="rejected", error=str(exc),
                       problems={problem.field: problem.message for problem in exc.problems})
        if node is None and task.workload:
            node = self.node
        fake = node if isinstance(node, FakeNode) else None
        time_limit = time_limit or params["max_time"]
        ctx = self.context(name, node=node, time_limit=time_limit, cancel=cancel, cancel_at=cancel_at,
                           worker_stop=worker_stop)
        run = Run(task=name, status="running", params=params, node=ctx.node, work_dir=ctx.work_dir, trail=ctx.trail)
        try:
            _finish(run, task, task.run(ctx, params))
        except BaseException as exc:  # every outcome the worker maps, and a plugin's crash
            _fail(run, task, exc, time_limit)
        if run.node_failed and fake is not None:
            fake.healthy = False
        return run


def _finish(run: Run, task: Task, output: Any) -> None:
    """Record a returned output as the worker would accept (or refuse) it."""
    if isinstance(output, (FileOutput, TextOutput)):
        try:
            json.dumps(output.metadata)
        except (TypeError, ValueError) as exc:
            run.status, run.error = "failed", f"task {task.name!r} returned metadata that is not JSON: {exc}"
            return
        run.metadata = output.metadata
    if isinstance(output, FileOutput):
        path = Path(output.path)
        if not path.is_file() or path.stat().st_size == 0:
            run.status, run.error = "failed", f"task {task.name!r} produced no output file"
            return
        run.status, run.file, run.content_type = "success", path, output.content_type
    elif isinstance(output, TextOutput):
        run.status, run.text = "success", output.text
    else:
        run.status, run.error = "failed", f"task {task.name!r} returned no result (plugin bug)"


def _node_answers(node: Node) -> bool:
    """The static provider's health check of ``node``: ``GET <base URL>/`` answers 200 (the local machine does)."""
    return node.local or node_answers(node.base_url, node.headers, NODE_HEALTH_TIMEOUT_S)


def _fail(run: Run, task: Task, exc: BaseException, time_limit: float) -> None:
    """Map what the task raised to the job's status and error, as the worker does."""
    run.exception = exc
    if isinstance(exc, NodeAppError) and run.node is not None and not _node_answers(run.node):
        run.status, run.node_failed = "failed", True  # the worker health-checks the node after such an error
        run.error = f"the GPU node failed (1 attempt(s)): {exc} (then the node failed its health check)"
    elif isinstance(exc, JobError):
        run.status, run.error = "failed", str(exc) or "the task failed"
    elif isinstance(exc, FetchError):
        run.status, run.error = "failed", str(exc)
    elif isinstance(exc, NodeError):
        run.status, run.node_failed = "failed", True
        run.error = f"the GPU node failed (1 attempt(s)): {exc}"
    elif isinstance(exc, JobCancelled):
        run.status, run.error = "cancelled", "the job was cancelled"
    elif isinstance(exc, WorkerStopping):
        run.status = "requeued"
    elif isinstance(exc, DeadlineExceeded):
        run.status, run.error = "timed_out", f"the job exceeded its time limit ({time_limit:g} s)"
    elif isinstance(exc, Exception):
        run.status = "failed"
        run.error = f"internal error in task {task.name!r}: {type(exc).__name__}: {exc}"
        run.traceback = "".join(traceback.format_exception(exc))
    else:
        raise exc  # KeyboardInterrupt, SystemExit: not the task's outcome
