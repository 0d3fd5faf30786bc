"""The analyze task against a vision model (fake Ollama / OpenAI-compatible server on
127.0.0.1): via VISION_URL and via a leased node, errors, auth, cancellation, and the
local fallback. No Redis or S3 needed."""

from __future__ import annotations

import io
import socket
import threading

import pytest
from PIL import Image

from c3_render_analyze import plugin, vision
from render_core.sdk.errors import DeadlineExceeded, JobCancelled
from render_core.plugin import JobError, Node, NodeError
from render_core.testing import TaskHarness
from support.fake_vision import FakeVision
from support.media import png_bomb
from support.servers import FileServer

API_KEY = "vision-key"
NODE_KEY = "node-key"
VISION_ENV = ("VISION_URL", "VISION_PROTOCOL", "VISION_MODEL", "VISION_API_KEY", "VISION_PROMPT",
              "VISION_TIMEOUT")


@pytest.fixture
def harness(tmp_path):
    """Contexts as the worker builds them (render_core.testing), work dirs under tmp_path."""
    with TaskHarness(plugin, work_root=tmp_path) as harness:
        yield harness


def jpeg_bytes(width: int, height: int, colour: tuple[int, int, int]) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), colour).save(buffer, format="JPEG")
    return buffer.getvalue()


@pytest.fixture(autouse=True)
def clean_env(monkeypatch):
    for name in VISION_ENV:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(scope="module")
def files():
    with FileServer() as server:
        yield server


@pytest.fixture
def fake():
    with FakeVision(api_key=API_KEY) as server:
        yield server


@pytest.fixture
def red_url(files):
    return files.add("/red.jpg", jpeg_bytes(640, 480, (220, 20, 20)), "image/jpeg")


@pytest.fixture
def use_vision_url(monkeypatch, fake):
    """Point VISION_URL at the fake; returns a setter for the protocol."""
    monkeypatch.setenv("VISION_URL", fake.url)
    monkeypatch.setenv("VISION_API_KEY", API_KEY)

    def protocol(name: str) -> None:
        monkeypatch.setenv("VISION_PROTOCOL", name)

    return protocol



def node_for(fake: FakeVision, key: str = NODE_KEY) -> Node:
    return Node(base_url="http://127.0.0.1:9/", headers={"X-C3-API-KEY": key}, urls={"vision": fake.url},
                instance_id="n1")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# ------------------------------------------------------------------ success


@pytest.mark.parametrize("protocol,path", [("ollama", "/api/generate"), ("openai", "/v1/chat/completions")])
def test_vision_url_answers_from_the_image_with_the_given_prompt(harness, fake, use_vision_url, red_url,
                                                                  protocol, path):
    use_vision_url(protocol)
    ctx = harness.context()
    progress = ctx.trail.progress
    output = plugin.run(ctx, {"image_url": red_url, "prompt": "  What colour dominates?  "})
    assert output.text == "An image of 640x480 pixels, mostly red. Prompt: What colour dominates?"
    assert output.metadata == {"engine": "vision", "protocol": protocol, "model": vision.DEFAULT_MODEL,
                               "prompt": "What colour dominates?"}
    assert [call["path"] for call in fake.calls] == [path]
    assert progress[-1] == (0.2, "asking the vision model")


@pytest.mark.parametrize("protocol", ["ollama", "openai"])
def test_node_vision_service_is_used_with_node_headers_and_bearer(harness, protocol, monkeypatch, red_url):
    monkeypatch.setenv("VISION_PROTOCOL", protocol)
    with FakeVision(api_key=NODE_KEY, required_headers={"X-C3-API-KEY": NODE_KEY}) as fake:
        ctx = harness.context(node=node_for(fake))
        output = plugin.run(ctx, {"image_url": red_url, "prompt": None})
    assert output.text.startswith("An image of 640x480 pixels, mostly red.")
    headers = fake.calls[0]["headers"]
    assert headers["x-c3-api-key"] == NODE_KEY
    assert headers["authorization"] == f"Bearer {NODE_KEY}"  # the node key, no VISION_API_KEY set


