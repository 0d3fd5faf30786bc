"""The ``portrait`` task on a GPU node: SONIC on the node's ComfyUI (docs/protocols.md, "ComfyUI").

Steps: wait until ComfyUI answers, upload the prepared image and audio, submit the
SONIC graph, follow the prompt through the queue (reporting progress), then download
the video. A stop request (cancel or deadline) interrupts or dequeues the prompt.
"""

from __future__ import annotations

import time
import uuid
import zlib
from pathlib import Path

from render_core.plugin import FileOutput, JobError, NodeAppError, NodeError

from .comfy_client import ComfyClient, QueueState, StopRequested
from .errors import Aborted, PortraitError
from .remote_inputs import PreparedAudio, PreparedImage, prepare_audio, prepare_image
from .sonic_graph import SONIC_FPS, SonicInputs, build_sonic_graph

#: Longest wait (seconds) for ComfyUI to answer ``/system_stats`` before the node counts as broken.
READY_TIMEOUT_S = 300.0
#: Consecutive failed status polls tolerated before the node counts as gone.
MAX_POLL_FAILURES = 3
#: Consecutive polls on which the prompt is neither queued nor in the history before it counts as lost.
MAX_MISSING_POLLS = 3
#: Largest seed passed to the SONIC sampler.
MAX_SEED = 2**31 - 1


def render_on_node(ctx, image_path: Path, audio_path: Path) -> FileOutput:
    """Render the portrait on ``ctx.node``'s ComfyUI; returns the MP4 as a FileOutput.

    Raises JobError (bad inputs, graph refused), NodeAppError (the render failed on the node,
    or the node answered something unusable), NodeError (the node unreachable) or the core's
    cancellation/deadline exception via ``ctx.check()``.
    """
    image, audio = _prepare_inputs(ctx, image_path, audio_path)
    with ctx.node_session() as session, ctx.stage("inference"):
        client = ComfyClient(session, ctx.node.url_for("ui"), ctx.max_download_bytes)
        wait_until_ready(ctx, client)
        ctx.progress(0.05, "uploading the image and audio to the node")
        token = uuid.uuid4().hex[:12]
        image_name = client.upload(image.path, f"c3-{token}-portrait.jpg")
        audio_name = client.upload(audio.path, f"c3-{token}-speech.flac")
        graph = build_sonic_graph(SonicInputs(
            image=image_name, audio=audio_name, width=image.frame_width, height=image.frame_height,
            duration=audio.duration_seconds, seed=zlib.crc32(ctx.job_id.encode()) % MAX_SEED,
            filename_prefix=f"c3_portrait_{token}"))
        ctx.check()
        prompt_id = client.submit(graph.prompt, client_id=uuid.uuid4().hex)
        ctx.log.info("portrait prompt %s submitted to %s", prompt_id, ctx.node.instance_id)
        entry = follow_prompt(ctx, client, prompt_id)
        ctx.progress(0.95, "downloading the video")
        dest = ctx.work_dir / f"{ctx.job_id}.mp4"
        try:
            client.download(_video_output(entry, graph.output_node), dest, ctx.should_stop)
        except StopRequested:
            ctx.check()
            raise
    _check_is_mp4(dest)
    return FileOutput(dest, "video/mp4", metadata={
        "width": image.frame_width, "height": image.frame_height, "fps": SONIC_FPS,
        "duration_seconds": round(audio.duration_seconds, 3), "engine": "sonic", "prompt_id": prompt_id,
    })  # fmt: skip


def _prepare_inputs(ctx, image_path: Path, audio_path: Path) -> tuple[PreparedImage, PreparedAudio]:
    """Checked, upload-ready image and audio; user errors become JobError."""
    try:
        image = prepare_image(image_path, ctx.work_dir, ctx.should_stop)
        ctx.check()
        return image, prepare_audio(audio_path, ctx.work_dir, ctx.should_stop)
    except Aborted:
        ctx.check()
        raise
    except PortraitError as exc:
        raise JobError(str(exc)) from None


def wait_until_ready(ctx, client: ComfyClient) -> None:
    """Poll ``/system_stats`` every ``ctx.poll_interval`` s until 200, at most READY_TIMEOUT_S.

    Stops (``ctx.check()``) on cancel or deadline; raises NodeError when the node never gets ready.
    """
    ctx.progress(0.01, "waiting for the node's ComfyUI")
    give_up_at = time.monotonic() + READY_TIMEOUT_S
    while not client.is_ready():
        ctx.check()
        if time.monotonic() >= give_up_at:
            raise NodeError(f"ComfyUI on the node did not become ready within {READY_TIMEOUT_S:g} s")
        time.sleep(min(ctx.poll_interval, max(0.0, ctx.remaining())))
    ctx.check()


