"""The query parameters of ``GET /jobs``, described once for the OpenAPI document."""

from render_core.jobs import status as st
from render_core.jobs.index import MAX_LIMIT


def _query(name: str, schema: dict, description: str) -> dict:
    return {"name": name, "in": "query", "required": False, "schema": schema, "description": description}


LIST_PARAMETERS = [
    _query("limit", {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT, "default": 20}, "Jobs per page"),
    _query("next", {"type": "string"}, "The `next` cursor of the previous page"),
    _query("status", {"type": "string"}, f"Comma-separated statuses ({', '.join(st.ALL)})"),
    _query("type", {"type": "string"}, "Comma-separated task names"),
    _query("created_after", {"type": "string"}, "ISO 8601 time or unix seconds (exclusive)"),
    _query("created_before", {"type": "string"}, "ISO 8601 time or unix seconds (exclusive)"),
    _query("owner", {"type": "string"}, "Admin keys only: list one key name's jobs"),
]
