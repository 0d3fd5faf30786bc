"""``run_job``: one job from ``running`` to its terminal status.

Marks the job running, calls the plugin's ``run(ctx, params)`` with a
:class:`TaskContext`, uploads a media output, and ends the job with exactly one
terminal status. Whatever the task raises, the job never stays ``running``:
state writes are retried through a Redis blip (``STATE_WRITE_RETRY``), and a
job whose worker gave up or died is requeued or ended by the sweeper.
When the worker is shutting down the job goes back to the queue instead (see
:mod:`render_core.worker.middleware.shutdown`): a job not started yet at once,
a running one when the drain is over.
"""

from __future__ import annotations

import logging
import shutil
import time
from contextlib import contextmanager
from pathlib import Path

from typing import Callable

import redis
from dramatiq.middleware import Shutdown, TimeLimitExceeded

from render_core.config.settings import Settings
from render_core.jobs import status as st
from render_core.jobs.lifecycle import JobLifecycle
from render_core.jobs.store import Job
from render_core.net.http import AddressPolicy, FetchError, Timeouts, download, session
from render_core.net.upload_urls import UploadUrls
from render_core.obs import metrics
from render_core.sdk.context import TaskContext
from render_core.sdk.errors import DeadlineExceeded, JobCancelled, JobError, NodeAppError, NodeError, WorkerStopping
from render_core.sdk.registry import Registry
from render_core.sdk.task import FileOutput, Task, TextOutput

from .middleware.gpu_lease import GpuLease
from .public_text import public_text

log = logging.getLogger(__name__)

#: Outcome of a node failure that is worth another attempt on a fresh node.
RETRY = "retry"
#: Outcome of a job the stopping worker gives back to the queue.
REQUEUE = "requeue"
#: A retry needs at least this many seconds before the job's deadline.
MIN_RETRY_SECONDS = 10.0

#: GPU nodes are operator-configured (provider API or STATIC_NODES), so private and
#: loopback addresses are allowed for them; user-supplied URLs keep the strict policy.
NODE_POLICY = AddressPolicy(allow_loopback=True, allow_private=True)


