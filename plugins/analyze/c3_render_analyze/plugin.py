"""The ``analyze`` task: an honest report of what an image contains."""

from render_core.plugin import JobError, Schema, Task, TextOutput, Url, hookimpl

SCHEMA = Schema({
    "image_url": Url(required=True, description="URL of the image to analyze (JPEG, PNG, GIF, WebP, ...)."),
}, description="Analyze an image.")


def run(ctx, params):
    """Download the image and describe it from what the local engines detect."""
    from . import engine

    path = ctx.download(params["image_url"])
    ctx.progress(0.1, "image downloaded")
    with ctx.stage("inference"):
        try:
            analysis = engine.analyze_image(path, should_stop=ctx.should_stop)
        except engine.BadImage as exc:
            raise JobError(str(exc)) from None
        except engine.EngineSetupError as exc:
            raise JobError(f"the analysis engine is misconfigured on this worker: {exc}") from None
        except engine.Aborted:
            ctx.check()
            raise
    return TextOutput(analysis.text, metadata={"engine": "local", "facts": analysis.facts})


@hookimpl
def c3_render_tasks():
    return [Task(name="analyze", schema=SCHEMA, run=run, output="text", workload=None,
                 summary="Analyze an image (format, colours, sharpness, faces, text)")]
