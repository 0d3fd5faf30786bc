"""What an ``audio-normalize`` job does: download, measure, normalize, return the file and its loudness."""

from render_core.plugin import FileOutput, JobError

from .loudnorm import SAMPLE_RATE_HZ, AudioError, Stopped, Targets, normalize

#: Output container -> (file suffix, content type).
FORMATS = {"mp3": (".mp3", "audio/mpeg"), "wav": (".wav", "audio/wav")}


def codec_args(params) -> list[str]:
    if params["format"] == "wav":
        return ["-c:a", "pcm_s16le"]
    return ["-c:a", "libmp3lame", "-b:a", f"{params['bitrate_kbps']}k"]


def run(ctx, params):
    source = ctx.download(params["audio_url"])
    ctx.progress(0.05, "audio downloaded")
    targets = Targets(integrated_lufs=params["target_lufs"], true_peak_db=params["true_peak_db"],
                      range_lu=params["loudness_range_lu"])
    suffix, content_type = FORMATS[params["format"]]
    dest = ctx.work_dir / f"normalized{suffix}"
    with ctx.stage("inference"):
        try:
            result = normalize(source, dest, targets, codec_args(params), should_stop=ctx.should_stop,
                               on_progress=lambda fraction: ctx.progress(0.05 + 0.9 * fraction, "normalizing"))
        except Stopped:
            ctx.check()  # raises the cancellation or the deadline
            raise JobError("normalization stopped") from None
        except AudioError as exc:
            raise JobError(str(exc)) from None
    metadata = {
        "input": result.before.as_dict(),
        "output": result.after.as_dict(),
        "target": {"integrated_lufs": targets.integrated_lufs, "true_peak_db": targets.true_peak_db,
                   "loudness_range_lu": targets.range_lu},
        "normalization": "linear" if result.linear else "dynamic",
        "duration_s": result.duration_s,
        "format": params["format"],
        "sample_rate_hz": SAMPLE_RATE_HZ,
    }
    return FileOutput(dest, content_type, metadata=metadata)
