"""Declarative parameter schemas: one definition serves validation and OpenAPI.

A task declares its request body as a :class:`Schema` of named fields plus
optional cross-field rules. ``Schema.validate(body)`` returns the parameters
with defaults applied or raises :class:`ValidationError` listing every problem.
``Schema.openapi()`` is the JSON Schema of exactly the bodies ``validate`` accepts:

- ``null`` in an optional field means "absent" (the default applies), so optional
  fields are documented as ``[<type>, "null"]``; a required field refuses ``null``.
- The declarative rules :class:`ExactlyOne` and :class:`RequiredWhen` are documented
  (``oneOf``, ``if``/``then``); a plain function rule validates but is not documented,
  so a task that wants an exact document uses only the declarative rules.
- Patterns follow JSON Schema (ECMA-262) and are matched in full, as ``^...$`` there means.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, replace
from typing import Any, Callable, Iterable, Mapping, NamedTuple

MISSING: Any = object()


class Problem(NamedTuple):
    """One validation problem: the field it concerns and a readable message."""

    field: str
    message: str


class ValidationError(Exception):
    """The body broke one or more schema rules; ``problems`` lists them all."""

    def __init__(self, problems: list[Problem]):
        super().__init__("; ".join(f"{p.field}: {p.message}" for p in problems))
        self.problems = problems


@dataclass(frozen=True)
class Field:
    """Base of all fields. ``default`` MISSING means no default."""

    description: str = ""
    required: bool = False
    default: Any = MISSING
    nullable: bool = True

    json_type = "string"

    def check(self, name: str, value: Any) -> tuple[Any, list[Problem]]:
        """Return the cleaned value and the problems found (empty when valid)."""
        raise NotImplementedError

    def openapi(self) -> dict:
        doc: dict = {"type": self.json_type}
        if self.description:
            doc["description"] = self.description
        if self.default is not MISSING and self.default is not None:
            doc["default"] = self.default
        return doc


@dataclass(frozen=True)
class String(Field):
    """A string; ``pattern`` (JSON Schema / ECMA-262 syntax that Python reads alike) must match it in full."""

    choices: tuple[str, ...] | None = None
    min_length: int = 0
    max_length: int = 10_000
    pattern: str | None = None

    def check(self, name, value):
        if not isinstance(value, str):
            return value, [Problem(name, "must be a string")]
        if self.choices is not None and value not in self.choices:
            allowed = ", ".join(repr(c) for c in self.choices)
            return value, [Problem(name, f"must be one of {allowed}")]
        if len(value) < self.min_length:
            what = "must not be empty" if self.min_length == 1 else f"must have at least {self.min_length} characters"
            return value, [Problem(name, what)]
        if len(value) > self.max_length:
            return value, [Problem(name, f"must have at most {self.max_length} characters")]
        if self.pattern is not None and not re.fullmatch(self.pattern, value):
            return value, [Problem(name, "does not have the expected form")]
        return value, []

    def openapi(self):
        doc = super().openapi()
        if self.choices is not None:
            doc["enum"] = list(self.choices)
        if self.min_length:
            doc["minLength"] = self.min_length
        doc["maxLength"] = self.max_length
        if self.pattern is not None:
            doc["pattern"] = self.pattern
        return doc


_H16 = "[0-9A-Fa-f]{1,4}"
#: An IPv6 address in brackets (no embedded IPv4, no zone): exactly what ``ipaddress`` reads.
_IPV6 = "|".join([f"(?:{_H16}:){{7}}{_H16}", f"(?:{_H16}:){{1,7}}:", f"(?:{_H16}:){{1,6}}:{_H16}",
                  *(f"(?:{_H16}:){{1,{n}}}(?::{_H16}){{1,{7 - n}}}" for n in range(5, 0, -1)),
                  f":(?:(?::{_H16}){{1,7}}|:)"])
#: 0 to 65535, leading zeros allowed, or empty (the scheme's default).
_PORT = "(?:[0-9]{0,4}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5])"
#: An absolute http(s) URL: scheme, optional userinfo, a host (a name, IPv4 or [IPv6]), optional port,
#: then a path, query or fragment without control characters. ECMA-262 and Python read it alike.
URL_PATTERN = (r"^[Hh][Tt][Tt][Pp][Ss]?://(?:[^\x00-\x20\x7f/?#@\[\]]*@)?"
               rf"(?:\[(?:{_IPV6})\]|[^\x00-\x20\x7f/?#@:\[\]]+)(?::{_PORT})?(?:[/?#][^\x00-\x1f\x7f]*)?$")
_URL = re.compile(URL_PATTERN)


@dataclass(frozen=True)
class Url(String):
    """An absolute http(s) URL (``URL_PATTERN``). Whether its host may be reached is decided at fetch time."""

    max_length: int = 2048

    def check(self, name, value):
        value, problems = super().check(name, value)
        if problems:
            return value, problems
        if not _URL.fullmatch(value):
            return value, [Problem(name, "must be an absolute http:// or https:// URL")]
        return value, []

    def openapi(self):
        return {**super().openapi(), "pattern": URL_PATTERN}


@dataclass(frozen=True)
class Integer(Field):
    minimum: int | None = None
    maximum: int | None = None

    json_type = "integer"

    def check(self, name, value):
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int):
            return value, [Problem(name, "must be an integer")]
        return value, _range_problems(name, value, self.minimum, self.maximum)

    def openapi(self):
        return _range_doc(super().openapi(), self.minimum, self.maximum)


@dataclass(frozen=True)
class Number(Field):
    minimum: float | None = None
    maximum: float | None = None

    json_type = "number"

    def check(self, name, value):
        if isinstance(value, bool) or not isinstance(value, (int, float)) \
                or isinstance(value, float) and not math.isfinite(value):
            return value, [Problem(name, "must be a number")]
        problems = _range_problems(name, value, self.minimum, self.maximum)
        if problems:
            return value, problems
        try:
            return float(value), []
        except OverflowError:  # an integer beyond the float range (no bounds declared)
            return value, [Problem(name, "is too large")]

    def openapi(self):
        return _range_doc(super().openapi(), self.minimum, self.maximum)


@dataclass(frozen=True)
class Boolean(Field):
    json_type = "boolean"

    def check(self, name, value):
        if not isinstance(value, bool):
            return value, [Problem(name, "must be true or false")]
        return value, []


#: At least one character that is not white space (an item of only spaces is refused).
NOT_BLANK_PATTERN = r"\S"
_NOT_BLANK = re.compile(NOT_BLANK_PATTERN)


@dataclass(frozen=True)
class StringList(Field):
    min_items: int = 1
    max_items: int = 500
    item_max_length: int = 10_000

    json_type = "array"

    def check(self, name, value):
        if not isinstance(value, list):
            return value, [Problem(name, "must be an array of strings")]
        if not self.min_items <= len(value) <= self.max_items:
            return value, [Problem(name, f"must hold {self.min_items} to {self.max_items} items")]
        problems = []
        for index, item in enumerate(value):
            if not isinstance(item, str) or not _NOT_BLANK.search(item):
                problems.append(Problem(f"{name}[{index}]", "must be a non-empty string"))
            elif len(item) > self.item_max_length:
                problems.append(Problem(f"{name}[{index}]", f"must have at most {self.item_max_length} characters"))
        return value, problems

    def openapi(self):
        doc = super().openapi()
        doc.update(items={"type": "string", "pattern": NOT_BLANK_PATTERN, "maxLength": self.item_max_length},
                   minItems=self.min_items, maxItems=self.max_items)
        return doc


Rule = Callable[[dict], Iterable[Problem]]


def _given(params: dict, name: str) -> bool:
    return params.get(name) is not None


@dataclass(frozen=True)
class ExactlyOne:
    """Rule: exactly one of ``names`` is given (present and not null); problems name the first field.

    Documented as ``oneOf``: one branch per field, each requiring that field.
    """

    names: tuple[str, ...]
    message: str = ""

    def __init__(self, *names: str, message: str = ""):
        object.__setattr__(self, "names", names)
        object.__setattr__(self, "message", message)

    def __call__(self, params: dict) -> Iterable[Problem]:
        if sum(_given(params, name) for name in self.names) != 1:
            yield Problem(self.names[0], self.message or f"provide exactly one of {', '.join(self.names)}")

    def openapi(self) -> dict:
        return {"oneOf": [{"required": [name], "properties": {name: {"not": {"type": "null"}}}}
                          for name in self.names]}


@dataclass(frozen=True)
class RequiredWhen:
    """Rule: when field ``when`` equals ``value``, each of ``names`` is given and not an empty string.

    Documented as ``if``/``then``.
    """

    when: str
    value: Any
    names: tuple[str, ...]

    def __init__(self, when: str, value: Any, *names: str):
        object.__setattr__(self, "when", when)
        object.__setattr__(self, "value", value)
        object.__setattr__(self, "names", names)

    def __call__(self, params: dict) -> Iterable[Problem]:
        if params.get(self.when) == self.value:
            for name in self.names:
                if not _given(params, name) or params[name] == "":
                    yield Problem(name, f"is required when {self.when} is {self.value!r}")

    def openapi(self) -> dict:
        return {"if": {"required": [self.when], "properties": {self.when: {"const": self.value}}},
                "then": {"required": list(self.names),
                         "properties": {name: {"not": {"type": "null"}, "minLength": 1} for name in self.names}}}


@dataclass(frozen=True)
class Schema:
    """Named fields plus cross-field rules that run once every field is valid."""

    fields: Mapping[str, Field]
    rules: tuple[Rule, ...] = ()
    description: str = ""
    allow_unknown: bool = False

    def extend(self, fields: Mapping[str, Field]) -> "Schema":
        """A schema with ``fields`` added (the task's own fields win)."""
        return replace(self, fields={**fields, **self.fields})

    def validate(self, body: Any) -> dict:
        """Return the parameters with defaults applied, or raise ValidationError.

        Text that cannot be encoded as UTF-8 (a lone surrogate such as ``"\\ud800"``, which
        JSON can carry) is refused first, in values and keys at any depth.
        """
        if not isinstance(body, dict):
            raise ValidationError([Problem("body", "must be a JSON object")])
        unencodable = unencodable_text(body)
        if unencodable:
            raise ValidationError(unencodable)
        problems: list[Problem] = []
        params: dict = {}
        if not self.allow_unknown:
            for name in sorted(set(body) - set(self.fields)):
                problems.append(Problem(name, "is not a known field"))
        for name, spec in self.fields.items():
            value = body.get(name, MISSING)
            if value is None and spec.nullable:
                value = MISSING
            if value is MISSING:
                if spec.required:
                    problems.append(Problem(name, "is required"))
                params[name] = None if spec.default is MISSING else spec.default
                continue
            value, found = spec.check(name, value)
            problems.extend(found)
            params[name] = value
        if not problems:
            for rule in self.rules:
                problems.extend(rule(params))
        if problems:
            raise ValidationError(problems)
        return params

    def openapi(self) -> dict:
        """The JSON Schema object for this body (OpenAPI 3.1 dialect)."""
        doc: dict = {
            "type": "object",
            "properties": {name: _property(spec) for name, spec in self.fields.items()},
            "additionalProperties": self.allow_unknown,
        }
        required = [name for name, spec in self.fields.items() if spec.required]
        if required:
            doc["required"] = required
        if self.description:
            doc["description"] = self.description
        documented = [rule.openapi() for rule in self.rules if hasattr(rule, "openapi")]
        if documented:
            doc["allOf"] = documented
        return doc


def _property(spec: Field) -> dict:
    """The field's JSON Schema; an optional nullable field also admits ``null`` (read as absent)."""
    doc = spec.openapi()
    if spec.nullable and not spec.required:
        doc["type"] = [doc["type"], "null"]
        if "enum" in doc:
            doc["enum"] = [*doc["enum"], None]
    return doc


def unencodable_text(body: dict) -> list[Problem]:
    """A problem for every string (value or key, at any depth) that cannot be encoded as UTF-8.

    Fields are named by their path (``monologue[2]``, ``options.name``), keys as the client sent
    them (the error body is ASCII JSON, so an unencodable key travels back as its escape).
    """
    problems: list[Problem] = []

    def walk(value: Any, path: str) -> None:
        if isinstance(value, str):
            if not _encodable(value):
                problems.append(Problem(path, "must be valid Unicode text: it holds a lone surrogate "
                                              "(such as \\ud800), which cannot be encoded as UTF-8"))
        elif isinstance(value, list):
            for index, item in enumerate(value):
                walk(item, f"{path}[{index}]")
        elif isinstance(value, dict):
            for key, item in value.items():
                child = f"{path}.{key}" if path else key
                if not _encodable(key):
                    problems.append(Problem(child, "is a field name that is not valid Unicode text "
                                                   "(a lone surrogate cannot be encoded as UTF-8)"))
                walk(item, child)

    walk(body, "")
    return problems


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _range_problems(name, value, minimum, maximum) -> list[Problem]:
    if minimum is not None and maximum is not None and not minimum <= value <= maximum:
        return [Problem(name, f"must be between {minimum} and {maximum}")]
    if minimum is not None and value < minimum:
        return [Problem(name, f"must be at least {minimum}")]
    if maximum is not None and value > maximum:
        return [Problem(name, f"must be at most {maximum}")]
    return []


def _range_doc(doc, minimum, maximum) -> dict:
    if minimum is not None:
        doc["minimum"] = minimum
    if maximum is not None:
        doc["maximum"] = maximum
    return doc