def test_default_prompt_is_sent_when_none_is_given(harness, fake, use_vision_url, red_url):
    ctx = harness.context()
    output = plugin.run(ctx, {"image_url": red_url, "prompt": ""})
    assert fake.calls[0]["body"]["prompt"] == vision.DEFAULT_PROMPT
    assert output.metadata["prompt"] == vision.DEFAULT_PROMPT


def test_vision_prompt_and_model_come_from_the_environment(harness, monkeypatch, use_vision_url, red_url):
    monkeypatch.setenv("VISION_PROMPT", "List the objects.")
    monkeypatch.setenv("VISION_MODEL", "llava:7b")
    with FakeVision(api_key=API_KEY, models=["llava:7b"]) as other:
        monkeypatch.setenv("VISION_URL", other.url + "/")
        ctx = harness.context()
        output = plugin.run(ctx, {"image_url": red_url})
    assert other.calls[0]["body"]["model"] == "llava:7b"
    assert output.text.endswith("Prompt: List the objects.")


def test_large_image_is_downscaled_before_sending(harness, fake, use_vision_url, files):
    url = files.add("/big.png", _png(3000, 1000, (10, 30, 230)), "image/png")
    ctx = harness.context()
    output = plugin.run(ctx, {"image_url": url})
    assert output.text.startswith(f"An image of {vision.MAX_SIDE_PX}x523 pixels, mostly blue.")


def test_openai_base_url_ending_in_v1_is_not_doubled(harness, fake, use_vision_url, monkeypatch, red_url):
    use_vision_url("openai")
    monkeypatch.setenv("VISION_URL", fake.url + "/v1/")
    ctx = harness.context()
    plugin.run(ctx, {"image_url": red_url})
    assert fake.calls[0]["path"] == "/v1/chat/completions"


def test_vision_url_does_not_receive_the_node_key(harness, fake, use_vision_url, red_url):
    ctx = harness.context(node=node_for(fake, key="secret-node-key"))
    plugin.run(ctx, {"image_url": red_url})
    headers = fake.calls[0]["headers"]
    assert "x-c3-api-key" not in headers
    assert headers["authorization"] == f"Bearer {API_KEY}"


# ------------------------------------------------------------------ bad input


def test_not_an_image_fails_before_any_request(harness, fake, use_vision_url, files):
    url = files.add("/notes.jpg", b"<!doctype html><html>hello</html>", "image/jpeg")
    ctx = harness.context()
    with pytest.raises(JobError, match="not an image .*HTML"):
        plugin.run(ctx, {"image_url": url})
    assert fake.calls == []


def test_decompression_bomb_fails_before_any_request(harness, fake, use_vision_url, files):
    url = files.add("/bomb.png", png_bomb(), "image/png")
    ctx = harness.context()
    with pytest.raises(JobError, match="20000x20000 pixels .* the limit is"):
        plugin.run(ctx, {"image_url": url})
    assert fake.calls == []


def test_server_rejects_bytes_that_are_not_an_image(fake):
    settings = vision.VisionSettings(url=fake.url, api_key=API_KEY)
    endpoint = vision.choose_endpoint(settings, Node.local_machine())
    with pytest.raises(JobError, match=r"HTTP 400\): the image could not be decoded"):
        with _session() as session:
            vision.describe(session, endpoint, settings, "hi", b"not a jpeg", timeout_s=10)


# ------------------------------------------------------------------ failures


@pytest.mark.parametrize("protocol", ["ollama", "openai"])
def test_unknown_model_is_a_job_error_with_the_server_message(harness, fake, use_vision_url, red_url,
                                                              monkeypatch, protocol):
    use_vision_url(protocol)
    monkeypatch.setenv("VISION_MODEL", "no-such-model")
    ctx = harness.context()
    with pytest.raises(JobError, match=r'HTTP 404\): model "no-such-model" not found'):
        plugin.run(ctx, {"image_url": red_url})


@pytest.mark.parametrize("status,message", [(500, "llama runner process has terminated"),
                                            (502, "HTML page"), (503, "llama runner")])
def test_server_errors_are_node_errors(harness, fake, use_vision_url, red_url, status, message):
    fake.fail_with = status
    ctx = harness.context()
    with pytest.raises(NodeError, match=f"HTTP {status}.*{message}"):
        plugin.run(ctx, {"image_url": red_url})


