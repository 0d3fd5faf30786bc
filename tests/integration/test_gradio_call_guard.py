"""call_gradio against a hostile node: every byte through the guarded client, nothing sent elsewhere.

A scripted Gradio app (tests/support/scripted_gradio.py) answers what a compromised or broken
node could: an API prefix on another host, output files with absolute URLs elsewhere, a
redirect of an output file to another host, an output larger than the limit. ``elsewhere``
records whatever reaches it; it must receive no request carrying the node's credentials.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest

from c3_render_csm import plugin as csm_plugin

from render_core.sdk.errors import JobError, NodeAppError
from render_core.sdk.gradio_call import call_gradio
from render_core.sdk.node import Node
from render_core.testing import TaskHarness
from support.scripted_gradio import Recorder, ScriptedGradio

KEY = "node-key-0123456789"
HEADERS = {"X-C3-API-KEY": KEY, "Authorization": f"Bearer {KEY}"}


@pytest.fixture
def elsewhere():
    with Recorder() as server:
        yield server


def context(tmp_path: Path, app: ScriptedGradio):
    """A task context on a node whose ``svc`` service is ``app`` (the harness's guarded node session)."""
    node = Node(base_url=app.url, urls={"svc": app.app_url}, headers=HEADERS, instance_id="n1")
    return TaskHarness(csm_plugin, work_root=tmp_path).context("svc", node=node)


def file_output(path: str, **extra) -> dict:
    return {"path": path, "orig_name": Path(path).name, "meta": {"_type": "gradio.FileData"}, **extra}


def credentials_seen(server: Recorder) -> list[dict]:
    return [r for r in server.requests if "x-c3-api-key" in r["headers"] or "authorization" in r["headers"]]


def test_an_api_prefix_on_another_host_is_refused_before_any_request_goes_there(tmp_path, elsewhere):
    with ScriptedGradio(api_prefix=elsewhere.url + "/gradio_api") as app:
        with pytest.raises(NodeAppError, match="points its API at another address"):
            call_gradio(context(tmp_path, app), "svc", "/predict", {"text": "hi"}, download_dir=tmp_path / "out")
    assert elsewhere.requests == []


def test_a_node_supplied_absolute_file_url_is_never_fetched(tmp_path, elsewhere):
    output = file_output("/tmp/gradio/out.bin", url=elsewhere.url + "/stolen.bin", is_stream=True)
    with ScriptedGradio(output=output, file_body=b"the render") as app:
        ctx = context(tmp_path, app)
        local = call_gradio(ctx, "svc", "/predict", {"text": "hi"}, download_dir=ctx.work_dir / "out")
        assert app.files_asked == ["/tmp/gradio/out.bin"]
    assert Path(local).read_bytes() == b"the render" and Path(local).parent == ctx.work_dir / "out"
    assert elsewhere.requests == []
    assert all(r["headers"].get("x-c3-api-key") == KEY for r in app.requests)


def test_a_redirect_of_an_output_file_to_another_host_carries_no_node_credential(tmp_path, elsewhere):
    with ScriptedGradio(output=file_output("/tmp/gradio/out.bin"), file_redirect=elsewhere.url + "/moved.bin") as app:
        ctx = context(tmp_path, app)
        call_gradio(ctx, "svc", "/predict", {"text": "hi"}, download_dir=ctx.work_dir / "out")
    assert [r["path"] for r in elsewhere.requests] == ["/moved.bin"]
    assert credentials_seen(elsewhere) == [], elsewhere.requests


def test_an_output_file_larger_than_the_limit_is_refused_and_removed(tmp_path):
    with ScriptedGradio(output=file_output("/tmp/gradio/big.bin"), file_body=b"x" * 5000) as app:
        ctx = context(tmp_path, app)
        ctx.max_download_bytes = 1000
        with pytest.raises(JobError, match="exceeds the limit|larger than the limit"):
            call_gradio(ctx, "svc", "/predict", {"text": "hi"}, download_dir=ctx.work_dir / "out")
    assert list((ctx.work_dir / "out").glob("*")) == []


def test_outputs_land_in_the_job_dir_and_nothing_in_the_system_temp_dir(tmp_path, monkeypatch):
    system_temp = tmp_path / "system-temp"
    system_temp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(system_temp))
    with ScriptedGradio(output=file_output("/tmp/gradio/out.bin")) as app:
        ctx = context(tmp_path, app)
        local = call_gradio(ctx, "svc", "/predict", {"text": "hi"}, download_dir=ctx.work_dir / "out")
    assert Path(local).is_relative_to(ctx.work_dir)
    assert list(system_temp.iterdir()) == []
