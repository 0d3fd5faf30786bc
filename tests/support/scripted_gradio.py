"""A scripted Gradio app (protocol ``sse_v3``) whose answers a test chooses, to play a hostile node.

Serves, under ``/app/``: ``config`` (with the ``api_prefix`` a test sets, possibly pointing
elsewhere), ``<prefix>/info``, ``<prefix>/upload``, ``<prefix>/queue/join``,
``<prefix>/queue/data`` (one ``process_completed`` event carrying ``output``), ``<prefix>/cancel``
and ``<prefix>/file=<path>`` (``file_body`` bytes, or a redirect to ``file_redirect``).
One endpoint, ``/predict(text)``. Records every request (method, path, headers).

``Recorder`` is a plain server that records whatever reaches it (the "elsewhere" a hostile
node points at) and answers 200 with a small body.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote, urlsplit


class _Base:
    def __init__(self, handler):
        self.requests: list[dict] = []
        self.lock = threading.Lock()
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.httpd.daemon_threads = True
        self.httpd.owner = self
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_port}"

    def record(self, handler) -> None:
        with self.lock:
            self.requests.append({"method": handler.command, "path": handler.path,
                                  "headers": {k.lower(): v for k, v in handler.headers.items()}})

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()


class _Quiet(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def reply(self, status: int, body: bytes = b"", content_type: str = "application/json", **headers) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in headers.items():
            self.send_header(name.replace("_", "-"), value)
        self.end_headers()
        self.wfile.write(body)


class _RecorderHandler(_Quiet):
    def _any(self):
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.server.owner.record(self)
        self.reply(200, b'{"ok": true}')

    do_GET = do_POST = _any


class Recorder(_Base):
    """Records every request that reaches it."""

    def __init__(self):
        super().__init__(_RecorderHandler)


class _GradioHandler(_Quiet):
    def do_GET(self):
        app = self.server.owner
        app.record(self)
        path = urlsplit(self.path).path
        api = "/app" + app.api_prefix if app.api_prefix.startswith("/") else None
        if path == "/app/config":
            self.reply(200, json.dumps(app.config()).encode())
        elif api and path == f"{api}/info":
            self.reply(200, json.dumps(app.info()).encode())
        elif api and path == f"{api}/queue/data":
            event = {"msg": "process_completed", "event_id": "event-1", "success": True,
                     "output": {"data": [app.output], "is_generating": False}}
            body = b"data: " + json.dumps(event).encode() + b"\n\n"
            self.reply(200, body, "text/event-stream")
        elif api and path.startswith(f"{api}/file="):
            app.files_asked.append(unquote(path[len(f"{api}/file="):]))
            if app.file_redirect:
                self.reply(302, b"", "text/plain", Location=app.file_redirect)
            else:
                self.reply(200, app.file_body, "application/octet-stream")
        else:
            self.reply(404, b'{"detail": "Not Found"}')

    def do_POST(self):
        app = self.server.owner
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        app.record(self)
        path = urlsplit(self.path).path
        api = "/app" + app.api_prefix
        if path == f"{api}/queue/join":
            self.reply(200, b'{"event_id": "event-1"}')
        elif path == f"{api}/upload":
            self.reply(200, b'["/tmp/gradio/uploaded.bin"]')
        elif path in (f"{api}/cancel", f"{api}/reset"):
            self.reply(200, b"{}")
        else:
            self.reply(404, b'{"detail": "Not Found"}')


class ScriptedGradio(_Base):
    """``ScriptedGradio(api_prefix="/gradio_api", output=..., file_body=b"...", file_redirect=None)``;
    ``app_url`` is the app's base URL."""

    def __init__(self, *, api_prefix: str = "/gradio_api", output=None, file_body: bytes = b"result",
                 file_redirect: str | None = None):
        super().__init__(_GradioHandler)
        self.api_prefix = api_prefix
        self.output = output if output is not None else "done"
        self.file_body = file_body
        self.file_redirect = file_redirect
        self.files_asked: list[str] = []

    @property
    def app_url(self) -> str:
        return self.url + "/app/"

    def config(self) -> dict:
        return {"version": "5.9.1", "protocol": "sse_v3", "api_prefix": self.api_prefix,
                "connect_heartbeat": False, "enable_queue": True,
                "components": [{"id": 1, "type": "textbox", "props": {}},
                               {"id": 2, "type": "file", "props": {},
                                "api_info": {"$ref": "#/$defs/FileData",
                                             "$defs": {"FileData": {"type": "object",
                                                                    "properties": {"path": {"type": "string"}}}}}}],
                "dependencies": [{"id": 0, "api_name": "predict", "inputs": [1], "outputs": [2], "backend_fn": True,
                                  "queue": True, "cancels": [], "types": {"generator": False, "cancel": False},
                                  "api_visibility": "public"}]}

    def info(self) -> dict:
        return {"named_endpoints": {"/predict": {
            "parameters": [{"label": "text", "parameter_name": "text", "parameter_has_default": False,
                            "parameter_default": None, "type": {"type": "string"},
                            "python_type": {"type": "str", "description": ""}, "component": "Textbox"}],
            "returns": [{"label": "file", "type": {"type": "object"}, "python_type": {"type": "filepath",
                                                                                       "description": ""},
                         "component": "File"}]}},
            "unnamed_endpoints": {}}
