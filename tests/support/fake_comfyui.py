"""A fake ComfyUI server on 127.0.0.1 that speaks docs/protocols.md, "ComfyUI", and checks what it is sent.

It stores uploads under a name different from the one sent (stricter than a real server),
validates submitted SONIC graphs (node classes, links and their output types, upload
names, frame size and audio duration), moves prompts through a queue driven by the
client's ``/history`` polls, renders a real H.264/AAC MP4 still video with the bundled
ffmpeg, and records interrupts and queue deletions. Knobs (attributes) make it fail:
``fail_with`` (execution_error), ``hang`` (run until interrupted), ``die_after_running_polls``
with ``die_mode`` ("close" or "502"), ``ready_after`` (system_stats not ready),
``checkpoints`` (models the node has).
"""

from __future__ import annotations

import email.parser
import email.policy
import json
import subprocess
import tempfile
import threading
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from PIL import Image, ImageOps

from support.media import probe

API_KEY = "fake-node-key"
MAX_FRAME = (1280, 720)
ASPECT_TOLERANCE = 0.01
DURATION_TOLERANCE_S = 0.1
MIN_DURATION_S = 1.0


# ---------------------------------------------------------------- what a valid SONIC graph looks like

@dataclass(frozen=True)
class Link:
    """An input fed by ``[node_id, output_index]`` of a node whose output has this type."""
    type: str


@dataclass(frozen=True)
class Const:
    value: object


@dataclass(frozen=True)
class Typed:
    types: tuple


@dataclass(frozen=True)
class Upload:
    """A file name that must have been uploaded (``subfolder/name`` when it has a subfolder)."""
    kind: str


@dataclass(frozen=True)
class NodeType:
    inputs: dict
    outputs: tuple
    output_node: bool = False


NUMBER = Typed((int, float))
NODE_TYPES = {
    "LoadImage": NodeType({"image": Upload("image")}, ("IMAGE", "MASK")),
    "LoadAudio": NodeType({"audio": Upload("audio")}, ("AUDIO",)),
    "ImageResize+": NodeType({
        "image": Link("IMAGE"), "width": Typed((int,)), "height": Typed((int,)), "interpolation": Const("nearest"),
        "method": Const("stretch"), "condition": Const("always"), "multiple_of": Const(0)}, ("IMAGE", "INT", "INT")),
    "ImageOnlyCheckpointLoader": NodeType({"ckpt_name": Typed((str,))}, ("MODEL", "CLIP_VISION", "VAE")),
    "SONICTLoader": NodeType({
        "model": Link("MODEL"), "sonic_unet": Const("unet.pth"), "ip_audio_scale": Const(1),
        "use_interframe": Const(True), "dtype": Const("bf16")}, ("MODEL_SONIC", "DTYPE")),
    "SONIC_PreData": NodeType({
        "clip_vision": Link("CLIP_VISION"), "vae": Link("VAE"), "audio": Link("AUDIO"), "image": Link("IMAGE"),
        "weight_dtype": Link("DTYPE"), "min_resolution": Const(576), "duration": NUMBER,
        "expand_ratio": Const(1)}, ("SONIC_PREDATA",)),
    "SONICSampler": NodeType({
        "model": Link("MODEL_SONIC"), "data_dict": Link("SONIC_PREDATA"), "seed": Typed((int,)),
        "inference_steps": Const(25), "dynamic_scale": Const(1), "fps": Const(24)}, ("IMAGE", "FLOAT")),
    "VHS_VideoCombine": NodeType({
        "images": Link("IMAGE"), "frame_rate": Link("FLOAT"), "audio": Link("AUDIO"), "loop_count": Const(0),
        "pingpong": Const(False), "format": Const("video/h264-mp4"), "pix_fmt": Const("yuv420p"), "crf": Const(19),
        "trim_to_audio": Const(True), "save_output": Const(True), "filename_prefix": Typed((str,))},
        ("VHS_FILENAMES",), output_node=True),
}


# ---------------------------------------------------------------- server state

@dataclass
class StoredFile:
    path: Path
    sent_name: str


