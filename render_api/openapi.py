"""The OpenAPI 3.1 document, built from the registry: a new plugin appears without core changes.

It describes exactly what the API accepts and answers: request bodies come from the
tasks' schemas (``null`` in an optional field means absent), every status an operation
can answer is listed with its body, and error bodies have one schema (``render_api.errors``).
"""

from __future__ import annotations

from render_core import __version__
from render_core.config.settings import Settings
from render_core.jobs import status as st
from render_core.sdk.registry import Registry

from .resources.index_params import list_parameters
from .resources.jobs import UPDATE_SCHEMA
from .resources.uploads import UPLOAD_SCHEMA
from .waits import MAX_WAIT

JOB_ID_PATTERN = "^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"

_JOB_ID = {"type": "string", "pattern": JOB_ID_PATTERN, "description": "Job id (a lowercase UUID)."}
_TIMESTAMP = {"type": "string", "format": "date-time"}

#: Every error answer: ``render_api.errors.ApiError`` (and Falcon's own errors) serialized.
ERROR_SCHEMA = {
    "type": "object",
    "required": ["title"],
    "properties": {
        "title": {"type": "string"},
        "description": {"type": "string"},
        "errors": {"type": "array", "description": "Every problem found in the request, one per field.",
                   "items": {"type": "object", "required": ["field", "message"], "additionalProperties": False,
                             "properties": {"field": {"type": "string"}, "message": {"type": "string"}}}},
        "id": {**_JOB_ID, "description": "The job concerned (409 and 422 answers)."},
        "status": {"type": "string", "enum": list(st.ALL), "description": "The job's status (409 answers)."},
        "error": {"type": "string", "description": "The job's error (409 answers of failed jobs)."},
    },
    "additionalProperties": False,
}

QUEUED_SCHEMA = {
    "type": "object", "required": ["id", "status"], "additionalProperties": False,
    "properties": {"id": _JOB_ID, "status": {"const": st.QUEUED}},
}

STATUS_SCHEMA = {
    "type": "object", "required": ["id", "status", "type"], "additionalProperties": False,
    "properties": {
        "id": _JOB_ID,
        "status": {"type": "string", "enum": list(st.ALL)},
        "type": {"type": "string", "description": "The task name."},
        "error": {"type": "string", "description": "Why the job did not succeed."},
        "progress": {"type": "number", "description": "Fraction done, 0 to 1, when the task reports it."},
        "progress_message": {"type": "string"},
        "created_at": _TIMESTAMP, "started_at": _TIMESTAMP, "finished_at": _TIMESTAMP, "complete_by": _TIMESTAMP,
        "metadata": {"type": "object", "description": "What ran (node, engine, sizes), by task."},
        "webhook": {"type": "object", "required": ["status", "attempts"], "additionalProperties": False,
                    "description": "Delivery of the webhook to notify_url. Every attempt carries the same "
                                   "`webhook-id` header: the job id.",
                    "properties": {
                        "status": {"type": "string", "enum": ["pending", "retrying", "delivered", "failed"],
                                   "description": "pending: not attempted yet (or first attempt in flight); "
                                                  "retrying: an attempt failed and another is scheduled; "
                                                  "delivered: a 2xx answer; failed: every attempt of the "
                                                  "schedule failed."},
                        "attempts": {"type": "integer", "minimum": 0, "description": "Attempts made so far."},
                        "error": {"type": "string", "description": "Why the last attempt failed."},
                        "next_attempt_at": {**_TIMESTAMP, "description": "When the next attempt is due "
                                                                         "(pending or retrying)."}}},
        "owner": {"type": "string", "description": "Name of the API key that submitted the job."},
        "result": {"$ref": "#/components/schemas/Result"},
    },
}

RESULT_SCHEMA = {"oneOf": [
    {"type": "object", "required": ["result_url"], "additionalProperties": False,
     "properties": {"result_url": {"type": "string", "description": "Presigned URL of the media result."}}},
    {"type": "object", "required": ["text"], "additionalProperties": False,
     "properties": {"text": {"type": "string", "description": "The text result."}}},
]}

#: What each error status means, for every operation that can answer it.
_ERRORS = {
    "400": "Invalid request: the body or a path parameter; `errors` names each field",
    "401": "Missing or wrong API key",
    "403": "Only an admin key may list another key's jobs (`owner`)",
    "404": "Unknown job (never created, removed or expired)",
    "409": "Conflict with the job's state; `id`, `status` (and `error`) describe the job",
    "413": "Body larger than MAX_BODY_BYTES (uploads: `size` over MAX_UPLOAD_BYTES)",
    "422": "Idempotency-Key already used with another body; `id` is the first job",
    "503": "The job store (Redis) or object storage cannot be reached; retry later",
}

