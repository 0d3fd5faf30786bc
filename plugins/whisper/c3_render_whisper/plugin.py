"""The ``whisper`` task: speech to text."""

from render_core.plugin import JobError, Schema, String, Task, TextOutput, Url, hookimpl

from .settings import SETTINGS

#: The plugin API versions this plugin works with (render_core.plugin.PLUGIN_API_VERSION).
C3_RENDER_PLUGIN_API = ">=1.0,<2"

MODELS = ("tiny", "base", "small", "medium", "large", "large-v2", "large-v3")

SCHEMA = Schema({
    "audio_url": Url(required=True, description="URL of the audio (or video) to transcribe."),
    "model": String(default="medium", choices=MODELS, description="Whisper model size."),
    "task": String(default="transcribe", choices=("transcribe", "translate"),
                   description="transcribe, or translate to English."),
    "language": String(default="", max_length=32, description="Language code; empty = detect."),
}, description="Transcribe audio.")


def run(ctx, params):
    """Transcribe on the GPU node's Whisper app, or on the local engine; the result is text."""
    if not ctx.node.local:
        from . import remote

        return remote.transcribe(ctx, params)
    from . import engine

    path = ctx.download(params["audio_url"])
    ctx.progress(0.1, "audio downloaded")
    with ctx.stage("inference"):
        try:
            transcript = engine.get_engine().transcribe(
                path, requested_model=params["model"], task=params["task"], language=params["language"],
                should_stop=ctx.should_stop, on_progress=lambda f: ctx.progress(0.1 + 0.85 * f, "transcribing"))
        except engine.Aborted:
            ctx.check()
            raise
        except engine.TranscriptionError as exc:
            raise JobError(str(exc)) from None
    return TextOutput(transcript.text, metadata=transcript.metadata())


@hookimpl
def c3_render_tasks():
    return [Task(name="whisper", schema=SCHEMA, run=run, output="text", workload="media:fast",
                 summary="Speech to text")]


@hookimpl
def c3_render_settings():
    return SETTINGS
