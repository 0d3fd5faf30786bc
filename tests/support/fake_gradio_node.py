"""A fake GPU node for tests: REAL Gradio apps for CSM and Whisper behind the node's auth header.

One FastAPI app serves ``GET /`` (health), the CSM app at ``/csm/`` and the Whisper app
at ``/whisper/`` (docs/protocols.md, "Gradio apps": same api names, parameter names and return
shapes), on 127.0.0.1 with uvicorn in a thread. Outputs are simple and deterministic:
CSM returns an MP3 tone lasting ``TONE_SECONDS_PER_SENTENCE`` per sentence; Whisper
returns ``whisper_transcript`` (or ``"Error: ..."`` when ``whisper_error`` is set).

``FakeGradioNode(vision=FakeVision(...))`` also serves that fake vision model at ``/vision/``
(POST, e.g. ``/vision/api/generate``), like a node running an Ollama next to the apps.

Knobs a test may set: ``whisper_transcript``, ``whisper_error``, ``csm_error`` (raised as a
Gradio error), ``csm_error_kills_node`` (raising it, the node dies: from then on its health
check ``GET /`` answers 502 (``health_down``), and the ``peers`` nodes' ``csm_error`` is cleared,
so one node dies per test), ``hang_seconds`` (both apps sleep in small steps before answering, until a cancel
request arrives), ``proxy_error`` (every request answers 502, like a failing proxy).
Records: ``csm_calls`` / ``whisper_calls`` (arguments received), ``requests`` (every
request's method, path and whether it carried the key), ``refused`` (paths answered 401),
``cancel_requests`` (paths of Gradio cancel calls).
"""

from __future__ import annotations

import json
import re
import socket
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import fastapi
import gradio as gr
import imageio_ffmpeg
import uvicorn
from fastapi.responses import HTMLResponse, JSONResponse, PlainTextResponse
from starlette.concurrency import run_in_threadpool

API_KEY_HEADER = "X-C3-API-KEY"
TONE_SECONDS_PER_SENTENCE = 0.3
HANG_STEP_SECONDS = 0.05
CSM_VOICES = ("random_voice", "conversational_a", "conversational_b", "upload_voice")
WHISPER_MODELS = ("tiny", "base", "small", "medium", "large", "large-v2", "large-v3")
PROXY_ERROR_PAGE = b"<html><body><h1>502 Bad Gateway</h1></body></html>"


@dataclass(frozen=True)
class SeenRequest:
    method: str
    path: str
    authorized: bool


def channel_layout(path: str) -> str:
    """``mono``, ``stereo`` or another ffmpeg channel description of an audio file's first stream."""
    completed = subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-hide_banner", "-i", path],
                               capture_output=True, text=True, timeout=30)
    match = re.search(r"Audio: [^,]+, \d+ Hz, ([^,]+)", completed.stderr)
    return match[1].strip() if match else "unknown"


def make_tone_mp3(path: Path, seconds: float) -> None:
    """Write a mono 440 Hz MP3 lasting ``seconds``."""
    subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y",
                    "-f", "lavfi", "-i", f"sine=frequency=440:duration={seconds:.3f}", "-ac", "1",
                    "-codec:a", "libmp3lame", "-b:a", "64k", str(path)], check=True, timeout=30)


class _AuthAndProxyGuard:
    """ASGI middleware in front of everything: records requests, fakes a 502 proxy, demands the key."""

    def __init__(self, app, node: "FakeGradioNode"):
        self.app = app
        self.node = node

    async def __call__(self, scope, receive, send):
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        headers = {name.decode("latin-1").lower(): value.decode("latin-1") for name, value in scope["headers"]}
        authorized = self.node.is_authorized(headers)
        path = scope["path"]
        self.node.record(SeenRequest(scope.get("method", "WS"), path, authorized))
        if authorized and not self.node.proxy_error:
            await self.app(scope, receive, send)
            return
        if not authorized:
            self.node.refused.append(path)
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1008})
        elif self.node.proxy_error:
            await _answer(send, 502, PROXY_ERROR_PAGE, b"text/html")
        else:
            await _answer(send, 401, b'{"detail": "missing or wrong X-C3-API-KEY"}', b"application/json")


