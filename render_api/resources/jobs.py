"""Job routes: ``GET /status/{id}``, ``GET /result/{id}``, ``POST /job/{id}``.

A job is visible to the key that submitted it and to admin keys; to anyone else it does not
exist (404, the same answer as an unknown id, so ids leak nothing).
"""

from __future__ import annotations

import logging
from datetime import datetime, timezone

import falcon

from render_core.jobs import status as st
from render_core.jobs.store import Job, valid_job_id
from render_core.jobs.webhook_outbox import PENDING, RETRYING
from render_core.sdk.schema import Boolean, Schema, String

from ..body import read_json
from ..errors import ApiError
from ..keys import ANONYMOUS, Principal
from ..services import ApiServices
from ..waits import parse_prefer_wait

log = logging.getLogger(__name__)

UPDATE_SCHEMA = Schema({
    "status": String(required=True, choices=st.CLIENT_SETTABLE, description="The status to set."),
    "error": String(max_length=2000, description="Message stored as the job's error."),
    "remove_data": Boolean(default=False, description="Delete the job record and its stored result."),
})


def _iso(timestamp: float | None) -> str | None:
    if timestamp is None:
        return None
    return datetime.fromtimestamp(timestamp, timezone.utc).isoformat().replace("+00:00", "Z")


def principal_of(req: falcon.Request) -> Principal:
    """Who the request acts for (set by the auth middleware)."""
    return getattr(req.context, "principal", ANONYMOUS)


def result_of(job: Job) -> dict:
    """What ``GET /result`` answers for a succeeded job."""
    return {"result_url": job.result_url} if job.result_url else {"text": job.text or ""}


def status_body(job: Job) -> dict:
    """What ``GET /status`` answers: status, progress, times, metadata, webhook and, on success, the result."""
    body = {"id": job.id, "status": job.status, "type": job.type}
    if job.error and job.status != st.SUCCESS:
        body["error"] = job.error
    if job.progress is not None:
        body["progress"] = job.progress
    if job.progress_message:
        body["progress_message"] = job.progress_message
    for name in ("created_at", "started_at", "finished_at", "complete_by"):
        value = _iso(getattr(job, name))
        if value:
            body[name] = value
    if job.metadata:
        body["metadata"] = job.metadata
    if job.webhook:
        body["webhook"] = webhook_view(job)
    if job.owner:
        body["owner"] = job.owner
    if job.status == st.SUCCESS:
        body["result"] = result_of(job)
    return body


class JobLookup:
    """Shared: parse the id, load the job the caller may see, answer 400/404."""

    def __init__(self, services: ApiServices):
        self.services = services

    def find(self, job_id: str, principal: Principal) -> Job | None:
        """The job, or None when it is unknown, gone or not the caller's."""
        job = self.services.jobs.get(job_id)
        return job if job is not None and principal.may_see(job.owner) else None

    def load(self, job_id: str, principal: Principal) -> Job:
        if not valid_job_id(job_id):
            raise ApiError(falcon.HTTP_400, "Invalid job id", f"{job_id!r} is not a job id (a lowercase UUID)",
                           errors=[{"field": "job_id", "message": "is not a job id (a lowercase UUID)"}])
        job = self.find(job_id, principal)
        if job is None:
            raise ApiError(falcon.HTTP_404, "Job not found", f"no job {job_id} (unknown, removed or expired)")
        return job

    def respond_waiting(self, req, resp, job: Job, principal: Principal) -> None:
        """Answer ``job``'s status, after waiting for it to end when the request says ``Prefer: wait=N``."""
        wait = parse_prefer_wait(req.get_header("Prefer"))
        if wait is not None and not job.terminal:
            waited, applied = self.services.waits.wait(job.id, lambda: self.find(job.id, principal), wait)
            if applied:
                resp.set_header("Preference-Applied", f"wait={wait}")
            if waited is None:
                raise ApiError(falcon.HTTP_404, "Job not found", f"job {job.id} was removed or expired")
            job = waited
        elif wait is not None:
            resp.set_header("Preference-Applied", f"wait={wait}")
        resp.media = status_body(job)


class StatusResource(JobLookup):
    def on_get(self, req, resp, job_id: str) -> None:
        principal = principal_of(req)
        self.respond_waiting(req, resp, self.load(job_id, principal), principal)


def webhook_view(job: Job) -> dict:
    """The delivery outcome of the job's webhook: status, attempts made, last error, next attempt time."""
    view = {"status": job.webhook, "attempts": job.webhook_attempts}
    if job.webhook_error:
        view["error"] = job.webhook_error
    if job.webhook in (PENDING, RETRYING) and job.webhook_next_at is not None:
        view["next_attempt_at"] = _iso(job.webhook_next_at)
    return view


class ResultResource(JobLookup):
    def on_get(self, req, resp, job_id: str) -> None:
        job = self.load(job_id, principal_of(req))
        if job.status != st.SUCCESS:
            extra = {"id": job.id, "status": job.status}
            if job.error:
                extra["error"] = job.error
            raise ApiError(falcon.HTTP_409, "No result", f"job {job.id} is {job.status}, not success", **extra)
        resp.media = result_of(job)


class JobUpdateResource(JobLookup):
    def on_post(self, req, resp, job_id: str) -> None:
        principal = principal_of(req)
        job = self.load(job_id, principal)
        params = UPDATE_SCHEMA.validate(read_json(req, self.services.settings.max_body_bytes))
        new_status = params["status"]
        error = params["error"] or f"job marked as {new_status} by the client"
        changed = False
        if not job.terminal:
            changed = self.services.lifecycle.finish(job.id, new_status, error=error)
            if not changed:  # a worker finished it meanwhile
                job = self.load(job_id, principal)
        if not changed and job.status != new_status and not params["remove_data"]:
            raise ApiError(falcon.HTTP_409, "Job already finished",
                           f"job {job.id} is already {job.status}", id=job.id, status=job.status)
        if params["remove_data"]:
            self._remove(job)
        resp.media = {"message": f"Job {job.id} marked as {new_status}"}

    def _remove(self, job: Job) -> None:
        self.services.jobs.delete(job.id)
        self.services.index.remove(job.id, job.owner)
        if job.result_key:
            try:
                self.services.storage.remove(job.result_key)
            except Exception as exc:  # the record is gone; a stale object expires with the bucket policy
                log.warning("could not remove result object %s: %s", job.result_key, exc)
