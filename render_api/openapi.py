"""The OpenAPI 3.1 document, built from the registry: a new plugin appears without core changes."""

from __future__ import annotations

from render_core import __version__
from render_core.jobs import status as st
from render_core.sdk.registry import Registry

from .resources.index_params import LIST_PARAMETERS
from .resources.jobs import UPDATE_SCHEMA
from .resources.uploads import UPLOAD_SCHEMA
from .waits import MAX_WAIT

_ERROR = {"$ref": "#/components/schemas/Error"}
_STATUS = {"$ref": "#/components/schemas/JobStatus"}
_PREFER = {"name": "Prefer", "in": "header", "required": False, "schema": {"type": "string", "example": "wait=10"},
           "description": f"RFC 7240 `wait=N` (N <= {MAX_WAIT} s): answer once the job is terminal or after N s, "
                          "with its status body; `Preference-Applied: wait=N` says the wait was honoured "
                          "(not when the process already holds its maximum of waiting requests)."}
_PREFERENCE_APPLIED = {"Preference-Applied": {"schema": {"type": "string"}, "description": "`wait=N` when waited"}}
_IDEMPOTENCY = {"name": "Idempotency-Key", "in": "header", "required": False,
                "schema": {"type": "string", "minLength": 1, "maxLength": 255},
                "description": "Retry-safe submit: the same key and body within 24 h answer the first job again "
                               "(`Idempotent-Replayed: true`); the same key with another body is refused with 422. "
                               "Keys are scoped to the API key that sends them."}