async def _answer(send, status: int, body: bytes, content_type: bytes) -> None:
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", content_type), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


class FakeGradioNode:
    """Start with ``with FakeGradioNode() as node:``; ``node.url`` is the node's base URL."""

    def __init__(self, api_key: str = "test-node-key", vision=None):
        self.api_key = api_key
        self.vision = vision  # a support.fake_vision.FakeVision served at /vision/, or None
        self.peers: list[FakeGradioNode] = []  # disarmed when this node dies of its csm_error
        self.output_dir = Path(tempfile.mkdtemp(prefix="fake-gradio-node-"))
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self.reset()
        self._server = uvicorn.Server(uvicorn.Config(self._build_app(), log_level="warning", lifespan="on"))
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._socket.bind(("127.0.0.1", 0))
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [self._socket]}, daemon=True)

    def reset(self) -> None:
        """Forget recorded calls and restore every knob to its default."""
        with self._lock:
            self.requests: list[SeenRequest] = []
            self.refused: list[str] = []
            self.cancel_requests: list[str] = []
            self.csm_calls: list[dict] = []
            self.whisper_calls: list[dict] = []
        self.whisper_transcript = "Hello from the fake whisper node."
        self.whisper_error: str | None = None
        self.csm_error: str | None = None
        self.csm_error_kills_node = False
        self.health_down = False
        self.hang_seconds = 0.0
        self.proxy_error = False
        self.job_started = threading.Event()
        self.cancelled = threading.Event()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._socket.getsockname()[1]}"

    @property
    def headers(self) -> dict:
        return {API_KEY_HEADER: self.api_key}

    def is_authorized(self, headers: dict) -> bool:
        return (headers.get(API_KEY_HEADER.lower()) == self.api_key
                or headers.get("authorization") == f"Bearer {self.api_key}")

    def record(self, request: SeenRequest) -> None:
        with self._lock:
            self.requests.append(request)
            if request.path.rstrip("/").endswith("/gradio_api/cancel"):
                self.cancel_requests.append(request.path)
                self.cancelled.set()

    def seen_paths(self) -> list[str]:
        with self._lock:
            return [request.path for request in self.requests]

    def __enter__(self) -> "FakeGradioNode":
        self._thread.start()
        deadline = time.monotonic() + 30
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the fake Gradio node did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc) -> None:
        self._stopping.set()
        self._server.should_exit = True
        self._thread.join(timeout=10)
        self._socket.close()

    # -- the apps ---------------------------------------------------------------------------

    def _build_app(self) -> fastapi.FastAPI:
        app = fastapi.FastAPI()

        @app.get("/")
        def health():
            return PlainTextResponse("down", 502) if self.health_down else PlainTextResponse("ok")

        @app.post("/vision/{path:path}")
        async def vision(path: str, request: fastapi.Request):
            if self.vision is None:
                return PlainTextResponse("this node runs no vision model", status_code=404)
            headers = {name.lower(): value for name, value in request.headers.items()}
            status, payload = await run_in_threadpool(self.vision.reply, "/" + path, headers, await request.body())
            return HTMLResponse(payload, status) if isinstance(payload, str) else JSONResponse(payload, status)

        app = gr.mount_gradio_app(app, self._csm_blocks(), path="/csm")
        app = gr.mount_gradio_app(app, self._whisper_blocks(), path="/whisper")
        app.add_middleware(_AuthAndProxyGuard, node=self)
        return app

    def _hang(self) -> None:
        """Sleep up to ``hang_seconds``, in small steps, stopping early on a cancel request or shutdown."""
        self.job_started.set()
        until = time.monotonic() + self.hang_seconds
        while time.monotonic() < until and not self.cancelled.is_set() and not self._stopping.is_set():
            time.sleep(HANG_STEP_SECONDS)

    def _csm_blocks(self) -> gr.Blocks:
        def generate_monologue_audio(speaker_voice, speaker_text, speaker_audio, monologue_json, temperature,
                                     topk, max_audio_length, pause_duration):
            call = {"speaker_voice": speaker_voice, "speaker_text": speaker_text,
                    "speaker_audio": speaker_audio, "monologue_json": monologue_json,
                    "temperature": temperature, "topk": topk, "max_audio_length": max_audio_length,
                    "pause_duration": pause_duration,
                    "speaker_audio_channels": channel_layout(speaker_audio) if speaker_audio else None}
            with self._lock:
                self.csm_calls.append(call)
            self._hang()
            if self.csm_error:
                if self.csm_error_kills_node:  # the app reports the device's death; the node is unhealthy
                    self.health_down = True
                    for peer in self.peers:
                        peer.csm_error = None
                raise gr.Error(self.csm_error, print_exception=False)
            sentences = json.loads(monologue_json)
            if not isinstance(sentences, list) or not sentences:
                raise gr.Error("monologue_json must be a JSON array of sentences")
            out = self.output_dir / f"csm-{time.monotonic_ns()}.mp3"
            make_tone_mp3(out, TONE_SECONDS_PER_SENTENCE * len(sentences))
            return str(out)

        with gr.Blocks(analytics_enabled=False) as blocks:
            inputs = [
                gr.Dropdown(choices=list(CSM_VOICES), value="random_voice", label="speaker_voice"),
                gr.Textbox(label="speaker_text"),
                gr.Audio(type="filepath", label="speaker_audio"),
                gr.Textbox(label="monologue_json"),
                gr.Slider(0.1, 2.0, value=0.9, label="temperature"),
                gr.Slider(1, 100, value=50, step=1, label="topk"),
                gr.Slider(1000, 30000, value=10000, step=100, label="max_audio_length"),
                gr.Slider(0, 1000, value=150, step=10, label="pause_duration"),
            ]
            output = gr.Audio(type="filepath", label="audio")
            gr.Button("Generate").click(generate_monologue_audio, inputs, output,
                                        api_name="generate_monologue_audio")
        return blocks

    def _whisper_blocks(self) -> gr.Blocks:
        def transcribe_audio(audio_file, model, task, language, device, compute_type, batch_size):
            call = {"audio_file": audio_file, "model": model, "task": task, "language": language,
                    "device": device, "compute_type": compute_type, "batch_size": batch_size}
            with self._lock:
                self.whisper_calls.append(call)
            self._hang()
            if self.whisper_error:
                return f"Error: {self.whisper_error}", []
            return self.whisper_transcript, self._transcript_files(self.whisper_transcript)

        with gr.Blocks(analytics_enabled=False) as blocks:
            inputs = [
                gr.Audio(type="filepath", label="audio_file"),
                gr.Dropdown(choices=list(WHISPER_MODELS), value="medium", label="model"),
                gr.Dropdown(choices=["transcribe", "translate"], value="transcribe", label="task"),
                gr.Textbox(label="language"),
                gr.Dropdown(choices=["cuda", "cpu"], value="cuda", label="device"),
                gr.Dropdown(choices=["float16", "int8_float16", "int8"], value="float16", label="compute_type"),
                gr.Number(value=16, precision=0, label="batch_size"),
            ]
            outputs = [gr.Textbox(label="transcript"), gr.File(file_count="multiple", label="files")]
            gr.Button("Transcribe").click(transcribe_audio, inputs, outputs, api_name="transcribe_audio")
        return blocks

    def _transcript_files(self, transcript: str) -> list[str]:
        stem = self.output_dir / f"whisper-{time.monotonic_ns()}"
        contents = {
            ".json": json.dumps({"text": transcript, "segments": [{"start": 0.0, "end": 1.0, "text": transcript}]}),
            ".txt": transcript + "\n",
            ".srt": f"1\n00:00:00,000 --> 00:00:01,000\n{transcript}\n",
            ".vtt": f"WEBVTT\n\n00:00:00.000 --> 00:00:01.000\n{transcript}\n",
        }
        paths = []
        for suffix, text in contents.items():
            path = stem.with_suffix(suffix)
            path.write_text(text)
            paths.append(str(path))
        return paths
