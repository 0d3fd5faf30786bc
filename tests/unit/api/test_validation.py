"""Every validation rule of the four built-in schemas, through the real app (no Redis needed)."""

import pytest

URL = "https://example.com/a"

VALID = {
    "csm": {"text": "Hello."},
    "whisper": {"audio_url": URL},
    "portrait": {"image_url": URL, "audio_url": URL},
    "analyze": {"image_url": URL},
}

# (task, body changes, field that must be named)
INVALID = [
    ("csm", {"text": None}, "text"),                                   # neither text nor monologue
    ("csm", {"monologue": ["a"]}, "text"),                             # both
    ("csm", {"text": 5}, "text"),
    ("csm", {"text": ""}, "text"),
    ("csm", {"text": None, "monologue": []}, "monologue"),
    ("csm", {"text": None, "monologue": "one"}, "monologue"),
    ("csm", {"text": None, "monologue": ["ok", 3]}, "monologue[1]"),
    ("csm", {"voice": "robot"}, "voice"),
    ("csm", {"voice": "clone"}, "reference_audio_url"),
    ("csm", {"voice": "clone", "reference_audio_url": URL}, "reference_text"),
    ("csm", {"voice": "clone", "reference_text": "hi"}, "reference_audio_url"),
    ("csm", {"reference_audio_url": "ftp://x/y"}, "reference_audio_url"),
    ("csm", {"temperature": 2.5}, "temperature"),
    ("csm", {"temperature": -0.1}, "temperature"),
    ("csm", {"temperature": "hot"}, "temperature"),
    ("csm", {"topk": 0}, "topk"),
    ("csm", {"topk": 1.5}, "topk"),
    ("csm", {"max_audio_length": 999}, "max_audio_length"),
    ("csm", {"max_audio_length": 30001}, "max_audio_length"),
    ("csm", {"pause_duration": -1}, "pause_duration"),
    ("csm", {"pause_duration": 1001}, "pause_duration"),
    ("whisper", {"audio_url": None}, "audio_url"),
    ("whisper", {"audio_url": "not a url"}, "audio_url"),
    ("whisper", {"model": "huge"}, "model"),
    ("whisper", {"task": "summarize"}, "task"),
    ("whisper", {"language": 7}, "language"),
    ("portrait", {"image_url": None}, "image_url"),
    ("portrait", {"audio_url": "javascript:alert(1)"}, "audio_url"),
    ("analyze", {"image_url": None}, "image_url"),
    ("analyze", {"image_url": "file:///etc/passwd"}, "image_url"),
]

COMMON_INVALID = [
    ({"max_time": 59}, "max_time"), ({"max_time": 7201}, "max_time"), ({"max_time": "60"}, "max_time"),
    ({"max_time": True}, "max_time"),
    ({"complete_in": 59}, "complete_in"), ({"complete_in": 86401}, "complete_in"),
    ({"notify_url": "mailto:a@b.c"}, "notify_url"), ({"unknown_field": 1}, "unknown_field"),
]


def _post(client, task, body):
    return client.simulate_post(f"/{task}", json=body)


def _fields(response):
    return [problem["field"] for problem in response.json["errors"]]


@pytest.mark.parametrize("task,changes,field", INVALID)
def test_invalid_task_field_is_named(offline_client, task, changes, field):
    body = {**VALID[task], **changes}
    body = {k: v for k, v in body.items() if v is not None}
    response = _post(offline_client, task, body)
    assert response.status_code == 400, response.text
    assert field in _fields(response)
    assert response.json["title"] == "Invalid request"


@pytest.mark.parametrize("task", sorted(VALID))
@pytest.mark.parametrize("changes,field", COMMON_INVALID)
def test_common_fields_are_checked_for_every_task(offline_client, task, changes, field):
    response = _post(offline_client, task, {**VALID[task], **changes})
    assert response.status_code == 400
    assert field in _fields(response)


def test_every_problem_is_listed_at_once(offline_client):
    response = _post(offline_client, "csm", {"text": "x", "voice": "robot", "topk": 0, "max_time": 1, "extra": 1})
    assert response.status_code == 400
    assert set(_fields(response)) == {"voice", "topk", "max_time", "extra"}


@pytest.mark.parametrize("body", [b"", b"{not json", b"\xff\xfe", b"[1, 2]", b'"text"', b"null"])
def test_non_object_bodies_are_400(offline_client, body):
    response = offline_client.simulate_post("/analyze", body=body)
    assert response.status_code == 400
    assert response.json["errors"][0]["field"] == "body"


def test_oversize_body_is_413(offline_client):
    response = offline_client.simulate_post("/analyze", body=b"{" + b" " * (1024 * 1024 + 10) + b"}")
    assert response.status_code == 413
    assert "limited" in response.json["description"]


def test_valid_body_with_redis_down_is_503_json(offline_client):
    response = _post(offline_client, "analyze", VALID["analyze"])
    assert response.status_code == 503
    assert response.json["title"] == "Service unavailable"
    assert "Traceback" not in response.text


def test_unknown_route_is_json_404(offline_client):
    response = offline_client.simulate_post("/nonexistent", json={})
    assert response.status_code == 404
    assert "title" in response.json