def test_connection_refused_is_a_node_error(harness, monkeypatch, red_url):
    monkeypatch.setenv("VISION_URL", f"http://127.0.0.1:{free_port()}")
    ctx = harness.context()
    with pytest.raises(NodeError, match="could not reach the vision model.*refused"):
        plugin.run(ctx, {"image_url": red_url})


def test_slow_answer_past_vision_timeout_is_a_node_error(harness, fake, use_vision_url, red_url,
                                                         monkeypatch):
    monkeypatch.setenv("VISION_TIMEOUT", "0.3")
    fake.delay_s = 5
    ctx = harness.context()
    with pytest.raises(NodeError, match="did not answer within 0.3 s"):
        plugin.run(ctx, {"image_url": red_url})


def test_missing_key_is_refused(harness, fake, use_vision_url, red_url, monkeypatch):
    monkeypatch.delenv("VISION_API_KEY")
    ctx = harness.context()
    with pytest.raises(JobError, match="refused the credentials .*HTTP 401.*VISION_API_KEY"):
        plugin.run(ctx, {"image_url": red_url})
    assert "authorization" not in fake.calls[0]["headers"]


def test_empty_answer_is_a_job_error(harness, fake, use_vision_url, red_url):
    fake.answer = "   "
    ctx = harness.context()
    with pytest.raises(JobError, match="^the vision model returned no text$"):
        plugin.run(ctx, {"image_url": red_url})


def test_bad_protocol_setting_fails_before_the_download(harness, fake, use_vision_url, files):
    use_vision_url("grpc")
    ctx = harness.context()
    with pytest.raises(JobError, match="misconfigured.*VISION_PROTOCOL='grpc'"):
        plugin.run(ctx, {"image_url": files.url + "/never-fetched.jpg"})
    assert fake.calls == []


# ------------------------------------------------------------------ cancellation and deadline


def test_cancelled_after_the_download_sends_nothing(harness, fake, use_vision_url):
    cancel = threading.Event()
    ctx = harness.context(cancel=cancel)
    image = ctx.work_dir / "input1.jpg"
    image.write_bytes(jpeg_bytes(64, 64, (0, 0, 0)))
    settings = vision.VisionSettings.from_env()
    cancel.set()
    with pytest.raises(JobCancelled):
        plugin._run_remote(ctx, image, None, settings, vision.choose_endpoint(settings, ctx.node))
    assert fake.calls == []


def test_cancel_during_the_request_wins_over_its_answer(harness, fake, use_vision_url, red_url):
    cancel = threading.Event()
    fake.on_call = cancel.set  # the client cancels while the model is answering
    ctx = harness.context(cancel=cancel)
    with pytest.raises(JobCancelled):
        plugin.run(ctx, {"image_url": red_url})
    assert len(fake.calls) == 1


def test_wait_is_bounded_by_the_job_deadline(harness, fake, use_vision_url, red_url):
    fake.delay_s = 30  # VISION_TIMEOUT defaults to 300 s: only the deadline can stop this
    ctx = harness.context(time_limit=1.0)
    with pytest.raises(DeadlineExceeded):
        plugin.run(ctx, {"image_url": red_url})


# ------------------------------------------------------------------ local engine


def test_local_node_without_vision_url_runs_the_local_engine(harness, fake, red_url):
    ctx = harness.context()
    output = plugin.run(ctx, {"image_url": red_url, "prompt": "Is there a cat?"})
    assert output.metadata["engine"] == "local"
    assert output.metadata["prompt_used"] is False
    assert "not used" in output.metadata["prompt_note"]
    assert "640x480" in output.text
    assert fake.calls == []


def test_prompt_field_is_validated():
    assert plugin.SCHEMA.validate({"image_url": "https://example.com/a.png"})["prompt"] is None
    with pytest.raises(Exception, match="prompt: must have at most 2000 characters"):
        plugin.SCHEMA.validate({"image_url": "https://example.com/a.png", "prompt": "x" * 2001})


# ------------------------------------------------------------------ helpers


def _png(width: int, height: int, colour: tuple[int, int, int]) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), colour).save(buffer, format="PNG")
    return buffer.getvalue()


def _session():
    from render_core.net.http import AddressPolicy, session

    return session(AddressPolicy(allow_loopback=True))