@dataclass
class Prompt:
    id: str
    number: int
    graph: dict
    client_id: str
    state: str = "pending"  # pending | running | success | error | interrupted | deleted
    polls: int = 0
    running_polls: int = 0
    history: dict = field(default_factory=dict)


class FakeComfyUI:
    """The server; use as a context manager. ``url`` is its base URL (no trailing slash)."""

    def __init__(self, work_dir: Path | None = None, api_key: str = API_KEY):
        self.api_key = api_key
        self._tmp = tempfile.TemporaryDirectory(prefix="fake-comfyui-") if work_dir is None else None
        root = Path(work_dir or self._tmp.name)
        self.input_dir, self.output_dir = root / "input", root / "output"
        self.input_dir.mkdir(parents=True, exist_ok=True)
        self.output_dir.mkdir(parents=True, exist_ok=True)
        # knobs
        self.pending_polls = 1          # history polls spent pending (None: forever)
        self.running_polls = 2          # history polls spent running before finishing
        self.hang = False               # stay running until interrupted
        self.fail_with: str | None = None  # exception_message of an execution_error
        self.die_after_running_polls: int | None = None
        self.die_mode = "close"         # "close" (drop connections) or "502"
        self.ready_after: int | None = 0  # system_stats calls answered 503 first (None: never ready)
        self.checkpoints = ["svd_xt.safetensors"]
        # records
        self.lock = threading.Lock()
        self.uploads: dict[str, StoredFile] = {}
        self.prompts: dict[str, Prompt] = {}
        self.requests: list[dict] = []
        self.refused: list[str] = []
        self.interrupts: list[dict] = []
        self.deleted: list[str] = []
        self.rejections: list[dict] = []
        self.system_stats_calls = 0
        self.dead = False
        self.seen_running = threading.Event()
        self.seen_pending = threading.Event()
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_port}"

    def __enter__(self) -> "FakeComfyUI":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        if self._tmp:
            self._tmp.cleanup()

    # ------------------------------------------------------------ routes (called with self.lock held)

    def system_stats(self):
        self.system_stats_calls += 1
        if self.ready_after is None or self.system_stats_calls <= self.ready_after:
            return 503, {"error": "starting"}
        return 200, {"system": {"os": "posix", "comfyui_version": "fake"}, "devices": []}

    def upload(self, fields: dict):
        if "image" not in fields or not isinstance(fields["image"], tuple):
            return 400, {"error": "no image field"}
        sent_name, data = fields["image"]
        subfolder = fields.get("subfolder", "")
        stem, dot, ext = Path(sent_name).name.partition(".")
        stored = f"{stem}_{len(self.uploads) + 1:05d}{dot}{ext}"  # differs from the sent name on purpose
        folder = self.input_dir / subfolder
        folder.mkdir(parents=True, exist_ok=True)
        (folder / stored).write_bytes(data)
        key = f"{subfolder}/{stored}" if subfolder else stored
        self.uploads[key] = StoredFile(folder / stored, sent_name)
        return 200, {"name": stored, "subfolder": subfolder, "type": fields.get("type", "input")}

    def submit(self, body: dict):
        graph = body.get("prompt") if isinstance(body, dict) else None
        node_errors = validate_graph(graph, self) if isinstance(graph, dict) else {"": ["no prompt object"]}
        if node_errors:
            answer = {"error": {"type": "prompt_outputs_failed_validation", "message": "Prompt outputs failed validation",
                                "details": "", "extra_info": {}},
                      "node_errors": {node_id: {"errors": [{"type": "invalid", "message": "invalid input",
                                                            "details": text, "extra_info": {}} for text in texts],
                                                "dependent_outputs": [],
                                                "class_type": (graph or {}).get(node_id, {}).get("class_type", "")}
                                      for node_id, texts in node_errors.items()}}
            self.rejections.append(answer)
            return 400, answer
        prompt = Prompt(id=str(uuid.uuid4()), number=len(self.prompts), graph=graph,
                        client_id=str(body.get("client_id", "")))
        self.prompts[prompt.id] = prompt
        return 200, {"prompt_id": prompt.id, "number": prompt.number, "node_errors": {}}

    def history(self, prompt_id: str):
        prompt = self.prompts.get(prompt_id)
        if prompt is None:
            return 200, {}
        prompt.polls += 1
        self._advance(prompt)
        return 200, ({prompt_id: prompt.history} if prompt.history else {})

    def queue(self):
        running = [p for p in self.prompts.values() if p.state == "running"]
        pending = [p for p in self.prompts.values() if p.state == "pending"]
        if running:
            self.seen_running.set()
        if pending:
            self.seen_pending.set()
            if not running:  # someone else's job runs ahead of ours
                running = [Prompt(id="someone-elses-job", number=-1, graph={}, client_id="other")]
        item = lambda p: [p.number, p.id, p.graph, {"client_id": p.client_id}, []]  # noqa: E731
        return 200, {"queue_running": [item(p) for p in running], "queue_pending": [item(p) for p in pending]}

    def interrupt(self, body):
        self.interrupts.append(body if isinstance(body, dict) else {})
        for prompt in self.prompts.values():
            if prompt.state == "running":
                prompt.state = "interrupted"
                prompt.history = _history(prompt, "error", {}, [["execution_interrupted", {
                    "prompt_id": prompt.id, "node_id": "7", "node_type": "SONICSampler", "executed": []}]])
        return 200, {}

    def queue_action(self, body):
        for prompt_id in (body or {}).get("delete") or []:
            self.deleted.append(prompt_id)
            prompt = self.prompts.get(prompt_id)
            if prompt and prompt.state == "pending":
                prompt.state = "deleted"
        return 200, {}

    def view(self, query: dict):
        name, subfolder = query.get("filename", [""])[0], query.get("subfolder", [""])[0]
        path = (self.output_dir / subfolder / name).resolve()
        if query.get("type", ["output"])[0] != "output" or self.output_dir.resolve() not in path.parents \
                or not path.is_file():
            return 404, None
        return 200, path

    # ------------------------------------------------------------ the render queue

    def _advance(self, prompt: Prompt) -> None:
        if prompt.state == "pending" and self.pending_polls is not None and prompt.polls > self.pending_polls:
            prompt.state = "running"
        elif prompt.state == "running":
            prompt.running_polls += 1
            if self.die_after_running_polls is not None and prompt.running_polls >= self.die_after_running_polls:
                self.dead = True
            elif not self.hang and prompt.running_polls >= self.running_polls:
                self._finish(prompt)

    def _finish(self, prompt: Prompt) -> None:
        if self.fail_with is not None:
            prompt.state = "error"
            prompt.history = _history(prompt, "error", {}, [["execution_error", {
                "prompt_id": prompt.id, "node_id": "6", "node_type": "SONIC_PreData", "executed": ["1", "2", "4"],
                "exception_message": self.fail_with, "exception_type": "Exception", "traceback": [],
                "current_inputs": {}, "current_outputs": {}}]])
            return
        out_id = _node_of(prompt.graph, "VHS_VideoCombine")
        name = f"{prompt.graph[out_id]['inputs']['filename_prefix']}_00001.mp4"
        self._render_still_video(prompt.graph, self.output_dir / name)
        prompt.state = "success"
        prompt.history = _history(prompt, "success", {out_id: {"gifs": [{
            "filename": name, "subfolder": "", "type": "output", "format": "video/h264-mp4", "frame_rate": 24.0}]}},
            [["execution_start", {"prompt_id": prompt.id}], ["execution_success", {"prompt_id": prompt.id}]])

    def _render_still_video(self, graph: dict, dest: Path) -> None:
        """An H.264/AAC MP4 of the uploaded image (at the ImageResize+ size) over the uploaded audio."""
        import imageio_ffmpeg

        resize = graph[_node_of(graph, "ImageResize+")]["inputs"]
        image = self.uploads[graph[_node_of(graph, "LoadImage")]["inputs"]["image"]].path
        audio = self.uploads[graph[_node_of(graph, "LoadAudio")]["inputs"]["audio"]].path
        subprocess.run([
            imageio_ffmpeg.get_ffmpeg_exe(), "-nostdin", "-loglevel", "error", "-y", "-loop", "1", "-framerate", "24",
            "-i", str(image), "-i", str(audio), "-vf", f"scale={resize['width']}:{resize['height']},format=yuv420p",
            "-c:v", "libx264", "-preset", "ultrafast", "-tune", "stillimage", "-c:a", "aac", "-shortest",
            str(dest)], check=True, capture_output=True)  # fmt: skip

    # ------------------------------------------------------------ facts about uploads

    def image_size(self, name: str) -> tuple[int, int]:
        with Image.open(self.uploads[name].path) as image:
            return ImageOps.exif_transpose(image).size

    def audio_seconds(self, name: str) -> float:
        return probe(self.uploads[name].path)["duration"] or 0.0


