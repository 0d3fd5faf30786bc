"""Malformed bodies are refused with a 400 JSON error, never a 500 (through the real app)."""

import json

import pytest

from render_api.body import MAX_DEPTH


def _post(client, raw: bytes, **headers):
    return client.simulate_post("/csm", body=raw, headers={"Content-Type": "application/json", **headers})


def _assert_json_400(response, field):
    assert response.status_code == 400, response.text
    assert response.headers["content-type"] == "application/json"
    body = json.loads(response.content)
    assert body["title"] == "Invalid request"
    assert field in [problem["field"] for problem in body["errors"]]
    return body


def test_very_deep_json_is_a_400(offline_client):
    _assert_json_400(_post(offline_client, b"[" * 100_000 + b"]" * 100_000), "body")


def test_nesting_beyond_the_limit_is_a_400(offline_client):
    raw = b'{"text": ' + b"[" * MAX_DEPTH + b"]" * MAX_DEPTH + b"}"  # MAX_DEPTH + 1 levels
    body = _assert_json_400(_post(offline_client, raw), "body")
    assert str(MAX_DEPTH) in body["description"]


def test_nesting_at_the_limit_reaches_validation(offline_client):
    raw = b'{"text": ' + b"[" * (MAX_DEPTH - 1) + b"]" * (MAX_DEPTH - 1) + b"}"  # MAX_DEPTH levels
    _assert_json_400(_post(offline_client, raw), "text")


def test_lone_surrogate_in_a_field_name_is_a_400_json(offline_client):
    body = _assert_json_400(_post(offline_client, b'{"text": "hi", "\\ud800": 1}'), "\ud800")
    assert "\ud800" in body["description"]


def test_error_body_is_ascii_json(offline_client):
    response = _post(offline_client, '{"text": "hi", "caf\u00e9 \U0001f600": 1}'.encode())
    response.content.decode("ascii")
    _assert_json_400(response, "caf\u00e9 \U0001f600")


@pytest.mark.parametrize("accept", ["text/html", "application/xml", "image/png"])
def test_errors_are_json_whatever_the_client_accepts(offline_client, accept):
    _assert_json_400(_post(offline_client, b"{", Accept=accept), "body")


@pytest.mark.parametrize("constant", [b"NaN", b"Infinity", b"-Infinity"])
def test_non_json_number_constants_are_refused(offline_client, constant):
    _assert_json_400(_post(offline_client, b'{"text": "hi", "temperature": ' + constant + b"}"), "body")
