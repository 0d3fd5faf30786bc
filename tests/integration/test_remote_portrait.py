"""The portrait task on a GPU node: SONIC through a fake ComfyUI speaking the protocol of docs/protocols.md, "ComfyUI"."""

from __future__ import annotations

import io
import threading
import wave

import numpy as np
import pytest
import requests
from PIL import Image

from c3_render_portrait import plugin, remote
from c3_render_portrait.sonic_graph import SonicInputs, build_sonic_graph
from render_core.sdk.errors import JobCancelled
from render_core.plugin import FileOutput, JobError, Node, NodeAppError, NodeError
from render_core.testing import TaskHarness
from support.fake_comfyui import API_KEY, FakeComfyUI
from support.media import probe

AUDIO_SECONDS = 2.0
SAMPLE_RATE = 22_050


# ---------------------------------------------------------------- media and servers


@pytest.fixture
def harness(tmp_path):
    """Contexts as the worker builds them (render_core.testing), work dirs under tmp_path."""
    with TaskHarness(plugin, work_root=tmp_path) as harness:
        yield harness


def jpeg_bytes(width: int, height: int) -> bytes:
    """A gradient JPEG of the given size (px)."""
    x = np.linspace(0, 255, width, dtype=np.uint8)
    y = np.linspace(0, 255, height, dtype=np.uint8)
    pixels = np.dstack([np.tile(x, (height, 1)), np.tile(y[:, None], (1, width)), np.full((height, width), 90, np.uint8)])
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, "JPEG", quality=85)
    return buffer.getvalue()


def wav_bytes(seconds: float) -> bytes:
    """A mono 16-bit WAV tone lasting ``seconds``."""
    t = np.arange(int(seconds * SAMPLE_RATE)) / SAMPLE_RATE
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(SAMPLE_RATE)
        wav.writeframes((0.5 * np.sin(2 * np.pi * 220 * t) * 32767).astype("<i2").tobytes())
    return buffer.getvalue()


@pytest.fixture(scope="module")
def inputs(files) -> dict:
    """URLs of the test media on a local file server."""
    return {
        "small": files.add("/portrait-640x480.jpg", jpeg_bytes(640, 480), "image/jpeg"),
        "large": files.add("/portrait-3000x2000.jpg", jpeg_bytes(3000, 2000), "image/jpeg"),
        "audio": files.add("/speech.wav", wav_bytes(AUDIO_SECONDS), "audio/wav"),
        "not_an_image": files.add("/notes.jpg", b"this is not a picture", "image/jpeg"),
    }


@pytest.fixture
def comfy(tmp_path):
    with FakeComfyUI(tmp_path / "comfy") as server:
        yield server


def node_for(server: FakeComfyUI, headers: dict | None = None) -> Node:
    return Node(base_url=server.url, urls={"ui": server.url + "/"}, instance_id="n1",
                headers={"X-C3-API-KEY": API_KEY} if headers is None else headers)


def params(inputs: dict, image: str = "small") -> dict:
    return {"image_url": inputs[image], "audio_url": inputs["audio"]}


def run_in_thread(ctx, job_params):
    """Start ``plugin.run`` in a thread; returns (thread, outcome dict filled with result or error)."""
    outcome = {}

    def target():
        try:
            outcome["result"] = plugin.run(ctx, job_params)
        except BaseException as exc:  # noqa: BLE001 - the test inspects it
            outcome["error"] = exc

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    return thread, outcome


def only_prompt(server: FakeComfyUI):
    (prompt,) = server.prompts.values()
    return prompt


def node_of(graph: dict, class_type: str) -> dict:
    return next(node for node in graph.values() if node["class_type"] == class_type)


# ---------------------------------------------------------------- success


