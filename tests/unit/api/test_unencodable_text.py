"""Text that cannot be encoded as UTF-8 (a lone surrogate, valid in JSON) is a 400 naming the field."""

import json

import pytest

from render_core.sdk.schema import Schema, String, StringList, ValidationError, unencodable_text


def post(client, task: str, raw_json: str):
    """POST a body given as JSON text (escapes such as \\ud800 pass through as JSON escapes)."""
    return client.simulate_post(f"/{task}", body=raw_json.encode("ascii"),
                                headers={"Content-Type": "application/json"})


@pytest.mark.parametrize("task, raw, field", [
    ("csm", r'{"text": "hi \ud800 there"}', "text"),
    ("csm", r'{"monologue": ["fine", "bad \udfff"]}', "monologue[1]"),
    ("csm", r'{"text": "hi", "reference_text": "\ud83d"}', "reference_text"),
    ("echo", r'{"message": "ok", "notify_url": "https://example.com/\ud800"}', "notify_url"),
])
def test_a_lone_surrogate_in_a_value_is_a_400_naming_the_field(offline_client, task, raw, field):
    response = post(offline_client, task, raw)
    assert response.status_code == 400, response.text
    body = json.loads(response.content)  # the answer itself is valid UTF-8 JSON
    assert [problem["field"] for problem in body["errors"]] == [field]
    assert "lone surrogate" in body["errors"][0]["message"]


def test_a_lone_surrogate_in_a_key_is_a_400_naming_the_key_as_sent(offline_client):
    response = post(offline_client, "csm", r'{"text": "hi", "te\ud800xt": "x"}')
    assert response.status_code == 400, response.text
    fields = [problem["field"] for problem in json.loads(response.content)["errors"]]
    assert fields == ["te\ud800xt"]


def test_valid_astral_text_passes():
    """A proper surrogate pair (an emoji) is valid text."""
    assert unencodable_text(json.loads(r'{"text": "hi \ud83d\ude00", "list": ["\u00e9"]}')) == []


def test_nested_values_and_keys_are_named_by_their_path():
    body = json.loads(r'{"a": {"b": ["ok", {"c\udc00": "x", "d": "\ud800"}]}}')
    assert [p.field for p in unencodable_text(body)] == ["a.b[1].c\udc00", "a.b[1].d"]


def test_schema_validation_refuses_before_other_checks():
    schema = Schema({"text": String(required=True), "items": StringList()})
    with pytest.raises(ValidationError) as raised:
        schema.validate(json.loads(r'{"text": "\ud800", "unknown": 1}'))
    assert [p.field for p in raised.value.problems] == ["text"]