def _history(prompt: Prompt, status: str, outputs: dict, messages: list) -> dict:
    return {"prompt": [prompt.number, prompt.id, prompt.graph, {"client_id": prompt.client_id}, []],
            "outputs": outputs, "status": {"status_str": status, "completed": status == "success",
                                           "messages": messages}, "meta": {}}


def _node_of(graph: dict, class_type: str) -> str:
    return next(node_id for node_id, node in graph.items() if node.get("class_type") == class_type)


# ---------------------------------------------------------------- graph validation

def validate_graph(graph: dict, server: FakeComfyUI) -> dict[str, list[str]]:
    """Problems per node id (empty when the graph is a valid SONIC graph for the uploaded files)."""
    errors: dict[str, list[str]] = {}
    add = lambda node_id, text: errors.setdefault(node_id, []).append(text)  # noqa: E731
    for node_id, node in graph.items():
        node_type = NODE_TYPES.get(node.get("class_type")) if isinstance(node, dict) else None
        if node_type is None:
            add(node_id, f"unknown node class {node.get('class_type') if isinstance(node, dict) else node!r}")
            continue
        inputs = node.get("inputs") if isinstance(node.get("inputs"), dict) else {}
        for name, spec in node_type.inputs.items():
            if name not in inputs:
                add(node_id, f"Required input is missing: {name}")
            else:
                problem = _check_input(graph, spec, inputs[name], server)
                if problem:
                    add(node_id, f"{name}: {problem}")
    present = {node.get("class_type") for node in graph.values() if isinstance(node, dict)}
    for class_type in NODE_TYPES:
        if class_type not in present:
            add("", f"the graph has no {class_type} node")
    if not errors:
        _check_sonic_facts(graph, server, add)
    return errors