def test_render_returns_an_h264_aac_mp4_from_a_validated_graph(harness, comfy, inputs):
    ctx = harness.context(node=node_for(comfy))
    progress = ctx.trail.progress

    output = plugin.run(ctx, params(inputs))

    assert isinstance(output, FileOutput) and output.content_type == "video/mp4"
    facts = probe(output.path)
    assert "h264" in facts["video"][0] and "640x480" in facts["video"][0]
    assert "aac" in facts["audio"][0]
    assert facts["duration"] == pytest.approx(AUDIO_SECONDS, abs=0.2)
    assert output.metadata["width"] == 640 and output.metadata["height"] == 480
    assert output.metadata["duration_seconds"] == pytest.approx(AUDIO_SECONDS, abs=0.05)
    prompt = only_prompt(comfy)
    assert comfy.rejections == [] and prompt.state == "success"
    # the graph names the files by the names the server returned, not the names sent
    image_name = node_of(prompt.graph, "LoadImage")["inputs"]["image"]
    audio_name = node_of(prompt.graph, "LoadAudio")["inputs"]["audio"]
    assert image_name in comfy.uploads and comfy.uploads[image_name].sent_name != image_name
    assert audio_name in comfy.uploads and comfy.uploads[audio_name].sent_name != audio_name
    assert node_of(prompt.graph, "SONIC_PreData")["inputs"]["duration"] == pytest.approx(AUDIO_SECONDS, abs=0.05)
    messages = [message for _, message in progress]
    assert any("queued" in message for message in messages)
    assert any("rendering" in message for message in messages)
    assert [f for f, _ in progress] == sorted(f for f, _ in progress)
    # the node key went with every request
    assert comfy.refused == []
    assert all(request["headers"].get("X-C3-API-KEY") == API_KEY for request in comfy.requests)


def test_large_image_is_downscaled_before_upload_and_fitted_to_1080x720(harness, comfy, inputs):
    ctx = harness.context(node=node_for(comfy))

    output = plugin.run(ctx, params(inputs, "large"))

    graph = only_prompt(comfy).graph
    uploaded = comfy.image_size(node_of(graph, "LoadImage")["inputs"]["image"])
    assert max(uploaded) <= 2048 and uploaded[0] > uploaded[1]
    resize = node_of(graph, "ImageResize+")["inputs"]
    assert (resize["width"], resize["height"]) == (1080, 720)
    assert "1080x720" in probe(output.path)["video"][0]


# ---------------------------------------------------------------- failures


def test_execution_error_fails_the_job_with_the_node_message(harness, comfy, inputs):
    comfy.fail_with = "no face detected in the reference image"
    ctx = harness.context(node=node_for(comfy))

    with pytest.raises(JobError, match="no face detected in the reference image") as failure:
        plugin.run(ctx, params(inputs))
    assert "SONIC_PreData" in str(failure.value)


def test_graph_refused_by_the_node_fails_the_job_with_a_readable_summary(harness, comfy, inputs):
    comfy.checkpoints = ["sd_xl_base.safetensors"]
    ctx = harness.context(node=node_for(comfy))

    with pytest.raises(JobError, match="ImageOnlyCheckpointLoader.*ckpt_name"):
        plugin.run(ctx, params(inputs))
    assert comfy.prompts == {}


def test_unreadable_image_fails_before_the_node_is_called(harness, comfy, inputs):
    ctx = harness.context(node=node_for(comfy))

    with pytest.raises(JobError, match="not a recognised image"):
        plugin.run(ctx, params(inputs, "not_an_image"))
    assert comfy.requests == []


@pytest.mark.parametrize("die_mode", ["close", "502"])
def test_node_dying_mid_render_is_a_node_error(harness, comfy, inputs, die_mode):
    comfy.die_after_running_polls, comfy.die_mode = 1, die_mode
    ctx = harness.context(node=node_for(comfy))

    with pytest.raises(NodeError):
        plugin.run(ctx, params(inputs))
    assert comfy.dead


def test_a_video_larger_than_the_download_limit_is_refused_and_removed(harness, comfy, inputs):
    ctx = harness.context(node=node_for(comfy))
    ctx.max_download_bytes = 1000  # the fake's MP4 is larger

    with pytest.raises(JobError, match="larger than the limit"):
        plugin.run(ctx, params(inputs))
    assert not list(ctx.work_dir.glob("*.mp4"))


