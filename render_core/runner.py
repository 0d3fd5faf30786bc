"""``run_job``: one job from ``running`` to its terminal status.

Loads the job, marks it running, calls the plugin's ``run(ctx, params)`` with
a :class:`TaskContext`, uploads a media output, and ends the job with exactly
one terminal status. Whatever the task raises, the job never stays ``running``.
"""

from __future__ import annotations

import logging
import shutil
import time
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from dramatiq.middleware import TimeLimitExceeded

from . import metrics
from . import status as st
from .context import TaskContext
from .errors import DeadlineExceeded, JobCancelled, JobError, NodeError
from .http import AddressPolicy, FetchError, Timeouts, download, session
from .task import FileOutput, TextOutput

if TYPE_CHECKING:
    from .runtime import Runtime

log = logging.getLogger(__name__)

#: Outcome of a node failure that is worth another attempt on a fresh node.
RETRY = "retry"
#: A retry needs at least this many seconds before the job's deadline.
MIN_RETRY_SECONDS = 10.0

#: GPU nodes are operator-configured (provider API or STATIC_NODES), so private and
#: loopback addresses are allowed for them; user-supplied URLs keep the strict policy.
NODE_POLICY = AddressPolicy(allow_loopback=True, allow_private=True)


def run_job(runtime: "Runtime", job_id: str) -> None:
    """Run job ``job_id`` to a terminal status (the ``run_job`` actor)."""
    job = runtime.jobs.get(job_id)
    if job is None or job.terminal:
        return
    task = runtime.registry.get(job.type)
    if task is None:
        runtime.finish(job_id, st.FAILED, error=f"no installed plugin provides the task {job.type!r}")
        return
    started_at = job.started_at or time.time()
    applied, _ = runtime.jobs.transition(job_id, st.RUNNING, started_at=started_at, attempts=job.attempts + 1)
    if not applied:
        return
    try:
        _run_and_finish(runtime, task, job, started_at)
    except TimeLimitExceeded:  # the time limit fired outside the task (cleanup, upload bookkeeping)
        runtime.finish(job_id, st.TIMED_OUT, error="the job exceeded its time limit")


def _run_and_finish(runtime: "Runtime", task, job, started_at: float) -> None:
    work_dir = runtime.settings.output_dir / job.id
    work_dir.mkdir(parents=True, exist_ok=True)
    ctx = _context(runtime, job, task.name, work_dir, job.deadline(started_at))
    try:
        status, fields = _run_task(runtime, task, ctx, job.params)
    finally:
        shutil.rmtree(work_dir, ignore_errors=True)
    if status == RETRY:
        _retry_on_fresh_node(runtime, task, job.id, fields["error"])
    elif not runtime.finish(job.id, status, **fields):
        log.info("job %s ended %s but its status had already been set to %s", job.id, status,
                 runtime.jobs.status(job.id))


def _run_task(runtime: "Runtime", task, ctx: TaskContext, params: dict) -> tuple[str, dict]:
    """Call the task and turn its result or exception into (status, fields)."""
    try:
        output = task.run(ctx, params)
        if isinstance(output, FileOutput):
            return st.SUCCESS, _store_file(runtime, ctx, output)
        if isinstance(output, TextOutput):
            return st.SUCCESS, {"text": output.text, "metadata": output.metadata, "progress": 1.0}
        log.error("task %s returned %r instead of FileOutput or TextOutput", task.name, output)
        return st.FAILED, {"error": f"task {task.name!r} returned no result (plugin bug)"}
    except JobError as exc:
        return st.FAILED, {"error": str(exc) or "the task failed"}
    except FetchError as exc:
        return st.FAILED, {"error": str(exc)}
    except NodeError as exc:
        runtime.lease.mark_unhealthy()
        job = runtime.jobs.get(ctx.job_id)
        attempts = job.attempts if job else 1
        if attempts <= runtime.settings.node_retry_attempts and ctx.remaining() > MIN_RETRY_SECONDS \
                and not ctx.cancelled():
            return RETRY, {"error": str(exc)}
        return st.FAILED, {"error": f"the GPU node failed ({attempts} attempt(s)): {exc}"}
    except JobCancelled:
        return st.CANCELLED, {"error": "the job was cancelled"}
    except (DeadlineExceeded, TimeLimitExceeded):
        job = runtime.jobs.get(ctx.job_id)
        limit = f"max_time {job.max_time:.0f} s / complete_by" if job else "time limit"
        return st.TIMED_OUT, {"error": f"the job exceeded its time limit ({limit})"}
    except Exception as exc:  # a plugin bug must still end the job
        log.exception("task %s crashed on job %s", task.name, ctx.job_id)
        return st.FAILED, {"error": f"internal error in task {task.name!r}: {type(exc).__name__}: {exc}"}


def _retry_on_fresh_node(runtime: "Runtime", task, job_id: str, error: str) -> None:
    """Put the job back in its queue; the lease middleware stops the failed node after this returns."""
    applied, _ = runtime.jobs.transition(job_id, st.QUEUED,
                                         progress_message=f"retrying after a node failure: {error}")
    if applied:
        log.warning("job %s: GPU node failed (%s); retrying on a fresh node", job_id, error)
        runtime.requeue(task, job_id)


def _store_file(runtime: "Runtime", ctx: TaskContext, output: FileOutput) -> dict:
    path = Path(output.path)
    if not path.is_file() or path.stat().st_size == 0:
        raise JobError(f"task {ctx.task!r} produced no output file")
    object_name = f"{ctx.job_id}{path.suffix.lower()}"
    with ctx.stage("upload"):
        try:
            url = runtime.storage.upload(path, object_name, output.content_type)
        except Exception as exc:
            log.exception("upload of %s failed", object_name)
            raise JobError(f"could not store the result in object storage: {type(exc).__name__}: {exc}") from exc
    return {"result_url": url, "result_key": object_name, "metadata": output.metadata, "progress": 1.0}


def _context(runtime: "Runtime", job, task_name: str, work_dir: Path, deadline: float) -> TaskContext:
    settings = runtime.settings

    def downloader(url, dest, should_stop):
        return download(url, dest, max_bytes=settings.max_download_bytes, policy=runtime.url_policy,
                        should_stop=should_stop).path

    def reporter(fraction, message):
        runtime.jobs.update(job.id, progress=round(fraction, 4), progress_message=message)

    def is_cancelled():
        return runtime.jobs.status(job.id) != st.RUNNING

    @contextmanager
    def timer(stage):
        with metrics.stage_seconds.labels(task_name, stage).time():
            yield

    def node_session():
        return session(NODE_POLICY, Timeouts(connect=10.0, read=60.0))

    return TaskContext(job_id=job.id, task=task_name, node=runtime.lease.current_node(), work_dir=work_dir,
                       deadline=deadline, downloader=downloader, reporter=reporter, is_cancelled=is_cancelled,
                       timer=timer, session_factory=node_session, poll_interval=settings.render_polling_interval)