def _check_input(graph: dict, spec, value, server: FakeComfyUI) -> str | None:
    if isinstance(spec, Link):
        if not (isinstance(value, list) and len(value) == 2 and isinstance(value[0], str)
                and isinstance(value[1], int) and not isinstance(value[1], bool)):
            return f"expected a link [node_id, output_index], got {value!r}"
        source = graph.get(value[0])
        source_type = NODE_TYPES.get(source.get("class_type")) if isinstance(source, dict) else None
        if source_type is None:
            return f"links to missing or unknown node {value[0]!r}"
        if not 0 <= value[1] < len(source_type.outputs) or source_type.outputs[value[1]] != spec.type:
            return f"links to output {value[1]} of {source['class_type']}, which is not {spec.type}"
        return None
    if isinstance(spec, Const):
        return None if value == spec.value and type(value) is type(spec.value) else \
            f"expected {spec.value!r}, got {value!r}"
    if isinstance(spec, Typed):
        ok = isinstance(value, spec.types) and not isinstance(value, bool)
        return None if ok else f"expected {'/'.join(t.__name__ for t in spec.types)}, got {value!r}"
    if isinstance(spec, Upload):
        return None if isinstance(value, str) and value in server.uploads else f"{value!r} was not uploaded"
    return f"unsupported spec {spec!r}"


