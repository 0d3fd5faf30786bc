"""One call to a Gradio app on a GPU node, for task plugins (``render_core.plugin.call_gradio``).

Every byte goes through the task's node session (the guarded HTTP client: address policy,
the node's auth headers, none of them on a redirect to another origin), each request has a
wall-clock deadline, file outputs are size-capped and land in the job's work dir. The call
is followed on the app's event stream and cancelled on the node when the task must stop.
Failures map to NodeError (the path to the node failed), NodeAppError (the app reported an
error or answered something unusable; the runner health-checks the node to decide) or
JobError (this side could not build the call). The protocol itself is
:class:`render_core.sdk.gradio_app.GradioApp`.
"""

from __future__ import annotations

import logging
import queue
import threading
import uuid
from pathlib import Path

from .errors import NodeAppError, NodeError
from .gradio_app import Endpoint, GradioApp, RequestTimeouts, TransferStopped

log = logging.getLogger(__name__)

SHORT_REQUEST_S = 30.0  # wall clock of one config, API description, queue or cancel request
CONNECT_TIMEOUT_S = 10.0  # TCP/TLS connect, per request
READ_TIMEOUT_S = 60.0  # between two reads; Gradio's event stream sends a heartbeat every 15 s
CANCEL_WAIT_S = 5.0  # longest wait for the node to acknowledge a cancel


def call_gradio(ctx, service: str, api_name: str, arguments: dict, *, download_dir: Path | None):
    """Run ``api_name`` of the node's ``service`` app with keyword ``arguments``; returns its outputs.

    A ``pathlib.Path`` argument is uploaded as a file. File outputs are downloaded into
    ``download_dir`` (their local paths are returned; each at most ``ctx.max_download_bytes``),
    or returned undownloaded as Gradio file dicts when ``download_dir`` is None. One output
    is returned alone, several as a tuple. Stops promptly on ``ctx.should_stop()``: the node
    is asked to cancel, then ``ctx.check()`` raises.
    """
    with ctx.node_session() as session:
        app = GradioApp(session, ctx.node.url_for(service), service=service, timeouts=_short(ctx))
        app.load()
        ctx.check()
        endpoint = app.endpoint(api_name)
        data = app.arguments(endpoint, arguments, lambda path: _upload(ctx, app, path))
        ctx.check()
        session_hash = uuid.uuid4().hex
        event_id = app.join(endpoint, data, session_hash)
        ctx.progress(0.15, f"running on the GPU node ({service})")
        output = _await_completion(ctx, app, endpoint, event_id, session_hash)

        def download(value: dict) -> str:
            return app.download(value, Path(download_dir), max_bytes=ctx.max_download_bytes,
                                timeouts=_long(ctx), should_stop=ctx.should_stop)

        try:
            return app.outputs(endpoint, output.get("data"), None if download_dir is None else download)
        except TransferStopped:
            ctx.check()
            raise


def _short(ctx) -> RequestTimeouts:
    return CONNECT_TIMEOUT_S, READ_TIMEOUT_S, max(1.0, min(SHORT_REQUEST_S, ctx.remaining()))


def _long(ctx) -> RequestTimeouts:
    """Uploads, downloads and the event stream: until the job's deadline."""
    return CONNECT_TIMEOUT_S, READ_TIMEOUT_S, max(1.0, ctx.remaining())


def _upload(ctx, app: GradioApp, path: Path) -> dict:
    ctx.check()
    return app.upload(path, _long(ctx))


def _await_completion(ctx, app: GradioApp, endpoint: Endpoint, event_id: str, session_hash: str) -> dict:
    """Follow the call on the event stream (read in a helper thread) until it completes; its output.

    Polls ``ctx.should_stop()`` every ``ctx.poll_interval`` s; on a stop request the node is
    asked to cancel the call and ``ctx.check()`` raises.
    """
    outcome: queue.Queue = queue.Queue()
    abandoned = threading.Event()
    timeouts = (CONNECT_TIMEOUT_S, READ_TIMEOUT_S, max(1.0, ctx.remaining() + CANCEL_WAIT_S))

    def read() -> None:
        events = app.events(session_hash, timeouts)
        try:
            for event in events:
                if abandoned.is_set():
                    return
                if event.get("event_id") not in (None, event_id):
                    continue
                if event.get("msg") in ("process_completed", "unexpected_error", "server_stopped", "close_stream"):
                    outcome.put(event)
                    return
            outcome.put({"msg": "stream_ended"})
        except BaseException as exc:  # handed to the waiting thread, which raises it
            outcome.put(exc)
        finally:
            events.close()

    reader = threading.Thread(target=read, name=f"gradio-events-{app.service}", daemon=True)
    reader.start()
    try:
        while True:
            try:
                item = outcome.get(timeout=ctx.poll_interval)
            except queue.Empty:
                if ctx.should_stop():
                    app.cancel(endpoint, event_id, session_hash, (CANCEL_WAIT_S, CANCEL_WAIT_S, CANCEL_WAIT_S))
                    ctx.check()
                continue
            return _completed(item, app.service)
    finally:
        abandoned.set()  # a reader still waiting ends at its next event or at the stream's deadline


def _completed(item, service: str) -> dict:
    """The output of a completed call; anything else raised as the error it stands for."""
    if isinstance(item, BaseException):
        raise item
    message = item.get("msg")
    if message == "server_stopped" or item.get("message") == "server_stopped":
        raise NodeError(f"the {service} service on the GPU node stopped while running the call")
    if message == "unexpected_error":
        detail = " ".join(str(item.get("message") or "no message").split())[:500]
        raise NodeAppError(f"{service} failed unexpectedly on the GPU node: {detail}")
    if message != "process_completed":
        raise NodeError(f"the {service} service on the GPU node closed the connection before finishing")
    output = item.get("output") if isinstance(item.get("output"), dict) else {}
    if not item.get("success", True) or "error" in output:
        detail = output.get("error") or "the app raised an error without a message (show_error is off)"
        raise NodeAppError(f"{service} failed on the GPU node: {detail}")
    return output
