import pytest

from render_core.sdk.schema import (Boolean, Integer, Number, Problem, Schema, String, StringList, Url,
                                ValidationError)

SCHEMA = Schema({
    "name": String(required=True, min_length=1, max_length=5),
    "count": Integer(default=3, minimum=1, maximum=10),
    "ratio": Number(minimum=0.0, maximum=1.0),
    "flag": Boolean(default=False),
    "items": StringList(max_items=2),
    "link": Url(),
    "kind": String(default="a", choices=("a", "b")),
}, rules=(lambda p: [Problem("kind", "b needs items")] if p["kind"] == "b" and not p["items"] else [],))


def problems(body):
    with pytest.raises(ValidationError) as info:
        SCHEMA.validate(body)
    return {p.field: p.message for p in info.value.problems}


def test_defaults_are_applied_and_missing_optionals_are_none():
    assert SCHEMA.validate({"name": "x"}) == {"name": "x", "count": 3, "ratio": None, "flag": False,
                                              "items": None, "link": None, "kind": "a"}


def test_null_counts_as_absent():
    assert SCHEMA.validate({"name": "x", "count": None})["count"] == 3


def test_whole_number_floats_are_integers_but_bools_are_not():
    assert SCHEMA.validate({"name": "x", "count": 4.0})["count"] == 4
    assert "count" in problems({"name": "x", "count": True})
    assert "count" in problems({"name": "x", "count": 4.5})


@pytest.mark.parametrize("body,field,message", [
    ({}, "name", "is required"),
    ({"name": ""}, "name", "must not be empty"),
    ({"name": "toolong"}, "name", "at most 5"),
    ({"name": "x", "count": 0}, "count", "between 1 and 10"),
    ({"name": "x", "ratio": float("nan")}, "ratio", "must be a number"),
    ({"name": "x", "flag": "yes"}, "flag", "true or false"),
    ({"name": "x", "items": ["a", "b", "c"]}, "items", "1 to 2"),
    ({"name": "x", "items": [" "]}, "items[0]", "non-empty"),
    ({"name": "x", "link": "//no-scheme"}, "link", "http"),
    ({"name": "x", "link": "http://"}, "link", "http"),
    ({"name": "x", "kind": "c"}, "kind", "one of 'a', 'b'"),
    ({"name": "x", "other": 1}, "other", "not a known field"),
])
def test_each_rule_names_its_field(body, field, message):
    found = problems(body)
    assert message in found[field]


def test_cross_field_rules_run_only_on_valid_fields():
    assert problems({"name": "x", "kind": "b"}) == {"kind": "b needs items"}
    assert "kind" not in problems({"name": "", "kind": "b"})


def test_openapi_document_reflects_the_fields():
    doc = SCHEMA.openapi()
    assert doc["required"] == ["name"] and doc["additionalProperties"] is False
    assert doc["properties"]["count"] == {"type": "integer", "default": 3, "minimum": 1, "maximum": 10}
    assert doc["properties"]["kind"]["enum"] == ["a", "b"]
    assert doc["properties"]["link"]["format"] == "uri"
    assert doc["properties"]["items"]["items"]["type"] == "string"


def test_extend_keeps_the_task_fields_first():
    extended = Schema({"count": Integer(default=5)}).extend({"count": Integer(default=9), "extra": Boolean()})
    assert extended.validate({}) == {"count": 5, "extra": None}
