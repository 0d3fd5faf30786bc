"""A fake vision-model server on 127.0.0.1 speaking Ollama ``/api/generate`` and the
OpenAI-compatible ``/v1/chat/completions`` (both with base64 images).

It checks ``Authorization: Bearer <api_key>`` (401 without), decodes the image (400
when it is not one) and answers deterministically from the pixels, echoing the prompt:
``An image of 640x480 pixels, mostly red. Prompt: <prompt>``. Knobs: unknown model ->
404 like Ollama, ``fail_with`` = 500/502 (502 with an HTML page, like a proxy),
``delay_s`` = a slow answer, ``answer`` = a fixed answer text (e.g. ""),
``on_call`` = a function called as each request arrives (e.g. to cancel a job mid-call).
"""

from __future__ import annotations

import base64
import binascii
import io
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from PIL import Image, ImageStat, UnidentifiedImageError

COLOURS = {
    "red": (255, 0, 0), "green": (0, 160, 0), "blue": (0, 0, 255), "yellow": (255, 255, 0),
    "white": (255, 255, 255), "black": (0, 0, 0), "grey": (128, 128, 128),
}
DEFAULT_MODELS = ("llama3.2-vision:11b",)


def describe_image(data: bytes, prompt: str) -> str:
    """The fake model's answer: size and nearest basic colour of the image, and the prompt."""
    with Image.open(io.BytesIO(data)) as image:
        rgb = image.convert("RGB")
    mean = ImageStat.Stat(rgb).mean
    colour = min(COLOURS, key=lambda name: sum((a - b) ** 2 for a, b in zip(mean, COLOURS[name])))
    return f"An image of {rgb.width}x{rgb.height} pixels, mostly {colour}. Prompt: {prompt}"


class FakeVision:
    """Use as a context manager; ``url`` is the base URL, ``calls`` records each request
    as ``{"path", "headers", "body"}``."""

    def __init__(self, api_key: str = "vision-key", models=DEFAULT_MODELS, required_headers=None):
        self.api_key = api_key
        self.models = set(models)
        self.required_headers = dict(required_headers or {})
        self.fail_with: int | None = None
        self.delay_s = 0.0
        self.answer: str | None = None
        self.on_call = None
        self.calls: list[dict] = []
        self.lock = threading.Lock()
        self._release = threading.Event()
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self.httpd.daemon_threads = True
        self._thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                        daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_port}"

    def __enter__(self) -> "FakeVision":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._release.set()  # wake slow answers
        self.httpd.shutdown()
        self.httpd.server_close()

    def reply(self, path: str, headers: dict, body: bytes) -> tuple[int, dict | str]:
        """(status, JSON object or HTML text) for one POST."""
        try:
            request = json.loads(body or b"null")
        except ValueError:
            request = None
        with self.lock:
            self.calls.append({"path": path, "headers": headers, "body": request})
        if self.on_call is not None:
            self.on_call()
        if self.delay_s:
            self._release.wait(self.delay_s)
        if self.fail_with == 502:
            return 502, "<html><body><h1>502 Bad Gateway</h1></body></html>"
        if self.fail_with:
            return self.fail_with, {"error": "llama runner process has terminated: exit status 2"}
        if headers.get("authorization") != f"Bearer {self.api_key}":
            return 401, {"error": "unauthorized: a valid Bearer key is required"}
        for name, value in self.required_headers.items():
            if headers.get(name.lower()) != value:
                return 401, {"error": f"unauthorized: header {name} missing or wrong"}
        if path == "/api/generate":
            return self._ollama(request)
        if path == "/v1/chat/completions":
            return self._openai(request)
        return 404, {"error": f"no route {path}"}

    def _ollama(self, request) -> tuple[int, dict]:
        if not isinstance(request, dict) or request.get("stream") is not False:
            return 400, {"error": "expected a JSON object with stream: false"}
        model = request.get("model")
        if model not in self.models:
            return 404, {"error": f'model "{model}" not found, try pulling it first'}
        images = request.get("images") or []
        if len(images) != 1:
            return 400, {"error": "expected exactly one image"}
        text, problem = self._answer(images[0], request.get("prompt", ""))
        if problem:
            return 400, {"error": problem}
        return 200, {"model": model, "created_at": "2024-01-01T00:00:00Z", "response": text, "done": True}

    def _openai(self, request) -> tuple[int, dict]:
        try:
            model = request["model"]
            text_part, image_part = request["messages"][0]["content"]
            prompt = text_part["text"]
            header, _, image_b64 = image_part["image_url"]["url"].partition(",")
        except (KeyError, IndexError, TypeError, ValueError):
            return 400, {"error": {"message": "malformed chat request", "type": "invalid_request_error"}}
        if model not in self.models:
            return 404, {"error": {"message": f'model "{model}" not found, try pulling it first',
                                   "type": "api_error"}}
        if header != "data:image/jpeg;base64":
            return 400, {"error": {"message": f"unsupported image URL {header!r}", "type": "invalid_request_error"}}
        text, problem = self._answer(image_b64, prompt)
        if problem:
            return 400, {"error": {"message": problem, "type": "invalid_request_error"}}
        message = {"role": "assistant", "content": text}
        return 200, {"id": "chatcmpl-1", "object": "chat.completion", "model": model,
                     "choices": [{"index": 0, "message": message, "finish_reason": "stop"}]}

    def _answer(self, image_b64: str, prompt: str) -> tuple[str, str | None]:
        """(answer, None) or ("", problem) when the image does not decode."""
        try:
            data = base64.b64decode(image_b64, validate=True)
            text = describe_image(data, prompt)
        except (binascii.Error, ValueError, UnidentifiedImageError, OSError) as error:
            return "", f"the image could not be decoded: {error}"
        return (text if self.answer is None else self.answer), None


def _handler_for(owner: FakeVision) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            headers = {name.lower(): value for name, value in self.headers.items()}
            status, payload = owner.reply(self.path, headers, body)
            is_html = isinstance(payload, str)
            data = (payload if is_html else json.dumps(payload)).encode()
            self.send_response(status)
            self.send_header("Content-Type", "text/html" if is_html else "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args):
            pass

    return Handler