_PREFER = {"name": "Prefer", "in": "header", "required": False, "schema": {"type": "string"},
           "description": f"RFC 7240 `wait=N` (N <= {MAX_WAIT} s): answer once the job is terminal or after N s, "
                          "with its status body; `Preference-Applied: wait=N` says the wait was honoured "
                          "(not when the process already holds its maximum of waiting requests). Other "
                          "preferences are ignored."}
_PREFERENCE_APPLIED = {"Preference-Applied": {"schema": {"type": "string"}, "description": "`wait=N` when waited"}}
_IDEMPOTENCY = {"name": "Idempotency-Key", "in": "header", "required": False,
                "schema": {"type": "string", "pattern": "^[!-~]{1,255}$"},
                "description": "Retry-safe submit: the same key and body within 24 h answer the first job again "
                               "(`Idempotent-Replayed: true`); the same key with another body is refused with 422. "
                               "Keys are scoped to the API key that sends them."}

UPLOAD_ANSWER_SCHEMA = {
    "type": "object", "additionalProperties": False,
    "required": ["upload_url", "method", "headers", "upload_form", "input_url", "max_bytes", "upload_expires_at",
                 "input_expires_at"],
    "properties": {
        "upload_url": {"type": "string", "description": "Presigned PUT URL"},
        "method": {"const": "PUT"},
        "headers": {"type": "object", "additionalProperties": {"type": "string"}},
        "upload_form": {"type": "object", "required": ["url", "fields"], "additionalProperties": False,
                        "properties": {"url": {"type": "string"},
                                       "fields": {"type": "object", "additionalProperties": {"type": "string"}}}},
        "input_url": {"type": "string", "description": "Presigned GET URL any task accepts as a `*_url`"},
        "max_bytes": {"type": "integer"},
        "upload_expires_at": _TIMESTAMP, "input_expires_at": _TIMESTAMP,
    },
}

JOB_PAGE_SCHEMA = {
    "type": "object", "required": ["jobs", "next"], "additionalProperties": False,
    "properties": {"jobs": {"type": "array", "items": {"$ref": "#/components/schemas/Status"}},
                   "next": {"type": ["string", "null"], "description": "Cursor of the next page; null at the end"}},
}


#: Where the id of a queued job leads (generated clients and contract testers follow these).
_JOB_LINKS = {name: {"operationId": operation, "parameters": {"job_id": "$response.body#/id"}}
              for name, operation in (("status", "get_status"), ("result", "get_result"), ("update", "update_job"))}


def _json(schema: dict, description: str) -> dict:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _responses(ok: dict, *errors: str) -> dict:
    answers = {"200": ok}
    answers.update({code: _json({"$ref": "#/components/schemas/Error"}, _ERRORS[code]) for code in errors})
    return answers


def _body(schema: dict) -> dict:
    return {"required": True, "content": {"application/json": {"schema": schema}}}


