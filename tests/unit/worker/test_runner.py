"""The Runner in-process: every way a task can end maps to exactly one job outcome.

A real JobStore on a throwaway Redis (webhooks owed and retries are written there with the
status), a StubBroker behind the lifecycle, tasks defined here, a recording storage and lease.
"""

from __future__ import annotations

import time

import pytest
from dramatiq.middleware import TimeLimitExceeded

from render_core.dispatch.messages import RUN_JOB
from render_core.jobs import status as st
from render_core.net.http import AddressPolicy
from render_core.plugin import FileOutput, JobError, NodeAppError, NodeError, Schema, String, Task, TextOutput
from render_core.sdk.node import Node
from render_core.worker.runner import Runner
from support.job_harness import create_job, make_registry, owed_webhooks, redis_queued

SCHEMA = Schema({"message": String()})


class RecordingStorage:
    def __init__(self, fail: bool = False):
        self.fail = fail
        self.uploads: list[tuple[str, str, bytes]] = []

    def upload(self, path, object_name, content_type):
        if self.fail:
            raise ConnectionError("S3 is down")
        self.uploads.append((object_name, content_type, path.read_bytes()))
        return f"https://s3.invalid/bucket/{object_name}?signature=x"


class RecordingLease:
    def __init__(self):
        self.unhealthy = 0
        self.node_healthy = True  # what a health check of the leased node finds
        self.health_checks = 0

    def current_node(self):
        return Node.local_machine()

    def current_node_healthy(self):
        self.health_checks += 1
        return self.node_healthy

    def mark_unhealthy(self):
        self.unhealthy += 1


class Harness:
    """One Runner with one task; ``run(**params)`` runs a fresh job and returns its record."""

    def __init__(self, settings, store, lifecycle, broker, run, output="text"):
        self.task = Task("probe", SCHEMA, run, output=output)
        broker.declare_queue(self.task.queue)
        self.store, self.broker = store, broker
        self.storage, self.lease = RecordingStorage(), RecordingLease()
        self.runner = Runner(settings=settings, registry=make_registry(self.task), lifecycle=lifecycle,
                             lease=self.lease, storage=lambda: self.storage, url_policy=AddressPolicy())

    def run(self, *, attempts: int = 0, **job):
        job_id = create_job(self.store, self.task.name, **job)
        if attempts:
            self.store.client.hset(f"c3render:job:{job_id}", "attempts", attempts)
        self.runner.run(self.store.get(job_id))
        return self.store.get(job_id)

    def webhooks(self):
        return owed_webhooks(self.store.client)

    def requeued(self):
        return [m for m in redis_queued(self.store.client, self.task.queue) if m.actor_name == RUN_JOB]


@pytest.fixture
def harness(settings, store, lifecycle, stub_broker):
    def make(run, output="text"):
        return Harness(settings, store, lifecycle, stub_broker, run, output)
    return make


def test_text_output_succeeds_and_sends_the_webhook(harness):
    h = harness(lambda ctx, params: TextOutput("hello", metadata={"words": 1}))
    job = h.run(notify_url="https://hooks.example/x")
    assert (job.status, job.text, job.metadata) == ("success", "hello", {"words": 1})
    assert (job.progress, job.attempts) == (1.0, 1)
    assert job.started_at and job.finished_at and job.error is None
    (webhook,) = h.webhooks()
    assert webhook == (job.id, "https://hooks.example/x", {"id": job.id, "status": "success", "text": "hello"})


def test_file_output_is_uploaded_under_the_job_id_and_the_work_dir_removed(harness, settings):
    seen = {}

    def run(ctx, params):
        seen["work_dir"] = ctx.work_dir
        path = ctx.work_dir / "out.TXT"
        path.write_text("file body")
        return FileOutput(path, "text/plain", metadata={"kind": "text"})

    h = harness(run, output="media")
    job = h.run()
    assert job.status == "success" and job.metadata == {"kind": "text"}
    assert h.storage.uploads == [(f"{job.id}.txt", "text/plain", b"file body")]
    assert job.result_key == f"{job.id}.txt" and job.result_url.startswith("https://s3.invalid/bucket/")
    assert seen["work_dir"] == settings.output_dir / job.id and not seen["work_dir"].exists()


def test_an_empty_output_file_fails_the_job(harness):
    def run(ctx, params):
        path = ctx.work_dir / "empty.mp3"
        path.touch()
        return FileOutput(path)

    job = harness(run, output="media").run()
    assert job.status == "failed" and job.error == "task 'probe' produced no output file"


def test_an_upload_failure_fails_the_job_with_the_reason(harness):
    def run(ctx, params):
        path = ctx.work_dir / "a.bin"
        path.write_bytes(b"x")
        return FileOutput(path)

    h = harness(run, output="media")
    h.storage.fail = True
    job = h.run()
    assert job.status == "failed" and "could not store the result" in job.error and "S3 is down" in job.error


def test_job_error_fails_with_the_task_message(harness):
    def run(ctx, params):
        raise JobError("the image is not a face")

    h = harness(run)
    job = h.run(notify_url="https://hooks.example/x")
    assert (job.status, job.error) == ("failed", "the image is not a face")
    assert h.webhooks()[0][2] == {"id": job.id, "status": "failed", "error": "the image is not a face"}