def _check_sonic_facts(graph: dict, server: FakeComfyUI, add) -> None:
    """Model present, frame size within 1280x720 with the image's aspect, duration = audio length."""
    loader = _node_of(graph, "ImageOnlyCheckpointLoader")
    ckpt = graph[loader]["inputs"]["ckpt_name"]
    if ckpt not in server.checkpoints:
        add(loader, f"Value not in list: ckpt_name: '{ckpt}' not in {server.checkpoints}")
    resize_id = _node_of(graph, "ImageResize+")
    resize = graph[resize_id]["inputs"]
    source = graph[resize["image"][0]]
    width, height = resize["width"], resize["height"]
    if not (0 < width <= MAX_FRAME[0] and 0 < height <= MAX_FRAME[1]):
        add(resize_id, f"frame {width}x{height} is not within {MAX_FRAME[0]}x{MAX_FRAME[1]}")
    if source["class_type"] == "LoadImage":
        image_w, image_h = server.image_size(source["inputs"]["image"])
        if abs((width / height) / (image_w / image_h) - 1) > ASPECT_TOLERANCE:
            add(resize_id, f"frame {width}x{height} does not keep the aspect of the {image_w}x{image_h} image")
    pre_id = _node_of(graph, "SONIC_PreData")
    pre = graph[pre_id]["inputs"]
    audio_node = graph[pre["audio"][0]]
    duration = pre["duration"]
    if duration < MIN_DURATION_S:
        add(pre_id, f"Value {duration} smaller than min of {MIN_DURATION_S}: duration")
    elif audio_node["class_type"] == "LoadAudio":
        expected = max(MIN_DURATION_S, server.audio_seconds(audio_node["inputs"]["audio"]))
        if abs(duration - expected) > DURATION_TOLERANCE_S:
            add(pre_id, f"duration {duration} s differs from the {expected:.2f} s audio")


# ---------------------------------------------------------------- HTTP plumbing

def _handler_for(server: FakeComfyUI):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):
            pass

        def do_GET(self):
            self._dispatch("GET")

        def do_POST(self):
            self._dispatch("POST")

        def _dispatch(self, method: str) -> None:
            parts = urlsplit(self.path)
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            with server.lock:
                server.requests.append({"method": method, "path": parts.path, "headers": dict(self.headers)})
                if server.dead:
                    return self._die()
                if not self._authorised():
                    server.refused.append(parts.path)
                    return self._send(401, {"error": "missing or wrong X-C3-API-KEY"})
                code, answer = self._route(method, parts.path, parse_qs(parts.query), body)
            if isinstance(answer, Path):
                return self._send_file(answer)
            self._send(code, answer)

        def _route(self, method, path, query, body):
            if method == "GET" and path == "/system_stats":
                return server.system_stats()
            if method == "POST" and path == "/upload/image":
                return server.upload(_multipart_fields(self.headers.get("Content-Type", ""), body))
            if method == "POST" and path == "/prompt":
                return server.submit(_json_or_none(body))
            if method == "GET" and path.startswith("/history/"):
                return server.history(path.removeprefix("/history/"))
            if method == "GET" and path == "/queue":
                return server.queue()
            if method == "POST" and path == "/queue":
                return server.queue_action(_json_or_none(body))
            if method == "POST" and path == "/interrupt":
                return server.interrupt(_json_or_none(body))
            if method == "GET" and path == "/view":
                return server.view(query)
            return 404, {"error": "not found"}

        def _authorised(self) -> bool:
            return self.headers.get("X-C3-API-KEY") == server.api_key or \
                self.headers.get("Authorization") == f"Bearer {server.api_key}"

        def _die(self) -> None:
            if server.die_mode == "502":
                return self._send(502, "<html><body>502 Bad Gateway</body></html>")
            self.close_connection = True  # no answer at all: the client sees the connection dropped

        def _send(self, code: int, answer) -> None:
            data = answer.encode() if isinstance(answer, str) else json.dumps(answer).encode()
            self.send_response(code)
            self.send_header("Content-Type", "text/html" if isinstance(answer, str) else "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _send_file(self, path: Path) -> None:
            data = path.read_bytes()
            self.send_response(200)
            self.send_header("Content-Type", "video/mp4")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    return Handler


def _json_or_none(body: bytes):
    try:
        return json.loads(body or b"null")
    except ValueError:
        return None


def _multipart_fields(content_type: str, body: bytes) -> dict:
    """Form fields of a multipart body: text fields as str, files as (filename, bytes)."""
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        f"Content-Type: {content_type}\r\n\r\n".encode() + body)
    fields = {}
    for part in message.iter_parts() if message.is_multipart() else ():
        name = part.get_param("name", header="content-disposition")
        data = part.get_payload(decode=True) or b""
        filename = part.get_filename()
        fields[name] = (filename, data) if filename is not None else data.decode()
    return fields