def test_comfyui_never_ready_is_a_node_error(harness, comfy, inputs, monkeypatch):
    monkeypatch.setattr(remote, "READY_TIMEOUT_S", 0.5)
    comfy.ready_after = None
    ctx = harness.context(node=node_for(comfy))

    with pytest.raises(NodeError, match="did not become ready"):
        plugin.run(ctx, params(inputs))
    assert comfy.system_stats_calls >= 2 and comfy.uploads == {}


def test_requests_without_the_node_key_are_refused(harness, comfy, inputs):
    ctx = harness.context(node=node_for(comfy, headers={}))

    with pytest.raises(NodeAppError, match="401"):  # an answer, not a transport failure: a health check decides
        plugin.run(ctx, params(inputs))
    assert comfy.refused == ["/system_stats"] and comfy.uploads == {}


# ---------------------------------------------------------------- cancellation


def test_cancel_while_rendering_interrupts_the_node(harness, comfy, inputs):
    comfy.hang = True
    cancel = threading.Event()
    ctx = harness.context(node=node_for(comfy), cancel=cancel)
    thread, outcome = run_in_thread(ctx, params(inputs))

    assert comfy.seen_running.wait(20)
    cancel.set()
    thread.join(20)

    assert isinstance(outcome.get("error"), JobCancelled)
    assert comfy.interrupts == [{"prompt_id": only_prompt(comfy).id}]
    assert comfy.deleted == []


def test_cancel_while_queued_removes_the_prompt_from_the_queue(harness, comfy, inputs):
    comfy.pending_polls = None
    cancel = threading.Event()
    ctx = harness.context(node=node_for(comfy), cancel=cancel)
    progress = ctx.trail.progress
    thread, outcome = run_in_thread(ctx, params(inputs))

    assert comfy.seen_pending.wait(20)
    cancel.set()
    thread.join(20)

    assert isinstance(outcome.get("error"), JobCancelled)
    assert comfy.deleted == [only_prompt(comfy).id]
    assert comfy.interrupts == []
    assert any("1 ahead" in message for _, message in progress)


# ---------------------------------------------------------------- the fake checks graphs for real


def test_fake_comfyui_rejects_a_graph_with_a_mistyped_link_or_unknown_file(comfy):
    session = requests.Session()
    session.headers["X-C3-API-KEY"] = API_KEY
    image = Image.new("RGB", (300, 200), "gray")
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    stored = session.post(f"{comfy.url}/upload/image", files={"image": ("p.png", buffer.getvalue())},
                          data={"type": "input", "overwrite": "true", "subfolder": ""}, timeout=10).json()["name"]
    graph = build_sonic_graph(SonicInputs(image=stored, audio="never-uploaded.flac", width=300, height=200,
                                          duration=2.0, seed=1, filename_prefix="x")).prompt
    node_of(graph, "SONIC_PreData")["inputs"]["vae"] = ["4", 0]  # the MODEL output, not the VAE

    answer = session.post(f"{comfy.url}/prompt", json={"prompt": graph, "client_id": "c"}, timeout=10)

    assert answer.status_code == 400
    details = str(answer.json()["node_errors"])
    assert "never-uploaded.flac" in details and "not VAE" in details


def test_sonic_template_fills_every_placeholder_with_typed_values():
    graph = build_sonic_graph(SonicInputs(image="a.jpg", audio="b.flac", width=1080, height=720, duration=0.4,
                                          seed=7, filename_prefix="p")).prompt

    assert "{{" not in str(graph)
    assert sorted(node["class_type"] for node in graph.values()) == sorted([
        "LoadImage", "LoadAudio", "ImageResize+", "ImageOnlyCheckpointLoader", "SONICTLoader", "SONIC_PreData",
        "SONICSampler", "VHS_VideoCombine"])
    assert node_of(graph, "ImageResize+")["inputs"]["width"] == 1080
    assert node_of(graph, "SONIC_PreData")["inputs"]["duration"] == 1.0  # ComfyUI's minimum
    assert node_of(graph, "SONICSampler")["inputs"]["seed"] == 7
