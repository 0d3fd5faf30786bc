"""The OpenAPI 3.1 document, built from the registry: a new plugin appears without core changes."""

from __future__ import annotations

from render_core import __version__
from render_core.sdk.registry import Registry

from .resources.jobs import UPDATE_SCHEMA

_ERROR = {"$ref": "#/components/schemas/Error"}


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
            "requestBody": {"required": True, "content": {"application/json": {
                "schema": registry.request_schema(task).openapi()}}},
            "responses": {"200": _json({"$ref": "#/components/schemas/Queued"}, "Job queued"),
                          "400": _json(_ERROR, "Invalid body; `errors` lists each field"),
                          "401": _json(_ERROR, "Missing or wrong API key"),
                          "413": _json(_ERROR, "Body too large")},
        }}
    job_id = [{"name": "job_id", "in": "path", "required": True, "schema": {"type": "string", "format": "uuid"}}]
    paths["/status/{job_id}"] = {"get": {"summary": "Job status", "parameters": job_id, "responses": {
        "200": _json({"type": "object"}, "Status, progress and timestamps"),
        "404": _json(_ERROR, "Unknown job")}}}
    paths["/result/{job_id}"] = {"get": {"summary": "Job result", "parameters": job_id, "responses": {
        "200": _json({"type": "object", "properties": {"result_url": {"type": "string"}, "text": {"type": "string"}}},
                     "`result_url` for media tasks, `text` for text tasks"),
        "409": _json(_ERROR, "The job has not succeeded (status and error included)"),
        "404": _json(_ERROR, "Unknown job")}}}
    paths["/job/{job_id}"] = {"post": {"summary": "Mark a job timed_out, cancelled or failed", "parameters": job_id,
                                       "requestBody": {"required": True, "content": {"application/json": {
                                           "schema": UPDATE_SCHEMA.openapi()}}},
                                       "responses": {"200": _json({"type": "object"}, "Updated"),
                                                     "409": _json(_ERROR, "Already finished")}}}
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