def build_document(registry: Registry, max_upload_bytes: int = Settings.max_upload_bytes) -> dict:
    """The document for ``registry``'s tasks; ``max_upload_bytes`` (MAX_UPLOAD_BYTES) bounds an upload's size."""
    paths: dict = {}
    for task in sorted(registry.tasks.values(), key=lambda t: t.name):
        result = "result_url" if task.output == "media" else "text"
        paths[f"/{task.name}"] = {"post": {
            "summary": task.summary or f"Submit a {task.name} job",
            "operationId": f"submit_{task.name}",
            "description": f"Queue a job. Result on success: `{result}` (GET /result/{{id}} and the webhook).",
            "parameters": [_IDEMPOTENCY, _PREFER],
            "requestBody": _body(registry.request_schema(task).openapi()),
            "responses": _responses({**_json({"oneOf": [{"$ref": "#/components/schemas/Queued"},
                                                        {"$ref": "#/components/schemas/Status"}]},
                                             "Job queued (`{id, status}`); with `Prefer: wait` the job's status"),
                                     "headers": {**_PREFERENCE_APPLIED, "Idempotent-Replayed": {
                                         "schema": {"const": "true"}, "description": "On a replayed key"}},
                                     "links": _JOB_LINKS}, "400", "401", "413", "422", "503"),
        }}
    job_id = [{"name": "job_id", "in": "path", "required": True, "schema": _JOB_ID}]
    paths["/status/{job_id}"] = {"get": {
        "summary": "Job status", "operationId": "get_status", "parameters": [*job_id, _PREFER],
        "responses": _responses({**_json({"$ref": "#/components/schemas/Status"},
                                         "Status, progress, timestamps and, on success, the result"),
                                 "headers": _PREFERENCE_APPLIED}, "400", "401", "404", "503")}}
    paths["/result/{job_id}"] = {"get": {
        "summary": "Job result", "operationId": "get_result", "parameters": job_id,
        "responses": _responses(_json({"$ref": "#/components/schemas/Result"},
                                      "`result_url` for media tasks, `text` for text tasks"),
                                "400", "401", "404", "409", "503")}}
    paths["/job/{job_id}"] = {"post": {
        "summary": "Mark a job timed_out, cancelled or failed", "operationId": "update_job", "parameters": job_id,
        "requestBody": _body(UPDATE_SCHEMA.openapi()),
        "responses": _responses(_json({"type": "object", "required": ["message"], "additionalProperties": False,
                                       "properties": {"message": {"type": "string"}}}, "Updated"),
                                "400", "401", "404", "409", "413", "503")}}
    paths["/jobs"] = {"get": {
        "summary": "List the caller's jobs, newest first (an admin key lists all)", "operationId": "list_jobs",
        "description": "Cursor pagination: pass `next` from the previous page until it is null. Status and type "
                       "filters are applied to the records read, at most 1,000 index entries per page, so a "
                       "filtered page may hold fewer than `limit` jobs while `next` is not null.",
        "parameters": list_parameters(registry.tasks),
        "responses": _responses(_json(JOB_PAGE_SCHEMA, "A page of jobs and the cursor of the next page"),
                                "400", "401", "403", "503")}}
    paths["/uploads"] = {"post": {
        "summary": "A presigned place in object storage for an input file", "operationId": "create_upload",
        "description": "PUT the file to `upload_url` with the given headers (or POST `upload_form`, whose policy "
                       "enforces the size limit), then pass `input_url` as any task's `*_url`. Uploads expire "
                       "after UPLOAD_EXPIRY_DAYS (a bucket lifecycle rule on `uploads/`).",
        "requestBody": _body(_upload_schema(max_upload_bytes)),
        "responses": {"201": _json(UPLOAD_ANSWER_SCHEMA, "Where to send the file"),
                      **{code: answer for code, answer in _responses({}, "400", "401", "413", "503").items()
                         if code != "200"}}}}
    paths["/healthz"] = {"get": {"summary": "Liveness: the process answers", "operationId": "healthz",
                                 "security": [], "responses": _responses(_json(_probe("ok"), "Alive"))}}
    paths["/readyz"] = {"get": {"summary": "Readiness: Redis answers", "operationId": "readyz", "security": [],
                                "responses": _responses(_json(_probe("ready"), "Ready"), "503")}}
    paths["/metrics"] = {"get": {"summary": "Prometheus metrics of the API", "operationId": "metrics",
                                 "security": [], "responses": {"200": {
                                     "description": "Prometheus text exposition format",
                                     "content": {"text/plain": {"schema": {"type": "string"}}}}}}}
    paths["/openapi.json"] = {"get": {"summary": "This document", "operationId": "openapi", "security": [],
                                      "responses": {"200": _json({"type": "object"}, "OpenAPI 3.1 document")}}}
    return {
        "openapi": "3.1.0",
        "info": {"title": "C3 Render", "version": __version__, "description": (
            "Render jobs (speech, transcription, portrait video, image analysis) queued over HTTP. "
            "In request bodies `null` in an optional field means the field is absent (its default applies); "
            "unknown fields are refused. Every error answer is JSON with `title`, `description` and, for "
            "invalid requests, `errors` naming each field.")},
        "paths": paths,
        "security": [{"apiKey": []}, {"bearer": []}],
        "components": {
            "securitySchemes": {"apiKey": {"type": "apiKey", "in": "header", "name": "X-C3-RENDER-KEY"},
                                "bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": {"Queued": QUEUED_SCHEMA, "Status": STATUS_SCHEMA, "Result": RESULT_SCHEMA,
                        "Error": ERROR_SCHEMA},
        },
    }


def _upload_schema(max_bytes: int) -> dict:
    """UPLOAD_SCHEMA with the size limit, which the resource checks against the setting (413 above it)."""
    doc = UPLOAD_SCHEMA.openapi()
    doc["properties"]["size"]["maximum"] = max_bytes
    return doc


def _probe(value: str) -> dict:
    return {"type": "object", "required": ["status"], "additionalProperties": False,
            "properties": {"status": {"const": value}}}


class OpenApiResource:
    def __init__(self, registry: Registry, settings: Settings):
        self.document = build_document(registry, settings.max_upload_bytes)

    def on_get(self, req, resp) -> None:
        resp.media = self.document
