"""The plugin authors' harness: outcomes as the worker maps them, the trail, the file server, the fake node."""

from __future__ import annotations

import threading
from types import SimpleNamespace

import c3_render_echo as echo
import pytest
import requests

from render_core.plugin import FileOutput, JobError, Schema, String, Task, TextOutput, hookimpl
from render_core.sdk.registry import PluginLoadError
from render_core.testing import FakeNode, FileServer, Reply, TaskHarness


@pytest.fixture
def harness(tmp_path):
    with TaskHarness(echo, work_root=tmp_path) as harness:
        yield harness


def plugin_of(*tasks, api=">=1.0,<2"):
    @hookimpl
    def c3_render_tasks():
        return list(tasks)

    return SimpleNamespace(C3_RENDER_PLUGIN_API=api, c3_render_tasks=c3_render_tasks)


def test_a_text_job_succeeds_with_its_trail(harness):
    url = harness.files.add("/blob.bin", b"x" * 1234)
    run = harness.run("echo", {"message": "hi", "input_url": url, "seconds": 0.2})
    assert run.status == "success", run
    assert run.text == "hi (1234 bytes)" and run.metadata == {"length": len(run.text)}
    assert run.trail.downloads == [url] and run.stages == ["download", "inference"]
    fractions = [fraction for fraction, _ in run.progress]
    assert fractions and fractions == sorted(fractions) and all(0 <= f <= 1 for f in fractions)
    assert set(run.trail.stage_seconds) == {"download", "inference"}
    assert run.work_dir.parent == harness.work_root and run.params["max_time"] == 1200


def test_a_file_job_keeps_its_file_for_inspection(harness):
    run = harness.run("echo-file", {"message": "in a file"})
    assert run.status == "success", run
    assert run.file.read_text() == "in a file" and run.content_type.startswith("text/plain")
    assert run.file.parent == run.work_dir


def test_a_bad_body_is_rejected_like_a_400_naming_each_field(harness):
    run = harness.run("echo", {"message": "", "seconds": "soon", "surprise": 1})
    assert run.status == "rejected"
    assert run.problems == {"message": "must not be empty", "seconds": "must be a number",
                            "surprise": "is not a known field"}


@pytest.mark.parametrize("body, options, status, error", [
    ({"message": "x", "fail": "the input was unusable"}, {}, "failed", "the input was unusable"),
    ({"message": "x", "seconds": 5}, {"cancel_at": 0.05}, "cancelled", "the job was cancelled"),
    ({"message": "x", "seconds": 5}, {"time_limit": 0.3}, "timed_out", "the job exceeded its time limit (0.3 s)"),
])
def test_outcomes_are_the_workers(harness, body, options, status, error):
    run = harness.run("echo", body, **options)
    assert (run.status, run.error) == (status, error)


def test_a_stopping_worker_gives_the_job_back(harness):
    stop = threading.Event()
    threading.Timer(0.2, stop.set).start()
    run = harness.run("echo", {"message": "x", "seconds": 10}, worker_stop=stop)
    assert run.status == "requeued" and run.error is None


def test_a_failed_download_fails_the_job_with_the_http_status(harness):
    run = harness.run("echo", {"message": "x", "input_url": f"{harness.files.url}/missing.bin"})
    assert run.status == "failed" and "HTTP 404" in run.error


def test_a_cancel_event_set_from_outside_cancels(harness):
    cancel = threading.Event()
    threading.Timer(0.2, cancel.set).start()
    assert harness.run("echo", {"message": "x", "seconds": 10}, cancel=cancel).status == "cancelled"


def test_a_gpu_task_gets_the_fake_node_and_must_use_its_key(harness):
    harness.node.route("GET", "/", {"ok": True})
    run = harness.run("echo-gpu", {"message": "hello"})
    assert run.status == "success", run
    assert run.text == "hello on fake-node-1" and run.node.base_url == harness.node.url
    assert harness.node.requests[0].path == "/" and not harness.node.refused
    assert requests.get(harness.node.url + "/", timeout=5).status_code == 401  # no key
    assert len(harness.node.refused) == 1


def test_a_node_error_fails_the_job_and_marks_the_node_unhealthy(harness):
    harness.node.route("GET", "/", 503)
    run = harness.run("echo-gpu", {"message": "x"})
    assert run.status == "failed" and run.node_failed and not harness.node.healthy
    assert run.error == "the GPU node failed (1 attempt(s)): node fake-node-1 answered HTTP 503"