def follow_prompt(ctx, client: ComfyClient, prompt_id: str) -> dict:
    """Poll history and queue every ``ctx.poll_interval`` s until the prompt ends; returns its history entry.

    Reports the queue position and running state through ``ctx.progress``. On a stop
    request the prompt is interrupted (running) or removed from the queue (pending).
    """
    reporter = _StateReporter(ctx)
    failures = missing = 0
    while True:
        if ctx.should_stop():
            _cancel(ctx, client, prompt_id)
            ctx.check()
        try:
            entry = client.history(prompt_id)
            state = client.queue() if entry is None else None
            failures = 0
        except NodeError:
            failures += 1
            if failures >= MAX_POLL_FAILURES:
                raise
        else:
            if entry is not None:
                return _finished(entry, prompt_id)
            if prompt_id in state.running or prompt_id in state.pending:
                missing = 0
                reporter.report(prompt_id, state)
            else:
                missing += 1
                if missing >= MAX_MISSING_POLLS:
                    raise NodeAppError(f"ComfyUI lost the render (prompt {prompt_id} is neither queued nor finished)")
        time.sleep(ctx.poll_interval)


class _StateReporter:
    """Sends progress only when the prompt's place in the queue changes."""

    def __init__(self, ctx):
        self.ctx = ctx
        self.last: tuple | None = None

    def report(self, prompt_id: str, state: QueueState) -> None:
        ahead = state.ahead_of(prompt_id)
        current = ("queued", ahead) if ahead is not None else ("running",)
        if current == self.last:
            return
        self.last = current
        if ahead is not None:
            self.ctx.progress(0.1, f"queued on the node ({ahead} ahead)")
        else:
            self.ctx.progress(0.2, "rendering on the node")


def _cancel(ctx, client: ComfyClient, prompt_id: str) -> None:
    """Best effort: interrupt the prompt if it runs, else remove it from the queue."""
    try:
        state = client.queue()
        if prompt_id in state.running:
            client.interrupt(prompt_id)
        elif prompt_id in state.pending:
            client.delete_pending(prompt_id)
    except (NodeError, JobError) as exc:
        ctx.log.warning("could not stop prompt %s on the node: %s", prompt_id, exc)


def _finished(entry: dict, prompt_id: str) -> dict:
    """The history entry of a successful prompt; failures raise NodeAppError."""
    status = entry.get("status") if isinstance(entry.get("status"), dict) else {}
    messages = [m for m in status.get("messages") or [] if isinstance(m, list) and len(m) == 2]
    for event, data in messages:
        if event == "execution_error" and isinstance(data, dict):
            node = f"{data.get('node_type') or 'a node'} (node {data.get('node_id', '?')})"
            message = str(data.get("exception_message") or data.get("exception_type") or "no message").strip()
            raise NodeAppError(f"the render failed in {node}: {message}")
    if any(event == "execution_interrupted" for event, _ in messages):
        raise NodeAppError(f"the render (prompt {prompt_id}) was interrupted on the node")
    if status.get("status_str") == "error":
        raise NodeAppError(f"the render (prompt {prompt_id}) failed on the node without an error message")
    return entry


def _video_output(entry: dict, output_node: str) -> dict:
    """``outputs[<VHS_VideoCombine id>]["gifs"][0]`` of a finished prompt."""
    outputs = entry.get("outputs") if isinstance(entry.get("outputs"), dict) else {}
    files = (outputs.get(output_node) or {}).get("gifs") if isinstance(outputs.get(output_node), dict) else None
    if not files or not isinstance(files[0], dict) or not files[0].get("filename"):
        raise NodeAppError(f"the render finished but node {output_node} (VHS_VideoCombine) listed no video")
    return files[0]


def _check_is_mp4(path: Path) -> None:
    """NodeAppError unless ``path`` starts like an MP4 (an ``ftyp`` box)."""
    with open(path, "rb") as file:
        head = file.read(12)
    if len(head) < 12 or head[4:8] != b"ftyp":
        path.unlink(missing_ok=True)
        raise NodeAppError("the node returned a video file that is not an MP4")
