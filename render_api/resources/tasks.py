"""``POST /<task>``: validate the body against the task's schema and queue a job.

``Idempotency-Key: <key>`` makes a retry safe: the same key with the same body within 24 h
answers the first job again (``Idempotent-Replayed: true``); with another body, 422. Keys are
scoped to the API key that sends them. ``Prefer: wait=N`` answers the job's status once it
is terminal or after N s. Input URLs of uploads (``POST /uploads``) must name an uploaded
object within ``MAX_UPLOAD_BYTES``.
"""

from __future__ import annotations

import falcon

from render_core.jobs.idempotency import VALID_KEY, Claim, IdempotencyConflict
from render_core.sdk.task import Task

from ..body import read_json
from ..errors import ApiError
from ..services import ApiServices
from ..waits import parse_prefer_wait
from .jobs import JobLookup, principal_of


class TaskResource(JobLookup):
    """One instance per registered task, mounted at ``/<task.name>``."""

    def __init__(self, services: ApiServices, task: Task):
        super().__init__(services)
        self.task = task
        self.schema = services.registry.request_schema(task)

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        principal = principal_of(req)
        idempotency_key = req.get_header("Idempotency-Key")
        if idempotency_key is not None and not VALID_KEY.match(idempotency_key):
            raise ApiError(falcon.HTTP_400, "Invalid request",
                           "the Idempotency-Key header must be 1-255 visible ASCII characters",
                           errors=[{"field": "Idempotency-Key", "message": "must be 1-255 visible ASCII characters"}])
        body = read_json(req, self.services.settings.max_body_bytes)
        params = self.schema.validate(body)
        self._check_uploads(params)
        if idempotency_key is None:
            job_id = self.services.lifecycle.submit(self.task, params, owner=principal.name)["id"]
        else:
            claim = Claim.of(principal.name, idempotency_key, self.task.name, body)
            try:
                job_id, replayed = self.services.lifecycle.submit_once(self.task, params, claim,
                                                                       owner=principal.name)
            except IdempotencyConflict as exc:
                raise ApiError(falcon.HTTP_422, "Idempotency key reused",
                               f"the Idempotency-Key {idempotency_key!r} was already used with a different "
                               f"request body (job {exc.job_id}); send a new key for a new job",
                               id=exc.job_id,
                               errors=[{"field": "Idempotency-Key", "message": "was used with another body"}]
                               ) from None
            if replayed:
                resp.set_header("Idempotent-Replayed", "true")
        resp.status = falcon.HTTP_200
        if parse_prefer_wait(req.get_header("Prefer")) is None:
            resp.media = {"id": job_id, "status": "queued"}
            return
        job = self.find(job_id, principal)
        if job is None:  # removed in between (remove_data); answer as without waiting
            resp.media = {"id": job_id, "status": "queued"}
            return
        self.respond_waiting(req, resp, job, principal)

    def _check_uploads(self, params: dict) -> None:
        """Refuse upload URLs whose object is missing or larger than MAX_UPLOAD_BYTES (400 naming the field)."""
        limit = self.services.settings.max_upload_bytes
        for field, value in params.items():
            name = self.services.upload_urls.object_of(value) if isinstance(value, str) else None
            if name is None:
                continue
            try:
                size = self.services.storage.object_size(name)
            except Exception as exc:  # S3 errors of any kind: the check cannot be made now
                raise ApiError(falcon.HTTP_503, "Service unavailable",
                               f"object storage cannot be reached to check {field}; retry later") from exc
            if size is None:
                message = "names an upload that was not uploaded yet or has expired"
            elif size > limit:
                message = f"names an upload of {size} bytes, over the limit of {limit} bytes (MAX_UPLOAD_BYTES)"
            else:
                continue
            raise ApiError(falcon.HTTP_400, "Invalid request", f"{field} {message}",
                           errors=[{"field": field, "message": message}])
