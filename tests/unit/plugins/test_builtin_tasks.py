"""The built-in tasks' plugin layer (schema, errors, node use) driven through the authors' harness."""

from __future__ import annotations

import pytest
from c3_render_analyze import plugin as analyze
from c3_render_csm import plugin as csm
from c3_render_portrait import plugin as portrait
from c3_render_whisper import plugin as whisper

from render_core.plugin import Node
from render_core.testing import TaskHarness

PLUGINS = {"analyze": analyze, "csm": csm, "portrait": portrait, "whisper": whisper}


@pytest.fixture
def harness_for(tmp_path):
    opened = []

    def open_harness(name):
        harness = TaskHarness(PLUGINS[name], work_root=tmp_path)
        opened.append(harness)
        return harness

    yield open_harness
    for harness in opened:
        harness.close()


@pytest.mark.parametrize("task, body, problems", [
    ("csm", {"text": "a", "monologue": ["b"]}, {"text": "provide either text (a string) or monologue "
                                                        "(an array of strings), not both"}),
    ("csm", {"text": "a", "voice": "clone"}, {"reference_audio_url": "is required when voice is 'clone'",
                                              "reference_text": "is required when voice is 'clone'"}),
    ("whisper", {"audio_url": "ftp://x/a.wav", "model": "huge"},
     {"audio_url": "must be an absolute http:// or https:// URL",
      "model": "must be one of 'tiny', 'base', 'small', 'medium', 'large', 'large-v2', 'large-v3'"}),
    ("portrait", {"image_url": "http://example.com/a.png"}, {"audio_url": "is required"}),
    ("analyze", {"image_url": "http://example.com/a.png", "max_time": 5},
     {"max_time": "must be between 60 and 7200"}),
])
def test_bad_bodies_are_rejected_naming_each_field(harness_for, task, body, problems):
    run = harness_for(task).run(task, body)
    assert run.status == "rejected" and run.problems == problems


def test_analyze_refuses_a_file_that_is_not_an_image(harness_for, monkeypatch):
    monkeypatch.delenv("VISION_URL", raising=False)
    harness = harness_for("analyze")
    run = harness.run("analyze", {"image_url": harness.files.add("/photo.png", b"plain words, not pixels")})
    assert run.status == "failed" and run.error == "the file is not an image (it looks like plain text)"
    assert run.stages == ["download", "inference"] and run.progress == [(0.1, "image downloaded")]


def test_whisper_refuses_a_file_that_is_not_audio_on_the_local_engine(harness_for):
    harness = harness_for("whisper")
    url = harness.files.add("/talk.mp3", b"\x00" * 2048)
    run = harness.run("whisper", {"audio_url": url, "model": "tiny"}, node=Node.local_machine())
    assert run.status == "failed" and run.node.local
    assert run.error == ("the file is not audio or video in a format that can be read "
                         "(corrupt, truncated, or not media at all)")


def test_csm_refused_by_a_healthy_node_is_the_jobs_error(harness_for):
    harness = harness_for("csm")
    harness.node.route("GET", "/", b"ok")  # the node answers its health check
    run = harness.run("csm", {"text": "Hello there."})
    assert run.status == "failed" and not run.node_failed and harness.node.healthy
    assert run.error.startswith("the csm service on the GPU node refused the request (HTTP 404)")


def test_csm_on_a_node_without_its_app_is_a_node_failure(harness_for):
    harness = harness_for("csm")
    run = harness.run("csm", {"text": "Hello there."})  # csm declares a workload: the fake node, with no routes
    assert run.status == "failed" and run.node_failed and not harness.node.healthy
    # the node answered 404 (an answer, not a transport failure), then failed its health check
    assert "refused the request (HTTP 404)" in run.error and "failed its health check" in run.error
    assert any(request.path.startswith("/csm/") for request in harness.node.requests)