def test_an_app_error_on_a_healthy_node_is_the_jobs_error(harness):
    def run(ctx, params):
        raise NodeAppError("csm failed on the GPU node: the speaker audio is too short")

    h = harness(run)
    job = h.run()
    assert (job.status, job.error) == ("failed", "csm failed on the GPU node: the speaker audio is too short")
    assert h.lease.health_checks == 1 and h.lease.unhealthy == 0 and h.requeued() == []


def test_an_app_error_from_a_node_that_fails_its_health_check_is_retried(harness):
    def run(ctx, params):
        raise NodeAppError("csm failed on the GPU node: CUDA error: device lost")

    h = harness(run)
    h.lease.node_healthy = False
    job = h.run()
    assert job.status == "queued" and job.attempts == 1
    assert "CUDA error: device lost (then the node failed its health check)" in job.progress_message
    assert h.lease.unhealthy == 1 and [m.args for m in h.requeued()] == [(job.id,)]


def test_a_job_error_needs_no_health_check(harness):
    def run(ctx, params):
        raise JobError("reference_audio_url is not audio that can be read")

    h = harness(run)
    assert h.run().status == "failed" and h.lease.health_checks == 0


def test_a_node_error_with_attempts_and_time_left_requeues_the_job(harness):
    def run(ctx, params):
        raise NodeError("node stopped answering")

    h = harness(run)
    job = h.run(notify_url="https://hooks.example/x")
    assert job.status == "queued" and job.attempts == 1
    assert "retrying after a node failure: node stopped answering" in job.progress_message
    (message,) = h.requeued()
    assert message.args == (job.id,) and message.options["redis_message_id"] == job.message_id
    assert h.lease.unhealthy == 1 and h.webhooks() == []


def test_a_node_error_on_the_last_attempt_fails_the_job(harness, settings):
    def run(ctx, params):
        raise NodeError("node stopped answering")

    h = harness(run)
    job = h.run(attempts=settings.node_retry_attempts)
    assert job.status == "failed" and job.attempts == settings.node_retry_attempts + 1
    assert job.error == f"the GPU node failed ({job.attempts} attempt(s)): node stopped answering"
    assert h.requeued() == [] and h.lease.unhealthy == 1


def test_a_node_error_too_close_to_the_deadline_fails_the_job(harness):
    def run(ctx, params):
        raise NodeError("node stopped answering")

    h = harness(run)
    job_id = create_job(h.store, "probe")
    h.store.client.hset(f"c3render:job:{job_id}", "complete_by", time.time() + 5)  # < MIN_RETRY_SECONDS left
    h.runner.run(h.store.get(job_id))
    job = h.store.get(job_id)
    assert job.status == "failed" and "GPU node failed (1 attempt(s))" in job.error and h.requeued() == []


def test_a_job_cancelled_while_running_keeps_the_clients_status(harness, lifecycle):
    def run(ctx, params):
        lifecycle.finish(ctx.job_id, st.CANCELLED, error="stopped by the client")  # what POST /job/{id} does
        ctx.check()
        return TextOutput("too late")

    h = harness(run)
    job = h.run(notify_url="https://hooks.example/x")
    assert (job.status, job.error, job.text) == ("cancelled", "stopped by the client", None)
    assert len(h.webhooks()) == 1, "exactly one webhook: the cancellation's"


def test_a_task_past_its_deadline_times_out(harness):
    def run(ctx, params):
        ctx.check()
        return TextOutput("never")

    h = harness(run)
    job_id = create_job(h.store, "probe", max_time=60)
    h.store.client.hset(f"c3render:job:{job_id}", "complete_by", time.time() - 1)
    h.runner.run(h.store.get(job_id))
    job = h.store.get(job_id)
    assert job.status == "timed_out" and "exceeded its time limit (max_time 60 s" in job.error


def test_the_time_limit_interrupting_the_task_times_the_job_out(harness):
    def run(ctx, params):
        raise TimeLimitExceeded()

    assert harness(run).run().status == "timed_out"


def test_a_plugin_crash_fails_the_job_and_names_the_exception(harness):
    def run(ctx, params):
        return {}["missing"]

    job = harness(run).run()
    assert job.status == "failed" and job.error == "internal error in task 'probe': KeyError: 'missing'"


def test_a_return_value_that_is_no_output_fails_the_job(harness):
    job = harness(lambda ctx, params: "just a string").run()
    assert (job.status, job.error) == ("failed", "task 'probe' returned no result (plugin bug)")


def test_a_job_of_an_unknown_task_fails(harness, store):
    h = harness(lambda ctx, params: TextOutput("x"))
    job_id = create_job(store, "uninstalled")
    h.runner.run(store.get(job_id))
    job = store.get(job_id)
    assert job.status == "failed" and "no installed plugin provides the task 'uninstalled'" in job.error


def test_a_terminal_job_is_left_alone(harness, store, lifecycle):
    calls = []
    h = harness(lambda ctx, params: calls.append(1) or TextOutput("x"))
    job_id = create_job(store, "probe")
    store.transition(job_id, st.RUNNING)
    lifecycle.finish(job_id, st.SUCCESS, text="first")
    h.runner.run(store.get(job_id))
    assert calls == [] and store.get(job_id).text == "first"
    h.runner.run(None)  # a record that expired is no error either


def test_progress_reports_are_stored_while_running(harness, store):
    seen = []

    def run(ctx, params):
        ctx.progress(0.5, "half way")
        seen.append(store.get(ctx.job_id))
        return TextOutput("done")

    job = harness(run).run()
    assert (seen[0].status, seen[0].progress, seen[0].progress_message) == ("running", 0.5, "half way")
    assert job.progress == 1.0