def test_a_node_that_vanishes_is_a_node_error(harness):
    node = FakeNode()
    node.close()
    run = harness.run("echo-gpu", {"message": "x"}, node=node)
    assert run.node_failed and "stopped answering" in run.error


def test_a_plugin_crash_is_an_internal_error_with_its_traceback(tmp_path):
    def run(ctx, params):
        return {}["missing"]

    with TaskHarness(plugin_of(Task("crash", Schema({}), run, output="text")), work_root=tmp_path) as harness:
        result = harness.run("crash")
    assert result.status == "failed" and result.error == "internal error in task 'crash': KeyError: 'missing'"
    assert "return {}[\"missing\"]" in result.traceback and isinstance(result.exception, KeyError)
    assert "KeyError" in str(result)


@pytest.mark.parametrize("output, error", [
    (None, "returned no result (plugin bug)"),
    ("text", "returned no result (plugin bug)"),
    (TextOutput("x", metadata={"when": object()}), "returned metadata that is not JSON"),
    (FileOutput("/nonexistent/file.bin"), "produced no output file"),
])
def test_bad_outputs_fail_as_in_the_service(tmp_path, output, error):
    plugin = plugin_of(Task("bad", Schema({}), lambda ctx, params: output, output="text"))
    with TaskHarness(plugin, work_root=tmp_path) as harness:
        run = harness.run("bad")
    assert run.status == "failed" and error in run.error


def test_an_incompatible_plugin_is_refused_by_the_harness_too():
    plugin = plugin_of(Task("x", Schema({}), lambda ctx, params: TextOutput("x"), output="text"), api=">=7")
    with pytest.raises(PluginLoadError, match="supports plugin API >=7"):
        TaskHarness(plugin)


def test_unknown_task_names_the_known_ones(harness):
    with pytest.raises(KeyError, match="echo, echo-file, echo-gpu"):
        harness.run("ech", {})


def test_a_context_can_drive_run_directly(harness):
    ctx = harness.context("echo", cancel_at=0.5)
    ctx.progress(0.2, "a")
    assert not ctx.cancelled()
    ctx.progress(0.7, "b")
    assert ctx.cancelled() and ctx.trail.progress == [(0.2, "a"), (0.7, "b")]
    with ctx.stage("inference"):
        pass
    assert ctx.trail.stages == ["inference"] and ctx.node.local


def test_fake_node_routes_prefixes_callables_and_errors():
    with FakeNode(urls={"ui": "/ui/"}) as node:
        node.route("POST", "/svc/*", lambda request: Reply(json={"got": request.json(), "path": request.path}))
        node.route("GET", "/bytes", b"\x00\x01").route("GET", "/broken", lambda request: 1 / 0)
        http = requests.Session()
        http.headers.update(node.node.headers)
        assert http.post(node.url + "/svc/run", json={"a": 1}, timeout=5).json() == {"got": {"a": 1},
                                                                                     "path": "/svc/run"}
        assert http.get(node.url + "/bytes", timeout=5).content == b"\x00\x01"
        broken = http.get(node.url + "/broken", timeout=5)
        assert broken.status_code == 500 and "ZeroDivisionError" in broken.json()["detail"]
        assert http.get(node.url + "/nothing", timeout=5).status_code == 404
        assert node.node.url_for("ui") == node.url + "/ui/" and node.node.url_for("x") == node.url + "/x/"


def test_file_server_serves_files_and_statuses(tmp_path):
    local = tmp_path / "clip.wav"
    local.write_bytes(b"RIFF")
    with FileServer() as files:
        url = files.add_file(local)
        answer = requests.get(url, timeout=5)
        assert answer.content == b"RIFF" and answer.headers["Content-Type"] in ("audio/wav", "audio/x-wav")
        assert requests.get(files.add("/down", b"", status=503), timeout=5).status_code == 503
        assert files.requests == ["/clip.wav", "/down"]


def test_job_error_is_public_and_ends_failed(tmp_path):
    def run(ctx, params):
        raise JobError(f"cannot read {params['name']}")

    plugin = plugin_of(Task("named", Schema({"name": String(required=True)}), run, output="text"))
    with TaskHarness(plugin, work_root=tmp_path) as harness:
        assert harness.run("named", {"name": "x.png"}).error == "cannot read x.png"
