"""Whisper speech-to-text on a GPU node: the node's Gradio app (docs/protocols.md, "Gradio apps").

``transcribe`` uploads the downloaded audio to ``/transcribe_audio`` and returns the
transcript; the app reports failures as a transcript starting with ``Error:``, which
becomes a NodeAppError (the job's error unless the node then fails its health check). The Gradio call itself (auth headers, timeouts,
polling, cancellation, error mapping) is ``render_core.plugin.call_gradio``.
"""

from __future__ import annotations

from pathlib import Path

from render_core.plugin import NodeAppError, TextOutput, call_gradio

SERVICE = "whisper"
API_NAME = "/transcribe_audio"
ERROR_PREFIX = "Error:"
NODE_DEVICE = "cuda"
NODE_COMPUTE_TYPE = "float16"
NODE_BATCH_SIZE = 16



def transcribe(ctx, params) -> TextOutput:
    """Download ``audio_url`` and transcribe it on the node's Whisper app."""
    path = ctx.download(params["audio_url"])
    ctx.progress(0.1, "audio downloaded")
    arguments = node_arguments(params, path)
    with ctx.stage("inference"):  # the subtitle files the app also returns are not downloaded
        outputs = call_gradio(ctx, SERVICE, API_NAME, arguments, download_dir=None)
    transcript = outputs[0] if isinstance(outputs, (tuple, list)) else outputs
    if not isinstance(transcript, str):
        raise NodeAppError(f"the {SERVICE} service on the GPU node returned no transcript")
    transcript = transcript.strip()
    if transcript.startswith(ERROR_PREFIX):
        message = transcript[len(ERROR_PREFIX):].strip() or "no reason given"
        raise NodeAppError(f"transcription failed on the GPU node: {message}")
    return TextOutput(transcript, metadata={"engine": "whisper", "model": params["model"],
                                            "node": ctx.node.instance_id})


def node_arguments(params, audio: Path) -> dict:
    """Keyword arguments of ``/transcribe_audio`` for the audio file at ``audio`` (``call_gradio`` uploads it)."""
    return {"audio_file": Path(audio), "model": params["model"], "task": params["task"],
            "language": params["language"], "device": NODE_DEVICE, "compute_type": NODE_COMPUTE_TYPE,
            "batch_size": NODE_BATCH_SIZE}
