"""The csm and whisper tasks on a GPU node: real Gradio apps (tests/support/fake_gradio_node.py)."""

from __future__ import annotations

import io
import json
import socket
import threading
import wave

import pytest
from c3_render_csm import plugin as csm
from c3_render_whisper import plugin as whisper
from render_core.sdk.node import Node
from render_core.sdk.errors import DeadlineExceeded, JobCancelled, JobError, NodeAppError, NodeError
from render_core.testing import TaskHarness
from support.fake_gradio_node import TONE_SECONDS_PER_SENTENCE, FakeGradioNode, channel_layout
from support.media import probe
from support.servers import FileServer, wait_for

MP3_SLACK_SECONDS = 0.15  # encoder padding around the fake's tone


@pytest.fixture
def harness(tmp_path):
    """Contexts as the worker builds them (render_core.testing), work dirs under tmp_path."""
    with TaskHarness(csm, work_root=tmp_path) as harness:
        yield harness


@pytest.fixture(scope="module")
def gradio_node():
    with FakeGradioNode() as node:
        yield node


@pytest.fixture
def fake(gradio_node):
    gradio_node.reset()
    yield gradio_node
    gradio_node.reset()  # ends a hanging job left by a failed test


@pytest.fixture(scope="module")
def files():
    with FileServer() as server:
        yield server


def node_for(fake: FakeGradioNode, headers: dict | None = None, base_url: str | None = None) -> Node:
    return Node(base_url=base_url or fake.url, headers=fake.headers if headers is None else headers,
                instance_id="node-1")