class Runner:
    """Runs one job per call of :meth:`run`.

    Parameters:
      settings: deployment settings (output dir, download limit, retries, polling).
      registry: the tasks by name.
      lifecycle: ends and requeues jobs.
      lease: the GPU-lease middleware (the node of this thread, health verdicts).
      storage: where media results go; a callable returning it, so it is built on first use.
      url_policy: the address policy for user-supplied URLs.
      upload_urls: recognises input URLs of client uploads (our own storage, trusted exactly,
        limited to MAX_UPLOAD_BYTES); default: built from ``settings``.
      draining: True once the worker was asked to stop (a job not started yet is given back).
      stopping: True once the drain is over (a running job is given back).
    """

    def __init__(self, *, settings: Settings, registry: Registry, lifecycle: JobLifecycle, lease: GpuLease,
                 storage, url_policy: AddressPolicy, upload_urls: UploadUrls | None = None,
                 draining: Callable[[], bool] = lambda: False, stopping: Callable[[], bool] = lambda: False):
        self.settings = settings
        self.registry = registry
        self.lifecycle = lifecycle
        self.jobs = lifecycle.store
        self.lease = lease
        self._storage = storage
        self.url_policy = url_policy
        self.upload_urls = upload_urls or UploadUrls(settings)
        self.upload_policy = self.upload_urls.policy(url_policy)
        self.draining = draining
        self.stopping = stopping

    def run(self, job: Job | None) -> None:
        """Run ``job`` (loaded by the caller) to a terminal status, or give it back to the queue."""
        if job is None or job.terminal:
            return
        task = self.registry.get(job.type)
        if task is None:
            self.lifecycle.finish(job.id, st.FAILED, error=f"no installed plugin provides the task {job.type!r}")
            return
        if self.draining():
            self._give_back(task, job.id, "the worker was stopping before the job started")
            return
        started_at = job.started_at or time.time()
        attempts = job.attempts + 1
        applied, _ = self.jobs.transition(job.id, st.RUNNING, started_at=started_at, attempts=attempts)
        if not applied:
            return
        try:
            self._run_and_finish(task, job, started_at, attempts)
        except TimeLimitExceeded:  # the time limit fired outside the task (cleanup, upload bookkeeping)
            self.lifecycle.finish(job.id, st.TIMED_OUT, error="the job exceeded its time limit")
        except Shutdown:  # the shutdown interrupted the thread outside the task
            self._give_back(task, job.id, "the worker stopped while the job ran")

    def _run_and_finish(self, task: Task, job: Job, started_at: float, attempts: int) -> None:
        work_dir = self.settings.output_dir / job.id
        ctx = self._context(job, task.name, work_dir, job.deadline(started_at, self.settings.max_render_time))
        try:
            status, fields = self._run_task(task, ctx, job, attempts)
        finally:
            if work_dir.is_dir():  # made on first use (by this attempt or an earlier one)
                shutil.rmtree(work_dir, ignore_errors=True)
        if fields.get("error"):  # shown to the client: no node address or credential in it
            log.info("job %s ends %s: %s", job.id, status, fields["error"])
            fields["error"] = public_text(fields["error"], ctx.node)
        if status in (st.FAILED, RETRY) and self.stopping():
            status = REQUEUE  # a failure while stopping (e.g. an aborted download) is the shutdown's doing
        if status == REQUEUE:
            self._give_back(task, job.id, "the worker stopped while the job ran")
        elif status == RETRY:
            self._retry_on_fresh_node(task, job.id, fields["error"])
        elif not self.lifecycle.finish(job.id, status, **fields):
            log.info("job %s ended %s but its status had already been set to %s", job.id, status,
                     self.jobs.status(job.id))

    def _run_task(self, task: Task, ctx: TaskContext, job: Job, attempts: int) -> tuple[str, dict]:
        """Call the task and turn its result or exception into (status, fields)."""
        try:
            output = task.run(ctx, job.params)
            if isinstance(output, FileOutput):
                return st.SUCCESS, self._store_file(ctx, output)
            if isinstance(output, TextOutput):
                return st.SUCCESS, {"text": output.text, "metadata": output.metadata, "progress": 1.0}
            log.error("task %s returned %r instead of FileOutput or TextOutput", task.name, output)
            return st.FAILED, {"error": f"task {task.name!r} returned no result (plugin bug)"}
        except NodeAppError as exc:  # the node answered with an error: is the node still alive?
            if self.lease.current_node_healthy():
                return st.FAILED, {"error": str(exc) or "the task failed"}
            return self._node_failed(ctx, attempts, f"{exc} (then the node failed its health check)")
        except JobError as exc:
            return st.FAILED, {"error": str(exc) or "the task failed"}
        except FetchError as exc:
            return st.FAILED, {"error": str(exc)}
        except NodeError as exc:
            return self._node_failed(ctx, attempts, str(exc))
        except JobCancelled:
            return st.CANCELLED, {"error": "the job was cancelled"}
        except (WorkerStopping, Shutdown):
            return REQUEUE, {}
        except (DeadlineExceeded, TimeLimitExceeded):
            return st.TIMED_OUT, {"error": f"the job exceeded its time limit (max_time "
                                           f"{job.run_time(self.settings.max_render_time):.0f} s / complete_by)"}
        except Exception as exc:  # a plugin bug must still end the job
            log.exception("task %s crashed on job %s", task.name, ctx.job_id)
            return st.FAILED, {"error": f"internal error in task {task.name!r}: {type(exc).__name__}: {exc}"}

    def _node_failed(self, ctx: TaskContext, attempts: int, error: str) -> tuple[str, dict]:
        """The node is broken: stop it after the job; retry on a fresh one while attempts and time remain."""
        self.lease.mark_unhealthy()
        if attempts <= self.settings.node_retry_attempts and ctx.remaining() > MIN_RETRY_SECONDS \
                and not ctx.cancelled():
            return RETRY, {"error": error}
        return st.FAILED, {"error": f"the GPU node failed ({attempts} attempt(s)): {error}"}

    def _give_back(self, task: Task, job_id: str, why: str) -> None:
        """Put the job back in its queue for another worker (status queued, run time restarts)."""
        if self.lifecycle.return_to_queue(task, job_id, f"{why}; queued again for another worker"):
            log.info("job %s goes back to the queue: %s", job_id, why)

    def _retry_on_fresh_node(self, task: Task, job_id: str, error: str) -> None:
        """Put the job back in its queue; the lease middleware stops the failed node after this returns."""
        if self.lifecycle.requeue(task, job_id, progress_message=f"retrying after a node failure: {error}"):
            log.warning("job %s: GPU node failed (%s); retrying on a fresh node", job_id, error)

    def _store_file(self, ctx: TaskContext, output: FileOutput) -> dict:
        path = Path(output.path)
        if not path.is_file() or path.stat().st_size == 0:
            raise JobError(f"task {ctx.task!r} produced no output file")
        object_name = f"{ctx.job_id}{path.suffix.lower()}"
        with ctx.stage("upload"):
            try:
                url = self._storage().upload(path, object_name, output.content_type)
            except Exception as exc:
                log.exception("upload of %s failed", object_name)
                raise JobError(f"could not store the result in object storage: {type(exc).__name__}: {exc}") \
                    from exc
        return {"result_url": url, "result_key": object_name, "metadata": output.metadata, "progress": 1.0}

    def _context(self, job: Job, task_name: str, work_dir: Path, deadline: float) -> TaskContext:
        settings, jobs, policy = self.settings, self.jobs, self.url_policy
        uploads, upload_policy = self.upload_urls, self.upload_policy
        node = self.lease.current_node()

        def downloader(url, dest, should_stop):  # the whole transfer ends by the job's deadline
            timeouts = Timeouts(connect=10.0, read=60.0, total=max(1.0, deadline - time.time()))
            if uploads.object_of(url):
                return download(url, dest, max_bytes=settings.max_upload_bytes, policy=upload_policy,
                                timeouts=timeouts, should_stop=should_stop).path
            return download(url, dest, max_bytes=settings.max_download_bytes, policy=policy, timeouts=timeouts,
                            should_stop=should_stop).path

        def reporter(fraction, message):
            try:
                jobs.update(job.id, progress=round(fraction, 4), progress_message=public_text(message, node))
            except redis.RedisError as exc:  # progress is informative: the job goes on without it
                log.warning("job %s: progress not recorded: %s", job.id, exc)

        def is_cancelled():
            try:
                return jobs.status(job.id) != st.RUNNING
            except redis.RedisError as exc:  # unknown: keep working, the next check asks again
                log.warning("job %s: cancellation not checked: %s", job.id, exc)
                return False

        @contextmanager
        def timer(stage):
            with metrics.stage_seconds.labels(task_name, stage).time():
                yield

        def node_session():
            return session(NODE_POLICY, Timeouts(connect=10.0, read=60.0))

        return TaskContext(job_id=job.id, task=task_name, node=node, work_dir=work_dir,
                           deadline=deadline, downloader=downloader, reporter=reporter,
                           is_cancelled=is_cancelled, timer=timer, session_factory=node_session,
                           poll_interval=settings.render_polling_interval, is_stopping=self.stopping,
                           max_download_bytes=settings.max_download_bytes)
