"""The GPU-node clients through the real job path: API (gunicorn) -> Redis -> a ``c3-render worker``
with ``GPU_PROVIDER=static`` -> fake GPU nodes (Gradio CSM/Whisper apps, ComfyUI, a vision model)
-> S3 -> webhook.

The module runs its own Redis, API and worker so the GPU pool starts empty. Two static nodes:
``<gradio node>|<ComfyUI>``, each with a fake vision model at ``<node>/vision/`` (analyze leases a
node through ANALYZE_WORKLOAD). All fakes demand the same node key (STATIC_NODE_KEY).
"""

from __future__ import annotations

import io
import json
import wave
from contextlib import ExitStack
from dataclasses import dataclass

import numpy as np
import pytest
import requests
from PIL import Image

from render_core.devtools.devservices import RedisServer, free_port
from render_core.gpu.providers.static import parse_static_nodes
from render_core.sdk.registry import load_registry
from render_core.worker.services import WorkerServices
from render_core.config.settings import Settings
from support.fake_comfyui import FakeComfyUI
from support.fake_gradio_node import TONE_SECONDS_PER_SENTENCE, FakeGradioNode
from support.fake_vision import FakeVision
from support.media import probe
from support.servers import wait_for
from support.stack import spawn, start_api, stop, wait_terminal

NODE_KEY = "static-node-key-0123"
WORKLOAD = "media:fast"
MP3_SLACK_SECONDS = 0.15  # encoder padding around the fake's tone
SAMPLE_RATE_HZ = 16_000


# ---------------------------------------------------------------- media