def wav_bytes(channels: int, seconds: float = 0.5, rate: int = 16_000) -> bytes:
    """A WAV of a 220 Hz square-ish wave; stereo files carry different left and right samples."""
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(channels)
        out.setsampwidth(2)
        out.setframerate(rate)
        frames = bytearray()
        for i in range(int(seconds * rate)):
            level = 8000 if (i // 36) % 2 else -8000
            for channel in range(channels):
                frames += int(level if channel == 0 else level // 2).to_bytes(2, "little", signed=True)
        out.writeframes(bytes(frames))
    return buffer.getvalue()


def run_in_thread(task_run, ctx, params) -> tuple[threading.Thread, dict]:
    outcome: dict = {}

    def target():
        try:
            outcome["result"] = task_run(ctx, params)
        except BaseException as exc:
            outcome["error"] = exc

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    return thread, outcome


def test_csm_text_is_spoken_on_the_node_as_one_sentence(harness, fake):
    ctx = harness.context(node=node_for(fake))
    params = csm.SCHEMA.validate({"text": "Hello there, node.", "voice": "random", "temperature": 0.0,
                                  "topk": 40, "max_audio_length": 5000, "pause_duration": 200})

    result = csm.run(ctx, params)

    assert result.content_type == "audio/mpeg" and result.path.parent == ctx.work_dir
    info = probe(result.path)
    assert "mp3" in info["audio"][0]
    assert abs(info["duration"] - TONE_SECONDS_PER_SENTENCE) < MP3_SLACK_SECONDS
    assert result.metadata["engine"] == "csm" and result.metadata["node"] == "node-1"
    [call] = fake.csm_calls
    assert call["speaker_voice"] == "random_voice"
    assert isinstance(call["monologue_json"], str) and json.loads(call["monologue_json"]) == ["Hello there, node."]
    assert call["speaker_text"] == "" and call["speaker_audio"] is None
    assert call["temperature"] == pytest.approx(0.1)  # raised to the node's minimum
    assert (call["topk"], call["max_audio_length"], call["pause_duration"]) == (40, 5000, 200)
    # every request (config, queue, event stream, result download) carried the node key
    paths = fake.seen_paths()
    assert any(p.endswith("/csm/config") for p in paths) and any("/csm/gradio_api/file=" in p for p in paths)
    assert all(request.authorized for request in fake.requests) and not fake.refused


def test_csm_monologue_keeps_its_sentences_and_voice(harness, fake):
    ctx = harness.context(node=node_for(fake))
    sentences = ["First sentence.", "Second one, «quoted».", "Third."]
    params = csm.SCHEMA.validate({"monologue": sentences, "voice": "conversational_b"})

    result = csm.run(ctx, params)

    [call] = fake.csm_calls
    assert call["speaker_voice"] == "conversational_b"
    assert json.loads(call["monologue_json"]) == sentences
    assert call["temperature"] == pytest.approx(0.9) and call["topk"] == 50
    assert abs(probe(result.path)["duration"] - 3 * TONE_SECONDS_PER_SENTENCE) < MP3_SLACK_SECONDS


def test_csm_clone_uploads_the_reference_as_mono_with_its_transcript(harness, fake, files, tmp_path):
    stereo = tmp_path / "stereo.wav"
    stereo.write_bytes(wav_bytes(channels=2))
    assert channel_layout(str(stereo)) == "stereo"
    url = files.add("/reference-stereo.wav", stereo.read_bytes(), "audio/wav")
    ctx = harness.context(node=node_for(fake))
    params = csm.SCHEMA.validate({"text": "Say it in my voice.", "voice": "clone", "reference_audio_url": url,
                                  "reference_text": "This is how I sound."})

    result = csm.run(ctx, params)

    assert result.path.is_file()
    [call] = fake.csm_calls
    assert call["speaker_voice"] == "upload_voice"
    assert call["speaker_text"] == "This is how I sound."
    assert call["speaker_audio_channels"] == "mono"
    assert any(p.endswith("/csm/gradio_api/upload") for p in fake.seen_paths())
    assert all(request.authorized for request in fake.requests)


def test_csm_clone_reference_that_is_not_audio_is_a_job_error(harness, fake, files):
    url = files.add("/not-audio.wav", b"this is plain text, not sound", "audio/wav")
    ctx = harness.context(node=node_for(fake))
    params = csm.SCHEMA.validate({"text": "Hi.", "voice": "clone", "reference_audio_url": url,
                                  "reference_text": "Hello."})

    with pytest.raises(JobError, match="reference_audio_url"):
        csm.run(ctx, params)
    assert fake.csm_calls == []


def test_csm_app_error_is_a_job_error_with_its_message(harness, fake):
    fake.csm_error = "the speaker audio is too short"
    ctx = harness.context(node=node_for(fake))

    with pytest.raises(JobError, match="the speaker audio is too short"):
        csm.run(ctx, csm.SCHEMA.validate({"text": "Hello."}))


def test_requests_without_the_node_key_are_refused(harness, fake):
    """A refusal is the node's answer, not a transport failure: the runner's health check decides."""
    ctx = harness.context(node=node_for(fake, headers={}))

    with pytest.raises(NodeAppError, match="csm service on the GPU node refused the node credentials"):
        csm.run(ctx, csm.SCHEMA.validate({"text": "Hello."}))
    assert "/csm/config" in fake.refused
    assert fake.csm_calls == []


def test_whisper_transcribes_on_the_node(harness, fake, files):
    fake.whisper_transcript = "  The quick brown fox jumps over the lazy dog.  "
    url = files.add("/speech.wav", wav_bytes(channels=1), "audio/wav")
    ctx = harness.context(node=node_for(fake))
    progress = ctx.trail.progress
    params = whisper.SCHEMA.validate({"audio_url": url, "model": "small", "task": "translate", "language": "de"})

    result = whisper.run(ctx, params)

    assert result.text == "The quick brown fox jumps over the lazy dog."
    assert result.metadata["engine"] == "whisper" and result.metadata["model"] == "small"
    [call] = fake.whisper_calls
    assert call["audio_file"].endswith(".wav")
    assert (call["model"], call["task"], call["language"]) == ("small", "translate", "de")
    assert (call["device"], call["compute_type"], call["batch_size"]) == ("cuda", "float16", 16)
    assert any(p.endswith("/whisper/gradio_api/upload") for p in fake.seen_paths())
    assert all(request.authorized for request in fake.requests)
    assert progress and progress[0][1] == "audio downloaded"


def test_whisper_error_transcript_is_a_job_error(harness, fake, files):
    fake.whisper_error = "Unsupported audio format"
    url = files.add("/speech2.wav", wav_bytes(channels=1), "audio/wav")
    ctx = harness.context(node=node_for(fake))

    with pytest.raises(JobError, match="Unsupported audio format"):
        whisper.run(ctx, whisper.SCHEMA.validate({"audio_url": url}))


def test_cancelling_mid_job_cancels_on_the_node(harness, fake, files):
    fake.hang_seconds = 30
    url = files.add("/speech3.wav", wav_bytes(channels=1), "audio/wav")
    cancel = threading.Event()
    ctx = harness.context(node=node_for(fake), cancel=cancel)

    thread, outcome = run_in_thread(whisper.run, ctx, whisper.SCHEMA.validate({"audio_url": url}))
    assert fake.job_started.wait(20), "the job never reached the node"
    cancel.set()
    thread.join(20)

    assert not thread.is_alive()
    assert isinstance(outcome.get("error"), JobCancelled), outcome
    assert fake.cancel_requests, "the node was not asked to cancel"


def test_deadline_mid_job_cancels_on_the_node(harness, fake):
    fake.hang_seconds = 30
    ctx = harness.context(node=node_for(fake), time_limit=3)

    with pytest.raises(DeadlineExceeded):
        csm.run(ctx, csm.SCHEMA.validate({"text": "Hello."}))
    assert fake.job_started.is_set()
    wait_for(lambda: fake.cancel_requests, timeout=10, message="a cancel request")


@pytest.mark.parametrize("service", ["csm", "whisper"])
def test_proxy_error_502_is_a_node_error(harness, fake, files, service):
    fake.proxy_error = True
    ctx = harness.context(node=node_for(fake))
    if service == "csm":
        task_run, params = csm.run, csm.SCHEMA.validate({"text": "Hello."})
    else:
        url = files.add("/speech4.wav", wav_bytes(channels=1), "audio/wav")
        task_run, params = whisper.run, whisper.SCHEMA.validate({"audio_url": url})

    with pytest.raises(NodeError, match=service):
        task_run(ctx, params)
    assert fake.requests and fake.csm_calls == [] and fake.whisper_calls == []


def test_unreachable_node_is_a_node_error(harness, fake):
    with socket.socket() as probe_socket:  # a port nothing listens on once closed
        probe_socket.bind(("127.0.0.1", 0))
        port = probe_socket.getsockname()[1]
    ctx = harness.context(node=node_for(fake, base_url=f"http://127.0.0.1:{port}"))

    with pytest.raises(NodeError, match="cannot reach the csm service"):
        csm.run(ctx, csm.SCHEMA.validate({"text": "Hello."}))
