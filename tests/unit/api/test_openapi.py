"""The OpenAPI document describes the client-facing additions: list, uploads, waits, idempotency."""

from render_api.openapi import build_document


def test_the_document_covers_jobs_uploads_waits_and_idempotency(registry):
    doc = build_document(registry)
    listing = doc["paths"]["/jobs"]["get"]
    assert {p["name"] for p in listing["parameters"]} >= {"limit", "next", "status", "type", "created_after",
                                                          "created_before"}
    assert "201" in doc["paths"]["/uploads"]["post"]["responses"]
    for task in registry.tasks:
        post = doc["paths"][f"/{task}"]["post"]
        assert {p["name"] for p in post["parameters"]} == {"Idempotency-Key", "Prefer"}
        assert "422" in post["responses"]
    status = doc["paths"]["/status/{job_id}"]["get"]
    assert "Prefer" in {p["name"] for p in status["parameters"]}
    assert "Preference-Applied" in status["responses"]["200"]["headers"]
    refs = {ref.split("/")[-1] for ref in _refs(doc)}
    assert refs <= set(doc["components"]["schemas"])  # every $ref resolves


def _refs(node):
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref":
                yield value
            else:
                yield from _refs(value)
    elif isinstance(node, list):
        for item in node:
            yield from _refs(item)
