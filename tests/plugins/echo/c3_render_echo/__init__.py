"""A third-party plugin, installed like any other: three tasks.

``echo`` returns its message as text, ``echo-file`` as a stored file, ``echo-gpu`` after
calling its leased GPU node; all can work for
``seconds`` while checking for cancellation, and can fail on request, so tests
can drive every outcome of the job lifecycle.
"""

import time

import requests

from render_core.plugin import (Boolean, FileOutput, JobError, NodeError, Number, Schema, String, Task, TextOutput,
                                Url, hookimpl)

#: The plugin API versions this plugin works with (render_core.plugin.PLUGIN_API_VERSION).
C3_RENDER_PLUGIN_API = ">=1.0,<2"

SCHEMA = Schema({
    "message": String(required=True, min_length=1, max_length=1000),
    "seconds": Number(default=0, minimum=0, maximum=600, description="Work this long (s), checking for cancel."),
    "fail": String(description="Fail with this message."),
    "ignore_cancel": Boolean(default=False, description="Work without checking the context (time limit test)."),
    "input_url": Url(description="Download this URL and append its size in bytes."),
})


def run_on_node(ctx, params):
    """``echo-gpu``: keep calling the leased node's ``GET /`` for ``seconds``; a failing node is a NodeError."""
    session = ctx.node_session()
    end = time.monotonic() + params["seconds"]
    while True:
        ctx.check()
        try:
            answer = session.get(ctx.node.base_url.rstrip("/") + "/", timeout=5)
        except requests.RequestException as exc:
            raise NodeError(f"node {ctx.node.instance_id} stopped answering: {exc}") from exc
        if answer.status_code >= 500:
            raise NodeError(f"node {ctx.node.instance_id} answered HTTP {answer.status_code}")
        if time.monotonic() >= end:
            return TextOutput(f"{params['message']} on {ctx.node.instance_id}",
                              metadata={"instance": ctx.node.instance_id})
        time.sleep(0.1)


def run(ctx, params):
    message = params["message"]
    if params["input_url"]:
        path = ctx.download(params["input_url"])
        message += f" ({path.stat().st_size} bytes)"
    with ctx.stage("inference"):
        if params["seconds"]:
            (ctx.work_dir / "working").touch()  # tests watch the work dir appear and go
        end = time.monotonic() + params["seconds"]
        while time.monotonic() < end:
            if not params["ignore_cancel"]:
                ctx.check()
            ctx.progress(1 - (end - time.monotonic()) / max(params["seconds"], 1e-9), "working")
            time.sleep(0.05)
    if params["fail"]:
        raise JobError(params["fail"])
    if ctx.task == "echo-file":
        path = ctx.work_dir / "echo.txt"
        path.write_text(message)
        return FileOutput(path, "text/plain; charset=utf-8", metadata={"length": len(message)})
    return TextOutput(message, metadata={"length": len(message)})


@hookimpl
def c3_render_tasks():
    return [Task(name="echo", schema=SCHEMA, run=run, output="text", summary="Echo a message"),
            Task(name="echo-file", schema=SCHEMA, run=run, output="media", summary="Echo a message as a file"),
            Task(name="echo-gpu", schema=SCHEMA, run=run_on_node, output="text", workload="media:fast",
                 summary="Echo a message after working on a leased GPU node")]
