from urllib.parse import urlsplit

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from render_core.sdk.schema import (URL_PATTERN, Boolean, ExactlyOne, Integer, Number, Problem, RequiredWhen, Schema,
                                    String, StringList, Url, ValidationError)

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
    assert doc["properties"]["name"]["type"] == "string"  # required: null is refused
    assert doc["properties"]["count"] == {"type": ["integer", "null"], "default": 3, "minimum": 1, "maximum": 10}
    assert doc["properties"]["kind"]["enum"] == ["a", "b", None]
    assert doc["properties"]["link"]["pattern"] == URL_PATTERN
    assert doc["properties"]["items"]["items"] == {"type": "string", "pattern": r"\S", "maxLength": 10_000}
    assert "allOf" not in doc  # a plain function rule is not documented


def test_a_non_nullable_optional_field_refuses_null_and_says_so():
    schema = Schema({"n": Integer(nullable=False)})
    assert schema.openapi()["properties"]["n"]["type"] == "integer"
    with pytest.raises(ValidationError):
        schema.validate({"n": None})


@pytest.mark.parametrize("url", [
    "http://a", "HTTPS://example.com:8443/x?y=1#z", "https://user:pw@host/p", "http://[2001:db8::1]:80/",
    "https://h/with space", "https://b\u00fccher.example/\u00e9", "http://h:/"])
def test_urls_accepted(url):
    assert Schema({"u": Url()}).validate({"u": url}) == {"u": url}


@pytest.mark.parametrize("url", [
    "ftp://a", "//a", "http://", "http:///x", "http://a b", " http://a", "http://a\n", "http://a/\x00",
    "http://a:123456", "http://@/", "javascript:alert(1)", "http://a@b@c"])
def test_urls_refused(url):
    with pytest.raises(ValidationError):
        Schema({"u": Url()}).validate({"u": url})


@pytest.mark.parametrize("value", [10 ** 400, -(10 ** 400)])
def test_huge_integers_are_a_problem_not_a_crash(value):
    with pytest.raises(ValidationError):
        Schema({"x": Number()}).validate({"x": value})
    with pytest.raises(ValidationError):
        SCHEMA.validate({"name": "x", "ratio": value})


EITHER = Schema({"a": String(), "b": StringList(), "mode": String(choices=("x", "y")), "c": String(), "d": Url()},
                rules=(ExactlyOne("a", "b"), RequiredWhen("mode", "y", "c", "d")))


@pytest.mark.parametrize("body,field", [
    ({}, "a"), ({"a": "1", "b": ["2"]}, "a"), ({"a": None, "b": None}, "a"),
    ({"a": "1", "mode": "y"}, "c"), ({"a": "1", "mode": "y", "c": "", "d": "http://h"}, "c"),
    ({"a": "1", "mode": "y", "c": "t"}, "d"),
])
def test_declarative_rules_name_the_field(body, field):
    with pytest.raises(ValidationError) as info:
        EITHER.validate(body)
    assert field in [p.field for p in info.value.problems]


@pytest.mark.parametrize("body", [
    {"a": "1"}, {"b": ["2"], "a": None}, {"a": "1", "mode": "x"}, {"a": "1", "mode": None},
    {"a": "1", "mode": "y", "c": "t", "d": "http://h"},
])
def test_declarative_rules_accept(body):
    EITHER.validate(body)


def test_declarative_rules_are_documented():
    assert EITHER.openapi()["allOf"] == [
        {"oneOf": [{"required": ["a"], "properties": {"a": {"not": {"type": "null"}}}},
                   {"required": ["b"], "properties": {"b": {"not": {"type": "null"}}}}]},
        {"if": {"required": ["mode"], "properties": {"mode": {"const": "y"}}},
         "then": {"required": ["c", "d"], "properties": {"c": {"not": {"type": "null"}, "minLength": 1},
                                                         "d": {"not": {"type": "null"}, "minLength": 1}}}},
    ]


def test_extend_keeps_the_task_fields_first():
    extended = Schema({"count": Integer(default=5)}).extend({"count": Integer(default=9), "extra": Boolean()})
    assert extended.validate({}) == {"count": 5, "extra": None}


@settings(max_examples=500, derandomize=True, database=None)
@given(st.from_regex(URL_PATTERN, fullmatch=True))
def test_every_url_the_pattern_admits_splits_with_a_host_and_port(url):
    Schema({"u": Url()}).validate({"u": url})
    parts = urlsplit(url)  # raises on a bad [IPv6] host
    assert parts.hostname
    parts.port  # raises on a port out of range


def test_string_patterns_match_in_full():
    schema = Schema({"t": String(pattern="^[a-z]+/[a-z]+$")})
    assert schema.validate({"t": "image/png"}) == {"t": "image/png"}
    assert schema.openapi()["properties"]["t"]["pattern"] == "^[a-z]+/[a-z]+$"
    for bad in ("image/png\n", "image", "Image/png"):
        with pytest.raises(ValidationError):
            schema.validate({"t": bad})
