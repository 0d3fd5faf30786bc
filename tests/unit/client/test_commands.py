"""The CLI's request-body building and its progress output when stdout is not a terminal."""

import argparse

import pytest

from render_core.client.commands import UsageError, build_body
from render_core.client.progress import ProgressLines, progress_for


def _args(json=None, field=()):
    return argparse.Namespace(json=json, field=list(field))


def test_fields_are_strings_and_colon_equals_is_json():
    body = build_body(_args('{"text": "a", "max_time": 60}', ["text=b", "seconds:=1.5", "flag:=true", "x=1"]))
    assert body == {"text": "b", "max_time": 60, "seconds": 1.5, "flag": True, "x": "1"}


@pytest.mark.parametrize("args, message", [
    (_args("{"), "not valid JSON"), (_args("[]"), "JSON object"), (_args(None, ["novalue"]), "name=value"),
    (_args(None, ["=v"]), "name=value"), (_args(None, ["a:=nope"]), "must be JSON"),
])
def test_bad_input_is_a_usage_error(args, message):
    with pytest.raises(UsageError, match=message):
        build_body(args)


def test_plain_lines_only_on_change(capsys):
    lines = progress_for("job-1", interactive=False)
    assert isinstance(lines, ProgressLines)
    for body in ({"status": "queued"}, {"status": "queued"}, {"status": "running", "progress": 0.5,
                                                              "progress_message": "working"}):
        lines.update(body)
    assert capsys.readouterr().err.splitlines() == ["job job-1 queued", "job job-1 running 50% working"]