def _json(schema: dict, description: str) -> dict:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def build_document(registry: Registry) -> dict:
    paths: dict = {}
    for task in sorted(registry.tasks.values(), key=lambda t: t.name):
        result = {"result_url": {"type": "string", "format": "uri"}} if task.output == "media" \
            else {"text": {"type": "string"}}
        paths[f"/{task.name}"] = {"post": {
            "summary": task.summary or f"Submit a {task.name} job",
            "operationId": f"submit_{task.name}",
            "description": f"Result on success: {', '.join(result)} (via GET /result/{{id}} and the webhook).",
            "parameters": [_IDEMPOTENCY, _PREFER],
            "requestBody": {"required": True, "content": {"application/json": {
                "schema": registry.request_schema(task).openapi()}}},
            "responses": {"200": {**_json({"oneOf": [{"$ref": "#/components/schemas/Queued"}, _STATUS]},
                                          "Job queued (`{id, status}`); with `Prefer: wait` the job's status body"),
                                  "headers": {**_PREFERENCE_APPLIED, "Idempotent-Replayed": {
                                      "schema": {"type": "string"}, "description": "`true` on a replayed key"}}},
                          "400": _json(_ERROR, "Invalid body; `errors` lists each field (also an upload URL "
                                               "whose object is missing or over MAX_UPLOAD_BYTES)"),
                          "401": _json(_ERROR, "Missing or wrong API key"),
                          "413": _json(_ERROR, "Body too large"),
                          "422": _json(_ERROR, "Idempotency-Key already used with another body")},
        }}
    job_id = [{"name": "job_id", "in": "path", "required": True, "schema": {"type": "string", "format": "uuid"}}]
    not_found = _json(_ERROR, "Unknown, removed or expired job, or another key's job")
    paths["/status/{job_id}"] = {"get": {"summary": "Job status", "parameters": [*job_id, _PREFER], "responses": {
        "200": {**_json(_STATUS, "Status, progress, timestamps and, on success, the result"),
                "headers": _PREFERENCE_APPLIED},
        "404": not_found}}}
    paths["/result/{job_id}"] = {"get": {"summary": "Job result", "parameters": job_id, "responses": {
        "200": _json({"type": "object", "properties": {"result_url": {"type": "string"}, "text": {"type": "string"}}},
                     "`result_url` for media tasks, `text` for text tasks"),
        "409": _json(_ERROR, "The job has not succeeded (status and error included)"),
        "404": not_found}}}
    paths["/job/{job_id}"] = {"post": {"summary": "Mark a job timed_out, cancelled or failed", "parameters": job_id,
                                       "requestBody": {"required": True, "content": {"application/json": {
                                           "schema": UPDATE_SCHEMA.openapi()}}},
                                       "responses": {"200": _json({"type": "object"}, "Updated"),
                                                     "404": not_found,
                                                     "409": _json(_ERROR, "Already finished")}}}
    paths["/jobs"] = {"get": {
        "summary": "List the caller's jobs, newest first (an admin key lists all)",
        "description": "Cursor pagination: pass `next` from the previous page until it is null. Status and type "
                       "filters are applied to the records read, at most 1,000 index entries per page, so a "
                       "filtered page may hold fewer than `limit` jobs while `next` is not null.",
        "parameters": LIST_PARAMETERS,
        "responses": {"200": _json({"type": "object", "properties": {
            "jobs": {"type": "array", "items": _STATUS}, "next": {"type": ["string", "null"]}}},
            "A page of jobs and the cursor of the next page"),
            "400": _json(_ERROR, "Invalid filter, limit or cursor; `errors` names the parameter")}}}
    paths["/uploads"] = {"post": {
        "summary": "A presigned place in object storage for an input file",
        "description": "PUT the file to `upload_url` with the given headers (or POST `upload_form`, whose policy "
                       "enforces the size limit), then pass `input_url` as any task's `*_url`. Uploads expire "
                       "after UPLOAD_EXPIRY_DAYS (a bucket lifecycle rule on `uploads/`).",
        "requestBody": {"required": True, "content": {"application/json": {"schema": UPLOAD_SCHEMA.openapi()}}},
        "responses": {"201": _json({"$ref": "#/components/schemas/Upload"}, "Where to send the file"),
                      "400": _json(_ERROR, "Invalid body"),
                      "413": _json(_ERROR, "size over MAX_UPLOAD_BYTES")}}}
    for probe in ("/healthz", "/readyz"):
        paths[probe] = {"get": {"summary": "Probe", "security": [], "responses": {"200": _json({"type": "object"}, "OK")}}}
    return {
        "openapi": "3.1.0",
        "info": {"title": "C3 Render", "version": __version__},
        "paths": paths,
        "security": [{"apiKey": []}, {"bearer": []}],
        "components": {
            "securitySchemes": {"apiKey": {"type": "apiKey", "in": "header", "name": "X-C3-RENDER-KEY"},
                                "bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": {
                "Queued": {"type": "object", "properties": {"id": {"type": "string"}, "status": {"type": "string"}}},
                "JobStatus": {"type": "object", "required": ["id", "status", "type"], "properties": {
                    "id": {"type": "string"}, "status": {"type": "string", "enum": list(st.ALL)},
                    "type": {"type": "string"}, "owner": {"type": "string"}, "error": {"type": "string"},
                    "progress": {"type": "number"}, "progress_message": {"type": "string"},
                    "created_at": {"type": "string", "format": "date-time"},
                    "started_at": {"type": "string", "format": "date-time"},
                    "finished_at": {"type": "string", "format": "date-time"},
                    "complete_by": {"type": "string", "format": "date-time"},
                    "metadata": {"type": "object"}, "webhook": {"type": "object"},
                    "result": {"type": "object", "description": "On success: `result_url` or `text`"}}},
                "Upload": {"type": "object", "properties": {
                    "upload_url": {"type": "string", "format": "uri"}, "method": {"type": "string"},
                    "headers": {"type": "object"}, "upload_form": {"type": "object", "properties": {
                        "url": {"type": "string"}, "fields": {"type": "object"}}},
                    "input_url": {"type": "string", "format": "uri"}, "max_bytes": {"type": "integer"},
                    "upload_expires_at": {"type": "string"}, "input_expires_at": {"type": "string"}}},
                "Error": {"type": "object", "properties": {
                    "title": {"type": "string"}, "description": {"type": "string"},
                    "errors": {"type": "array", "items": {"type": "object", "properties": {
                        "field": {"type": "string"}, "message": {"type": "string"}}}}}},
            },
        },
    }


class OpenApiResource:
    def __init__(self, registry: Registry):
        self.document = build_document(registry)

    def on_get(self, req, resp) -> None:
        resp.media = self.document
