"""The ``analyze`` task: a vision model's description of an image when one is
configured (VISION_URL or a leased node), else an honest report from local engines."""

from render_core.plugin import JobError, Schema, String, Task, TextOutput, Url, hookimpl

from .settings import SETTINGS, WORKLOAD

#: The plugin API versions this plugin works with (render_core.plugin.PLUGIN_API_VERSION).
C3_RENDER_PLUGIN_API = ">=1.0,<2"

SCHEMA = Schema({
    "image_url": Url(required=True, description="URL of the image to analyze (JPEG, PNG, GIF, WebP, ...)."),
    "prompt": String(max_length=2000, description=(
        "What to ask the vision model about the image (default: a detailed description). "
        "The local CPU engine cannot follow a prompt; its result metadata says so.")),
}, description="Analyze an image.")


def run(ctx, params):
    """Download the image, then ask the vision model or run the local engines."""
    from . import vision

    remote = vision.url_configured() or not ctx.node.local
    settings = vision.VisionSettings.from_env() if remote else None  # a bad setting fails before the download
    path = ctx.download(params["image_url"])
    ctx.progress(0.1, "image downloaded")
    if settings is None:
        return _run_local(ctx, path, params.get("prompt"))
    return _run_remote(ctx, path, params.get("prompt"), settings, vision.choose_endpoint(settings, ctx.node))


def _run_remote(ctx, path, prompt, settings, endpoint):
    """Send a downscaled JPEG and the prompt to the vision model; its answer is the result."""
    from . import engine, vision

    ctx.check()
    try:
        jpeg = vision.encode_image(path)
    except engine.BadImage as exc:
        raise JobError(str(exc)) from None
    except engine.EngineSetupError as exc:
        raise JobError(f"the analysis engine is misconfigured on this worker: {exc}") from None
    question = (prompt or "").strip() or settings.prompt
    ctx.progress(0.2, "asking the vision model")
    ctx.check()
    timeout_s = min(settings.timeout_s, ctx.remaining())
    with ctx.node_session() as session, ctx.stage("inference"):
        try:
            answer = vision.describe(session, endpoint, settings, question, jpeg, timeout_s)
        except JobError:
            raise
        except Exception:
            ctx.check()  # out of time or cancelled while waiting: that outcome wins
            raise
    ctx.check()
    return TextOutput(answer, metadata={"engine": "vision", "protocol": settings.protocol,
                                        "model": settings.model, "prompt": question})


def _run_local(ctx, path, prompt):
    """The offline CPU engines; they cannot follow a prompt, and the metadata says so."""
    from . import engine

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
    metadata = {"engine": "local", "facts": analysis.facts}
    if prompt and prompt.strip():
        metadata["prompt_used"] = False
        metadata["prompt_note"] = ("the prompt was not used: the local engine cannot follow a prompt; "
                                   "a vision model (VISION_URL or a vision node) is needed for that")
    return TextOutput(analysis.text, metadata=metadata)


@hookimpl
def c3_render_tasks():
    # ANALYZE_WORKLOAD (e.g. ollama_webui:fast) makes analyze lease a vision node from the pool.
    return [Task(name="analyze", schema=SCHEMA, run=run, output="text", workload=WORKLOAD.read() or None,
                 summary="Analyze an image (vision model description, or format, colours, sharpness, faces, text)")]


@hookimpl
def c3_render_settings():
    return SETTINGS
