"""The OpenAPI document: the client-facing additions (list, uploads, waits, idempotency) are described,
and the request schemas agree with the validation the API runs (through the real app, no Redis)."""

import jsonschema
import pytest

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


URL = "https://example.com/a"
COMMON = [{}, {"notify_url": None}, {"notify_url": URL}, {"notify_url": "ftp://x"}, {"max_time": None},
          {"max_time": 60}, {"max_time": 59}, {"max_time": 60.0}, {"max_time": True}, {"complete_in": "60"},
          {"unknown": 1}]
BODIES = {
    "csm": [{"text": "Hi."}, {"monologue": ["a", "b"]}, {"text": "Hi.", "monologue": ["a"]}, {},
            {"text": None}, {"text": None, "monologue": ["a"]}, {"text": "Hi.", "monologue": None},
            {"text": None, "monologue": None}, {"text": ""}, {"text": " "}, {"monologue": []}, {"monologue": [" "]},
            {"monologue": ["a", ""]}, {"monologue": "a"}, {"text": "Hi.", "voice": "clone"},
            {"text": "Hi.", "voice": "clone", "reference_audio_url": URL},
            {"text": "Hi.", "voice": "clone", "reference_audio_url": URL, "reference_text": ""},
            {"text": "Hi.", "voice": "clone", "reference_audio_url": URL, "reference_text": "ref"},
            {"text": "Hi.", "voice": None}, {"text": "Hi.", "voice": "robot"}, {"text": "Hi.", "temperature": 2},
            {"text": "Hi.", "temperature": 2.01}, {"text": "Hi.", "temperature": 10 ** 30},
            {"text": "Hi.", "topk": 1.0}, {"text": "Hi.", "topk": 1.5}, {"text": "Hi.", "reference_text": None}],
    "whisper": [{"audio_url": URL}, {"audio_url": None}, {}, {"audio_url": URL, "language": None},
                {"audio_url": URL, "language": ""}, {"audio_url": URL, "model": None},
                {"audio_url": URL, "model": "huge"}, {"audio_url": "HTTP://[::1]:8080/a b"},
                {"audio_url": "http://"}, {"audio_url": "https://u@h"}],
    "portrait": [{"image_url": URL, "audio_url": URL}, {"image_url": URL}, {"image_url": URL, "audio_url": None}],
    "analyze": [{"image_url": URL}, {"image_url": URL, "prompt": None}, {"image_url": URL, "prompt": "x" * 2001}],
}
CASES = [(task, body) for task, bodies in BODIES.items() for body in bodies] + \
        [(task, {**bodies[0], **common}) for task, bodies in BODIES.items() for common in COMMON]


@pytest.fixture(scope="module")
def document(registry):
    return build_document(registry)


@pytest.mark.parametrize("task,body", CASES)
def test_schema_and_validation_agree(offline_client, document, task, body):
    schema = document["paths"][f"/{task}"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    documented = jsonschema.Draft202012Validator(schema).is_valid(body)
    response = offline_client.simulate_post(f"/{task}", json=body)
    assert response.status_code in (400, 503), response.text  # 503: valid, but there is no Redis here
    assert (response.status_code != 400) == documented, response.text


def test_every_operation_documents_its_errors_with_the_error_schema(document):
    error = {"$ref": "#/components/schemas/Error"}
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            answers = operation["responses"]
            if operation.get("security") != []:
                assert {"400", "401", "503"} <= set(answers), (method, path)
            if "{job_id}" in path:
                assert "404" in answers, path
            if "requestBody" in operation:
                assert "413" in answers, path
            for code, answer in answers.items():
                if code >= "400":
                    assert answer["content"]["application/json"]["schema"] == error, (method, path, code)
    assert "409" in document["paths"]["/result/{job_id}"]["get"]["responses"]
    assert "409" in document["paths"]["/job/{job_id}"]["post"]["responses"]


def test_csm_documents_text_xor_monologue(document):
    schema = document["paths"]["/csm"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert {"required": ["text"], "properties": {"text": {"not": {"type": "null"}}}} in schema["allOf"][0]["oneOf"]


def test_patterns_use_only_syntax_json_schema_and_python_share(document):
    def patterns(node):
        if isinstance(node, dict):
            for key, value in node.items():
                if key == "pattern":
                    yield value
                else:
                    yield from patterns(value)
        elif isinstance(node, list):
            for item in node:
                yield from patterns(item)

    found = list(patterns(document))
    assert len(found) > 10
    for pattern in found:
        assert not any(python_only in pattern for python_only in ("(?P", "\\Z", "\\A", "(?i", "(?s")), pattern
