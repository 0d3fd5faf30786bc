"""A third-party plugin, installed like any other: two tasks.

``echo`` returns its message as text, ``echo-file`` as a stored file; both can work for
``seconds`` while checking for cancellation, and can fail on request, so tests
can drive every outcome of the job lifecycle.
"""

import time

from render_core.plugin import (Boolean, FileOutput, JobError, Number, Schema, String, Task, TextOutput, Url,
                                hookimpl)

SCHEMA = Schema({
    "message": String(required=True, min_length=1, max_length=1000),
    "seconds": Number(default=0, minimum=0, maximum=600, description="Work this long (s), checking for cancel."),
    "fail": String(description="Fail with this message."),
    "ignore_cancel": Boolean(default=False, description="Work without checking the context (time limit test)."),
    "input_url": Url(description="Download this URL and append its size in bytes."),
})


def run(ctx, params):
    message = params["message"]
    if params["input_url"]:
        path = ctx.download(params["input_url"])
        message += f" ({path.stat().st_size} bytes)"
    with ctx.stage("inference"):
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
            Task(name="echo-file", schema=SCHEMA, run=run, output="media", summary="Echo a message as a file")]
