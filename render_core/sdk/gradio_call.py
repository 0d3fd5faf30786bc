"""One call to a Gradio app on a GPU node, for task plugins (``render_core.plugin.call_gradio``).

The node's auth headers go on every request, connecting is bounded, the job is
polled at ``ctx.poll_interval`` and cancelled on the node when the task must stop,
and failures map to NodeError (the node or the path to it failed) or JobError
(the app refused the input). Needs ``gradio_client`` (a dependency of the plugins
that call it).
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import CancelledError
from pathlib import Path

from .errors import JobError, NodeError

CONNECT_BUDGET_S = 30.0  # whole client construction: config + API info requests
CONNECT_TIMEOUT_S = 10.0  # TCP/TLS connect, per request
READ_TIMEOUT_S = 60.0  # between two reads; Gradio's event stream sends a heartbeat every 15 s
CANCEL_WAIT_S = 5.0  # longest wait for the node to acknowledge a cancel


def call_gradio(ctx, service: str, api_name: str, arguments: dict, *, download_dir: Path | None):
    """Run ``api_name`` of the node's ``service`` app with keyword ``arguments``; returns its outputs.

    File outputs are downloaded into ``download_dir`` (their local paths are returned),
    or returned undownloaded as Gradio file dicts when ``download_dir`` is None.
    Stops promptly on ``ctx.should_stop()``: the node is asked to cancel, then ``ctx.check()`` raises.
    """
    url = ctx.node.url_for(service)
    client = _connect(ctx, service, url, download_dir)
    try:
        try:
            job = client.submit(api_name=api_name, **arguments)
        except Exception as exc:  # wrong api name or arguments: the node runs another app version
            raise NodeError(f"the {service} service at {url} does not accept the call {api_name}: {exc}") from exc
        ctx.progress(0.15, f"running on the GPU node ({service})")
        while not job.done():
            if ctx.should_stop():
                _cancel(ctx, job)
                ctx.check()
            time.sleep(ctx.poll_interval)
        return _outcome(job, service, url)
    finally:
        _close(client)


def _gradio_client_class():
    from gradio_client import Client

    class NodeClient(Client):
        """gradio_client.Client without Hugging Face telemetry (its ``analytics_enabled=False`` is ignored)."""

        def _telemetry_thread(self) -> None:
            pass

    return NodeClient


def _connect(ctx, service: str, url: str, download_dir: Path | None):
    """Build a gradio_client Client for ``url`` (it fetches the app's config), within CONNECT_BUDGET_S seconds."""
    import httpx

    client_class = _gradio_client_class()
    state: dict = {}
    lock = threading.Lock()

    def build() -> None:
        try:
            client = client_class(
                url, headers=dict(ctx.node.headers), token=False, verbose=False, analytics_enabled=False,
                download_files=str(download_dir) if download_dir is not None else False,
                httpx_kwargs={"timeout": httpx.Timeout(READ_TIMEOUT_S, connect=CONNECT_TIMEOUT_S),
                              "trust_env": False})
        except Exception as exc:
            state["error"] = exc
            return
        with lock:
            if state.get("abandoned"):
                _close(client)
            else:
                state["client"] = client

    thread = threading.Thread(target=build, name=f"gradio-connect-{service}", daemon=True)
    thread.start()
    give_up_at = time.monotonic() + CONNECT_BUDGET_S
    try:
        while thread.is_alive():
            ctx.check()
            if time.monotonic() >= give_up_at:
                raise NodeError(f"the {service} service at {url} did not answer within {CONNECT_BUDGET_S:g} s")
            thread.join(ctx.poll_interval)
    except BaseException:
        with lock:
            state["abandoned"] = True
            if "client" in state:
                _close(state["client"])
        raise
    if "error" in state:
        error = state["error"]
        raise NodeError(f"cannot reach the {service} service at {url}: {_describe(error)}") from error
    return state["client"]


def _close(client) -> None:
    """Stop the client's heartbeat and let its worker threads end (they are not reused)."""
    client.close()
    for pool in (client.executor, client.helper_executor, client.stream_executor):
        pool.shutdown(wait=False, cancel_futures=True)


def _cancel(ctx, job) -> None:
    """Ask the node to cancel ``job``; waits at most CANCEL_WAIT_S seconds for the request."""
    def cancel() -> None:
        try:
            job.cancel()
        except Exception as exc:  # the job is abandoned either way
            ctx.log.warning("could not cancel the job on the GPU node: %s", _describe(exc))

    thread = threading.Thread(target=cancel, name="gradio-cancel", daemon=True)
    thread.start()
    thread.join(CANCEL_WAIT_S)


def _outcome(job, service: str, url: str):
    """The finished job's outputs; a Gradio app error becomes JobError, anything else NodeError."""
    from gradio_client.exceptions import AppError, ValidationError

    try:
        return job.result()
    except AppError as exc:
        raise JobError(f"{service} failed on the GPU node: {exc.message}") from None
    except ValidationError as exc:
        raise JobError(f"{service} on the GPU node refused the request: {exc}") from None
    except CancelledError:
        raise NodeError(f"the {service} service at {url} closed the connection before finishing") from None
    except Exception as exc:
        raise NodeError(f"the {service} service at {url} failed: {_describe(exc)}") from exc


def _describe(exc: BaseException) -> str:
    """A short description of a client-side failure (HTTP status when there is one)."""
    import httpx

    if isinstance(exc, httpx.HTTPStatusError):
        return f"HTTP {exc.response.status_code} from {exc.request.url}"
    if isinstance(exc, httpx.TimeoutException):
        return f"timed out ({type(exc).__name__})"
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
