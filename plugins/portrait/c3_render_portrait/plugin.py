"""The ``portrait`` task: a talking-portrait video from an image and an audio track."""

from render_core.plugin import FileOutput, JobError, Schema, Task, Url, hookimpl

#: The plugin API versions this plugin works with (render_core.plugin.PLUGIN_API_VERSION).
C3_RENDER_PLUGIN_API = ">=1.0,<2"

SCHEMA = Schema({
    "image_url": Url(required=True, description="URL of the portrait image (a clearly visible face)."),
    "audio_url": Url(required=True, description="URL of the speech that drives the animation."),
}, description="Create a talking-portrait video.")


def run(ctx, params):
    """Animate the portrait on the local engine, or with SONIC on a GPU node's ComfyUI; the result is an MP4."""
    if not ctx.node.local:
        from . import remote

        image = ctx.download(params["image_url"])
        audio = ctx.download(params["audio_url"])
        return remote.render_on_node(ctx, image, audio)
    return _run_local(ctx, params)


def _run_local(ctx, params):
    """Animate the portrait on the local CPU engine."""
    from . import engine

    image = ctx.download(params["image_url"])
    audio = ctx.download(params["audio_url"])
    out = ctx.work_dir / f"{ctx.job_id}.mp4"
    with ctx.stage("inference"):
        try:
            result = engine.render_portrait(image, audio, out, should_stop=ctx.should_stop,
                                            progress=lambda f, m: ctx.progress(0.1 + 0.85 * f, m))
        except engine.Aborted:
            ctx.check()
            raise
        except engine.PortraitError as exc:
            raise JobError(str(exc)) from None
    return FileOutput(result.path, "video/mp4", metadata=result.metadata())


@hookimpl
def c3_render_tasks():
    return [Task(name="portrait", schema=SCHEMA, run=run, output="media", workload="media:fast",
                 summary="Talking-portrait video (MP4)")]
