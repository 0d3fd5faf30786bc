"""The query parameters of ``GET /jobs``: their patterns are the document and the validation.

An empty value (``?status=``) counts as absent, so every pattern also admits the empty string.
"""

from __future__ import annotations

import re
from typing import Iterable

from render_core.jobs import status as st
from render_core.jobs.index import CURSOR_PATTERN, MAX_LIMIT

from ..keys import NAME

_YEAR = "(?:[1-9][0-9]{3}|0[1-9][0-9]{2}|00[1-9][0-9]|000[1-9])"
_LEAP_YEAR = "(?:[0-9]{2}(?:0[48]|[2468][048]|[13579][26])|(?:0[48]|[2468][048]|[13579][26])00)"
_DAY_29_TO_31 = "(?:(?:0[13578]|1[02])-(?:29|30|31)|(?:0[469]|11)-(?:29|30))"
#: A calendar date: days 29-31 only in the months that have them, February 29 only in leap years.
_DATE = (f"(?:{_YEAR}-(?:(?:0[1-9]|1[0-2])-(?:0[1-9]|1[0-9]|2[0-8])|{_DAY_29_TO_31})"
         f"|{_LEAP_YEAR}-02-29)")
_OFFSET = "(?:[Zz]|[+-](?:[01][0-9]|2[0-3]):[0-5][0-9])"
#: RFC 3339 date-time (no leap second) or unix seconds: the bounds of ``created_after``/``created_before``.
#: Groups: 1 unix seconds, or 2 date, 3 hour, 4 minute, 5 second, 6 fraction, 7 offset.
TIME_PATTERN = (f"^(?:([0-9]{{1,12}}(?:\\.[0-9]{{1,9}})?)|({_DATE})[Tt ]"
                f"([01][0-9]|2[0-3]):([0-5][0-9]):([0-5][0-9])(?:\\.([0-9]{{1,9}}))?({_OFFSET}))$")
TIME = re.compile(TIME_PATTERN)


def choices_pattern(choices: Iterable[str]) -> str:
    """One or more of ``choices`` (plain words), comma-separated, or empty (no filter)."""
    one = "(?:" + "|".join(sorted(choices, key=lambda c: (-len(c), c))) + ")"
    return f"^(?:{one}(?:,{one})*)?$"


def _or_empty(pattern: str) -> str:
    """``pattern`` (``^...$``) or the empty string: an empty query value counts as absent."""
    return f"^(?:{pattern[1:-1]})?$"


def _query(name: str, schema: dict, description: str) -> dict:
    return {"name": name, "in": "query", "required": False, "schema": schema, "description": description}


def list_parameters(task_names: Iterable[str]) -> list[dict]:
    """The parameters of ``GET /jobs`` with the installed task names."""
    when = {"type": "string", "pattern": _or_empty(TIME_PATTERN)}
    return [
        _query("limit", {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT, "default": 20}, "Jobs per page"),
        _query("next", {"type": "string", "pattern": _or_empty(CURSOR_PATTERN)},
               "The `next` cursor of the previous page"),
        _query("status", {"type": "string", "pattern": choices_pattern(st.ALL)},
               f"Comma-separated statuses ({', '.join(st.ALL)})"),
        _query("type", {"type": "string", "pattern": choices_pattern(task_names)}, "Comma-separated task names"),
        _query("created_after", when, "RFC 3339 time (e.g. 2026-01-31T12:00:00Z) or unix seconds (exclusive)"),
        _query("created_before", when, "RFC 3339 time or unix seconds (exclusive)"),
        _query("owner", {"type": "string", "pattern": _or_empty(NAME.pattern)},
               "Admin keys only (403 otherwise): list one key name's jobs"),
    ]
