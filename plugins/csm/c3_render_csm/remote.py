"""CSM text-to-speech on a GPU node: the node's Gradio app (docs/protocols.md, "Gradio apps").

``synthesize`` maps the task's parameters onto ``/generate_monologue_audio``, converts
a voice-cloning reference to mono first, and returns the node's MP3. The Gradio call
itself (auth headers, timeouts, polling, cancellation, error mapping) is
``render_core.plugin.call_gradio``.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

from render_core.plugin import FileOutput, JobError, NodeAppError, call_gradio

SERVICE = "csm"
API_NAME = "/generate_monologue_audio"
NODE_VOICES = {"random": "random_voice", "conversational_a": "conversational_a",
               "conversational_b": "conversational_b", "clone": "upload_voice"}
MIN_NODE_TEMPERATURE = 0.1  # the node's slider starts at 0.1; the task accepts 0.0
REFERENCE_SAMPLE_RATE_HZ = 24_000  # CSM's own rate
FFMPEG_TIMEOUT_S = 120.0
#: ffmpeg input option: the downloaded file (and any playlist inside it) may open local files only.
LOCAL_FILE_ONLY = ("-protocol_whitelist", "file")



def synthesize(ctx, sentences: list[str], params) -> FileOutput:
    """Speak ``sentences`` on the node's CSM app; the result is an MP3 in ``ctx.work_dir``."""
    speaker_audio = None
    if params["voice"] == "clone":
        speaker_audio = mono_reference(ctx, ctx.download(params["reference_audio_url"]))
        ctx.progress(0.1, "reference audio prepared")
    arguments = node_arguments(params, sentences, speaker_audio)
    with ctx.stage("inference"):
        audio = call_gradio(ctx, SERVICE, API_NAME, arguments, download_dir=ctx.work_dir / "node-output")
    if not isinstance(audio, str) or not Path(audio).is_file():
        raise NodeAppError(f"the {SERVICE} service on the GPU node returned no audio file")
    out = ctx.work_dir / f"{ctx.job_id}.mp3"
    shutil.move(audio, out)
    return FileOutput(out, "audio/mpeg", metadata={
        "engine": "csm", "node": ctx.node.instance_id, "voice": params["voice"], "sentences": len(sentences)})


def node_arguments(params, sentences: list[str], speaker_audio: Path | None) -> dict:
    """Keyword arguments of ``/generate_monologue_audio``; ``speaker_audio`` is the mono reference (clone only),
    uploaded by ``call_gradio`` because it is a Path."""
    cloning = params["voice"] == "clone"
    return {
        "speaker_voice": NODE_VOICES[params["voice"]],
        "speaker_text": params["reference_text"] if cloning else "",
        "speaker_audio": Path(speaker_audio) if cloning else None,
        "monologue_json": json.dumps(sentences, ensure_ascii=False),
        "temperature": max(MIN_NODE_TEMPERATURE, float(params["temperature"])),
        "topk": params["topk"],
        "max_audio_length": params["max_audio_length"],
        "pause_duration": params["pause_duration"],
    }


def mono_reference(ctx, source: Path) -> Path:
    """Convert a downloaded reference recording to a mono 16-bit WAV at 24 kHz, beside it in the work dir."""
    import imageio_ffmpeg

    out = ctx.work_dir / "reference-mono.wav"
    command = [imageio_ffmpeg.get_ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-nostdin", "-y",
               *LOCAL_FILE_ONLY, "-i", f"file:{source.resolve()}", "-vn", "-ac", "1",
               "-ar", str(REFERENCE_SAMPLE_RATE_HZ), "-c:a", "pcm_s16le",
               "-f", "wav", str(out)]
    try:
        completed = subprocess.run(command, capture_output=True,
                                   timeout=max(1.0, min(FFMPEG_TIMEOUT_S, ctx.remaining())))
    except subprocess.TimeoutExpired:
        ctx.check()
        raise JobError("reading the reference audio took too long; send a shorter recording") from None
    if completed.returncode != 0:
        detail = completed.stderr.decode(errors="replace").strip()[-300:]
        raise JobError(f"reference_audio_url is not audio that can be read: {detail}")
    if out.stat().st_size <= 44:  # a WAV header and no samples
        raise JobError("reference_audio_url holds no audio samples")
    return out
