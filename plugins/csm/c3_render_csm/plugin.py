"""The ``csm`` task: text to speech (CSM on a GPU node; a local neural voice on the CPU)."""

from render_core.plugin import (ExactlyOne, FileOutput, Integer, JobError, Number, RequiredWhen, Schema, String,
                                StringList, Task, Url, hookimpl)

from .settings import SETTINGS

#: The plugin API versions this plugin works with (render_core.plugin.PLUGIN_API_VERSION).
C3_RENDER_PLUGIN_API = ">=1.0,<2"

VOICES = ("random", "conversational_a", "conversational_b", "clone")

SCHEMA = Schema({
    "text": String(min_length=1, max_length=20_000, description="Text to speak (use text OR monologue)."),
    "monologue": StringList(max_items=200, item_max_length=2000,
                            description="Sentences to speak, with pauses between them (use text OR monologue)."),
    "voice": String(default="random", choices=VOICES, description="Voice; 'clone' copies reference_audio_url."),
    "reference_audio_url": Url(description="Reference audio for voice cloning (voice='clone')."),
    "reference_text": String(max_length=5000, description="Transcript of the reference audio (voice='clone')."),
    "temperature": Number(default=0.9, minimum=0.0, maximum=2.0, description="Sampling randomness."),
    "topk": Integer(default=50, minimum=1, maximum=100, description="Top-k tokens considered per step."),
    "max_audio_length": Integer(default=10_000, minimum=1000, maximum=30_000,
                                description="Maximum audio length per sentence in ms."),
    "pause_duration": Integer(default=150, minimum=0, maximum=1000, description="Pause between sentences in ms."),
}, rules=(
    ExactlyOne("text", "monologue",
               message="provide either text (a string) or monologue (an array of strings), not both"),
    RequiredWhen("voice", "clone", "reference_audio_url", "reference_text"),
), description="Generate speech.")


def sentences_of(params) -> list[str]:
    """The monologue, or the text as one sentence."""
    return list(params["monologue"]) if params["monologue"] is not None else [params["text"]]


def run(ctx, params):
    """Speak the sentences on the GPU node's CSM app, or on the local engine; the result is an MP3."""
    if not ctx.node.local:
        from . import remote

        return remote.synthesize(ctx, sentences_of(params), params)
    from . import engine

    if params["voice"] == "clone":
        raise JobError("voice cloning needs a GPU node; the local engine cannot clone voices")
    out = ctx.work_dir / f"{ctx.job_id}.mp3"
    with ctx.stage("inference"):
        try:
            result = engine.get_engine().synthesize(
                sentences_of(params), out, voice=params["voice"], temperature=params["temperature"],
                max_audio_length_ms=params["max_audio_length"], pause_ms=params["pause_duration"],
                should_stop=ctx.should_stop)
        except engine.Aborted:
            ctx.check()
            raise
        except engine.SpeechError as exc:
            raise JobError(str(exc)) from None
    return FileOutput(result.path, "audio/mpeg", metadata=result.metadata())


@hookimpl
def c3_render_tasks():
    return [Task(name="csm", schema=SCHEMA, run=run, output="media", workload="media:fast",
                 summary="Text to speech (MP3)")]


@hookimpl
def c3_render_settings():
    return SETTINGS