def wav_bytes(seconds: float, channels: int = 1) -> bytes:
    """A 16-bit WAV tone; in stereo the right channel differs from the left."""
    t = np.arange(int(seconds * SAMPLE_RATE_HZ)) / SAMPLE_RATE_HZ
    left = (0.5 * np.sin(2 * np.pi * 220 * t) * 32767).astype("<i2")
    samples = left if channels == 1 else np.column_stack([left, (left // 3).astype("<i2")]).ravel()
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(channels)
        out.setsampwidth(2)
        out.setframerate(SAMPLE_RATE_HZ)
        out.writeframes(samples.tobytes())
    return buffer.getvalue()


def jpeg_bytes(width: int, height: int, colour=(220, 20, 20)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), colour).save(buffer, "JPEG", quality=85)
    return buffer.getvalue()


@pytest.fixture(scope="module")
def media(files) -> dict:
    """URLs of the test inputs on the session's file server."""
    return {
        "speech": files.add("/e2e-speech.wav", wav_bytes(1.5), "audio/wav"),
        "stereo_reference": files.add("/e2e-reference-stereo.wav", wav_bytes(1.0, channels=2), "audio/wav"),
        "portrait": files.add("/e2e-portrait.jpg", jpeg_bytes(320, 240, (200, 170, 150)), "image/jpeg"),
        "red": files.add("/e2e-red.jpg", jpeg_bytes(640, 480), "image/jpeg"),
    }


# ---------------------------------------------------------------- the fake static nodes


class NodeComfyUI(FakeComfyUI):
    """A node's ComfyUI. When it dies (``die_after_running_polls``) and ``takes_node_down`` is set,
    the whole node dies with it: its Gradio apps and health check answer 502 too, like a crashed
    box behind a proxy; otherwise only ComfyUI is gone and the node still answers its health check.
    Its death disarms the ``peers`` (the other nodes' ComfyUIs): one node dies per test."""

    def __init__(self, node: FakeGradioNode):
        super().__init__(api_key=NODE_KEY)
        self.node = node
        self.takes_node_down = True
        self.peers: list[NodeComfyUI] = []

    def _advance(self, prompt) -> None:
        super()._advance(prompt)
        if self.dead:
            for peer in self.peers:
                peer.die_after_running_polls = None
            if self.takes_node_down:
                self.node.proxy_error = True

    def reset(self) -> None:
        """Back to a healthy, fast ComfyUI with no records."""
        with self.lock:
            self.takes_node_down = True
            self.hang, self.fail_with, self.dead = False, None, False
            self.die_after_running_polls, self.die_mode = None, "close"
            self.prompts.clear()
            self.requests.clear()
            self.interrupts.clear()
            self.deleted.clear()
            self.refused.clear()
            self.seen_running.clear()


@dataclass
class FakeStaticNode:
    """One fake GPU node: Gradio apps + vision at ``gradio.url``, ComfyUI at ``comfy.url``."""

    gradio: FakeGradioNode
    comfy: NodeComfyUI
    vision: FakeVision

    @property
    def entry(self) -> str:
        """This node's STATIC_NODES entry."""
        return f"{self.gradio.url}|{self.comfy.url}"

    @property
    def instance_id(self) -> str:
        """This node's id in the pool (and in job metadata)."""
        return parse_static_nodes(self.entry)[0].id

    def reset(self) -> None:
        self.gradio.reset()
        self.comfy.reset()
        self.vision.calls.clear()


class Stack:
    """Own Redis + API + one worker (static provider) + a Runtime in the test process."""

    def __init__(self, base_env: dict, tmp_path, nodes: list[FakeStaticNode]):
        self.tmp_path = tmp_path
        self.nodes = nodes
        self.redis = RedisServer(tmp_path / "redis")
        self.redis.start()
        self.env = {**base_env, "REDIS_URL": self.redis.url, "OUTPUT_DIR": str(tmp_path / "output"),
                    "GPU_PROVIDER": "static", "STATIC_NODES": ",".join(node.entry for node in nodes),
                    "STATIC_NODE_KEY": NODE_KEY, "ANALYZE_WORKLOAD": WORKLOAD,
                    "RENDER_POLLING_INTERVAL": "0.2", "MONITOR_INTERVAL": "0.5", "HEALTH_TRIES": "2",
                    "HEALTH_RETRY_DELAY": "0.2", "HEALTH_TIMEOUT": "1", "LEASE_TTL": "3",
                    "GPU_READY_TIMEOUT": "3", "PRE_LAUNCH_TIMEOUT": "2", "PRE_LAUNCH_TIMEOUT_MAX": "2",
                    "GPU_MAX_INSTANCES": str(len(nodes)), "NODE_RETRY_ATTEMPTS": "2",
                    "GPU_IDLE_TIMEOUT": "300"}
        self.processes = []
        self.services = WorkerServices(Settings.from_env(self.env), load_registry())

    def start(self) -> None:
        """Start the worker and the API (``self.api`` is the API's base URL)."""
        worker_env = {**self.env, "METRICS_PORT": str(free_port())}
        self.processes.append(spawn(["worker", "--processes", "1", "--threads", "4"], worker_env,
                                    self.tmp_path / "worker.log"))
        api_process, self.api = start_api({**self.env, "METRICS_PORT": str(free_port())},
                                          self.tmp_path / "api.log")
        self.processes.append(api_process)

    def submit(self, task: str, body: dict) -> str:
        response = requests.post(f"{self.api}/{task}", json=body, timeout=10)
        assert response.status_code == 200, response.text
        return response.json()["id"]

    def finish(self, job_id: str, timeout: float = 30.0):
        """Wait until the job is terminal; returns the stored Job."""
        wait_terminal(self.api, job_id, timeout=timeout)
        return self.services.jobs.get(job_id)

    def fetch_result(self, job_id: str, dest_name: str):
        """Download the job's result_url (presigned S3) into the module's tmp dir; returns the path."""
        result = requests.get(f"{self.api}/result/{job_id}", timeout=5).json()
        response = requests.get(result["result_url"], timeout=10)
        assert response.status_code == 200, response.text
        path = self.tmp_path / dest_name
        path.write_bytes(response.content)
        return path, response.headers.get("Content-Type", "")

    def wait_nodes_given_back(self) -> None:
        """Wait until no job holds a node (every pool record idle)."""
        wait_for(lambda: all(record["state"] == "idle" for record in self.services.pool.instances()),
                 message="the worker to give back every node")

    def empty_pool(self) -> None:
        """Forget every static node once no job holds one: the next job needs a fresh lease."""
        self.wait_nodes_given_back()
        for record in self.services.pool.instances():
            self.services.pool.stop(record["id"], reason="test setup")

    def forget_failures(self) -> None:
        """Forget which nodes earlier tests gave back broken (their cooldown would steer the next lease)."""
        for key in self.services.redis.scan_iter("c3render:gpu:failed:*"):
            self.services.redis.delete(key)

    def logs(self) -> str:
        return "\n".join(path.read_text()[-4000:] for path in sorted(self.tmp_path.glob("*.log")))

    def close(self) -> None:
        for process in self.processes:
            stop(process)
        self.redis.stop()


@pytest.fixture(scope="module")
def nodes():
    """Two fake static nodes, in STATIC_NODES order."""
    with ExitStack() as servers:
        made = []
        for _ in range(2):
            vision = servers.enter_context(FakeVision(api_key=NODE_KEY))
            gradio = servers.enter_context(FakeGradioNode(api_key=NODE_KEY, vision=vision))
            made.append(FakeStaticNode(gradio, servers.enter_context(NodeComfyUI(gradio)), vision))
        for node in made:
            node.comfy.peers = [other.comfy for other in made if other is not node]
        yield made


@pytest.fixture(scope="module")
def stack(stack_env, tmp_path_factory, nodes):
    made = Stack(stack_env, tmp_path_factory.mktemp("remote-e2e"), nodes)
    try:
        made.start()
        yield made
    finally:
        made.close()


@pytest.fixture(autouse=True)
def clean_nodes(nodes):
    for node in nodes:
        node.reset()
    yield
    for node in nodes:
        node.reset()  # ends anything a failed test left hanging


def node_of(nodes: list[FakeStaticNode], job) -> FakeStaticNode:
    """The node whose instance id the job's result metadata names."""
    return next(node for node in nodes if node.instance_id == job.metadata.get("node"))


# ---------------------------------------------------------------- each task on a static node


def test_csm_result_is_an_mp3_in_s3(stack, nodes):
    job = stack.finish(stack.submit("csm", {"monologue": ["Hello there.", "This is a node."]}))
    assert job.status == "success", (job.error, stack.logs())
    assert job.metadata["engine"] == "csm" and job.metadata["node"] in {n.instance_id for n in nodes}
    assert [call["speaker_voice"] for call in node_of(nodes, job).gradio.csm_calls] == ["random_voice"]
    path, content_type = stack.fetch_result(job.id, "csm.mp3")
    assert content_type.startswith("audio/mpeg")
    facts = probe(path)
    assert facts["audio"] and "mp3" in facts["audio"][0] and not facts["video"]
    assert abs(facts["duration"] - 2 * TONE_SECONDS_PER_SENTENCE) <= MP3_SLACK_SECONDS


def test_csm_cloning_sends_a_mono_reference_and_its_text(stack, nodes, media):
    job = stack.finish(stack.submit("csm", {
        "text": "Say it like me.", "voice": "clone", "reference_audio_url": media["stereo_reference"],
        "reference_text": "This is how I sound."}))
    assert job.status == "success", (job.error, stack.logs())
    [call] = node_of(nodes, job).gradio.csm_calls
    assert call["speaker_voice"] == "upload_voice"
    assert call["speaker_text"] == "This is how I sound."
    assert call["speaker_audio_channels"] == "mono"


def test_whisper_returns_the_node_transcript(stack, nodes, media):
    for node in nodes:
        node.gradio.whisper_transcript = "Every word the node heard."
    job = stack.finish(stack.submit("whisper", {"audio_url": media["speech"], "model": "large-v3"}))
    assert job.status == "success", (job.error, stack.logs())
    assert requests.get(f"{stack.api}/result/{job.id}", timeout=5).json() == {"text": "Every word the node heard."}
    [call] = node_of(nodes, job).gradio.whisper_calls
    assert call["model"] == "large-v3" and call["task"] == "transcribe"


def test_whisper_error_transcript_fails_the_job_with_its_message(stack, nodes, media):
    for node in nodes:
        node.gradio.whisper_error = "CUDA out of memory on the node"
    job = stack.finish(stack.submit("whisper", {"audio_url": media["speech"]}))
    assert job.status == "failed"
    assert job.error == "transcription failed on the GPU node: CUDA out of memory on the node"
    assert job.attempts == 1, "a task error is not a node failure: no retry"


def test_portrait_result_is_an_h264_aac_mp4_in_s3(stack, nodes, media):
    job = stack.finish(stack.submit("portrait", {"image_url": media["portrait"], "audio_url": media["speech"]}))
    assert job.status == "success", (job.error, stack.logs())
    assert [p.state for n in nodes for p in n.comfy.prompts.values()] == ["success"]
    path, content_type = stack.fetch_result(job.id, "portrait.mp4")
    assert content_type.startswith("video/mp4")
    facts = probe(path)
    assert facts["video"] and "h264" in facts["video"][0]
    assert facts["audio"] and "aac" in facts["audio"][0]
    assert abs(facts["duration"] - 1.5) < 0.3


def test_portrait_execution_error_fails_the_job_with_its_message(stack, nodes, media):
    for node in nodes:
        node.comfy.fail_with = "Allocation on device 0 would exceed allowed memory"
    job = stack.finish(stack.submit("portrait", {"image_url": media["portrait"], "audio_url": media["speech"]}))
    assert job.status == "failed"
    assert job.error == ("the render failed in SONIC_PreData (node 6): "
                         "Allocation on device 0 would exceed allowed memory")
    assert job.attempts == 1


def test_analyze_asks_the_vision_model_on_the_leased_node(stack, nodes, media):
    job = stack.finish(stack.submit("analyze", {"image_url": media["red"], "prompt": "What colour is it?"}))
    assert job.status == "success", (job.error, stack.logs())
    assert job.text == "An image of 640x480 pixels, mostly red. Prompt: What colour is it?"
    assert job.metadata["engine"] == "vision"
    calls = [call for node in nodes for call in node.vision.calls]
    assert [call["path"] for call in calls] == ["/api/generate"]
    assert calls[0]["headers"]["authorization"] == f"Bearer {NODE_KEY}"


# ---------------------------------------------------------------- cancel and node failure


def test_cancel_mid_render_interrupts_comfyui_and_sends_one_webhook(stack, nodes, media, receiver):
    for node in nodes:
        node.comfy.hang = True
    job_id = stack.submit("portrait", {"image_url": media["portrait"], "audio_url": media["speech"],
                                       "notify_url": f"{receiver.url}/cancelled"})
    rendering = wait_for(lambda: next((n for n in nodes if any(p.state == "running" for p in
                                                                n.comfy.prompts.values())), None),
                         timeout=30, message="the render to run on a node")
    response = requests.post(f"{stack.api}/job/{job_id}", json={"status": "cancelled"}, timeout=5)
    assert response.status_code == 200, response.text
    wait_for(lambda: rendering.comfy.interrupts, timeout=10, message="ComfyUI to receive /interrupt")
    job = stack.finish(job_id)
    assert job.status == "cancelled"
    assert [p.state for p in rendering.comfy.prompts.values()] == ["interrupted"]
    stack.wait_nodes_given_back()  # the worker is done with the job: any webhook of its own is queued
    wait_for(lambda: stack.services.jobs.get(job_id).webhook == "delivered", message="the webhook delivery")
    assert [call["body"]["status"] for call in receiver.posts("/cancelled")] == ["cancelled"]
    assert stack.services.jobs.get(job_id).status == "cancelled", "the worker overwrote the cancel"


@pytest.mark.parametrize("whole_node", [True, False], ids=["whole-node-dies", "only-comfyui-dies"])
def test_node_dying_mid_render_is_retried_on_the_other_static_node(stack, nodes, media, whole_node):
    stack.empty_pool()  # no idle node to fall back on: the retry needs a fresh lease from the provider
    for node in nodes:  # whichever node renders first dies; the other one is then spared
        node.comfy.die_after_running_polls, node.comfy.die_mode = 1, "502"
        node.comfy.takes_node_down = whole_node
    job = stack.finish(stack.submit("portrait", {"image_url": media["portrait"], "audio_url": media["speech"]}),
                       timeout=30)
    assert job.status == "success", (job.error, stack.logs())
    assert job.attempts == 2
    [dead] = [node for node in nodes if node.comfy.dead]
    [survivor] = [node for node in nodes if node is not dead]
    assert [prompt.state for prompt in dead.comfy.prompts.values()] == ["running"]
    assert survivor.comfy.prompts[job.metadata["prompt_id"]].state == "success"
    path, _ = stack.fetch_result(job.id, f"retried-{whole_node}.mp4")
    assert "h264" in probe(path)["video"][0]


# ---------------------------------------------------------------- app errors: the node's health decides


def test_an_app_error_on_a_healthy_node_fails_the_job_without_a_retry(stack, nodes):
    for node in nodes:
        node.gradio.csm_error = "the speaker audio is too short"
    job = stack.finish(stack.submit("csm", {"text": "Hello."}))
    assert job.status == "failed" and job.attempts == 1, (job.error, stack.logs())
    assert job.error == "csm failed on the GPU node: the speaker audio is too short"


def test_an_app_error_from_a_node_that_then_fails_its_health_check_is_retried_on_another(stack, nodes):
    stack.empty_pool()  # no idle node to fall back on: the retry needs a fresh lease from the provider
    stack.forget_failures()
    for node in nodes:  # whichever node answers first reports the death and dies; the other is spared
        node.gradio.csm_error = "CUDA error: device lost"
        node.gradio.csm_error_kills_node = True
        node.gradio.peers = [other.gradio for other in nodes if other is not node]
    job = stack.finish(stack.submit("csm", {"text": "Hello."}), timeout=40)
    assert job.status == "success", (job.error, stack.logs())
    assert job.attempts == 2
    [dead] = [node for node in nodes if node.gradio.health_down]
    assert node_of(nodes, job) is not dead and len(dead.gradio.csm_calls) == 1
    assert dead.instance_id in stack.services.pool.recently_failed(), "the dead node was not given back broken"


# ---------------------------------------------------------------- errors on this side stop no node


def _unhealthy_stops(stack) -> int:
    """How many times the worker gave a node back as broken (each one is stopped)."""
    return (stack.tmp_path / "worker.log").read_text().count("unhealthy after a job")


def test_a_lone_surrogate_is_a_400_and_a_job_carrying_one_stops_no_node(stack, nodes):
    response = requests.post(f"{stack.api}/csm", data=rb'{"text": "hi \ud800 there"}',
                             headers={"Content-Type": "application/json"}, timeout=10)
    assert response.status_code == 400, response.text
    assert [problem["field"] for problem in response.json()["errors"]] == ["text"]

    # A job that carries such text anyway (queued before the API refused it) fails on this side.
    stack.wait_nodes_given_back()
    stops_before, failed_before = _unhealthy_stops(stack), stack.services.pool.recently_failed()
    task = stack.services.registry.get("csm")
    params = stack.services.registry.request_schema(task).validate({"text": "placeholder"})
    job = stack.finish(stack.services.lifecycle.submit(task, {**params, "text": "hi \ud800 there"})["id"])

    assert job.status == "failed" and job.attempts == 1, (job.error, stack.logs())
    assert "not valid Unicode" in job.error
    stack.wait_nodes_given_back()
    assert _unhealthy_stops(stack) == stops_before, "a node was stopped for an error on this side"
    assert stack.services.pool.recently_failed() == failed_before
    assert all(node.gradio.csm_calls == [] for node in nodes)


# ---------------------------------------------------------------- what clients see names no node


def test_a_failing_node_is_not_named_in_status_or_webhook(stack, nodes, receiver):
    stack.wait_nodes_given_back()
    for node in nodes:
        node.gradio.proxy_error = True  # every request, the health check included, answers 502
    job_id = stack.submit("csm", {"text": "Hello.", "notify_url": f"{receiver.url}/failed"})
    job = stack.finish(job_id, timeout=60)
    assert job.status == "failed", (job.error, stack.logs())
    wait_for(lambda: receiver.posts("/failed"), message="the webhook")
    shown = [requests.get(f"{stack.api}/status/{job_id}", timeout=5).text,
             *(json.dumps(call["body"]) for call in receiver.posts("/failed"))]
    addresses = {part for node in nodes for url in (node.gradio.url, node.comfy.url)
                 for part in (url, url.split("//")[1])}
    for text in shown:
        assert not [address for address in addresses if address in text], text
        assert "ConnectionPool" not in text and "127.0.0.1" not in text, text
    stack.forget_failures()
