"""Two-pass EBU R128 loudness normalization with ffmpeg's ``loudnorm`` filter.

Pass 1 measures the input (integrated loudness, true peak, loudness range,
threshold); pass 2 applies the gain with those measurements, linearly when the
targets allow it, and reports what the output measures. The ffmpeg binary is
the one the ``imageio-ffmpeg`` package ships.
"""

from __future__ import annotations

import json
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

#: Output sample rate in Hz (loudnorm resamples to 192 kHz internally; this brings it back).
SAMPLE_RATE_HZ = 48_000
#: Seconds between ffmpeg's progress reports.
PROGRESS_PERIOD_S = 0.25
#: Longest input accepted, in seconds (3 hours).
MAX_DURATION_S = 3 * 3600.0

_DURATION = re.compile(r"Duration: (\d+):(\d\d):(\d\d(?:\.\d+)?)")
_JSON_BLOCK = re.compile(r"\{[^{}]*\"input_i\"[^{}]*\}", re.S)


class AudioError(Exception):
    """The input cannot be normalized; the message is for the client."""


class Stopped(Exception):
    """should_stop() asked to stop; ffmpeg was ended."""


@dataclass(frozen=True)
class Loudness:
    """A loudness measurement: integrated (LUFS), true peak (dBTP), range (LU), gate threshold (LUFS)."""

    integrated_lufs: float
    true_peak_db: float
    range_lu: float
    threshold_lufs: float

    def as_dict(self) -> dict:
        return {"integrated_lufs": self.integrated_lufs, "true_peak_db": self.true_peak_db,
                "loudness_range_lu": self.range_lu, "threshold_lufs": self.threshold_lufs}


@dataclass(frozen=True)
class Targets:
    """What to reach: integrated loudness (LUFS), true peak ceiling (dBTP), loudness range (LU)."""

    integrated_lufs: float = -16.0
    true_peak_db: float = -1.5
    range_lu: float = 11.0

    def filter(self) -> str:
        return f"loudnorm=I={self.integrated_lufs:g}:TP={self.true_peak_db:g}:LRA={self.range_lu:g}"


@dataclass(frozen=True)
class Result:
    """The measurements before and after, how the gain was applied, and the input's duration (s)."""

    before: Loudness
    after: Loudness
    linear: bool
    duration_s: float | None


def ffmpeg_exe() -> str:
    """The bundled ffmpeg binary; AudioError when the package is missing its binary."""
    try:
        import imageio_ffmpeg
    except ImportError as exc:
        raise AudioError(f"ffmpeg is not available on this worker (imageio-ffmpeg: {exc})") from None
    try:
        return imageio_ffmpeg.get_ffmpeg_exe()
    except RuntimeError as exc:
        raise AudioError(f"ffmpeg is not available on this worker: {exc}") from None


def normalize(source: Path, dest: Path, targets: Targets, codec_args: list[str], *,
              should_stop: Callable[[], bool] = lambda: False,
              on_progress: Callable[[float], None] = lambda fraction: None) -> Result:
    """Measure ``source``, write it normalized to ``dest`` with ``codec_args``; returns the measurements.

    ``on_progress`` receives 0..1 over both passes when the input's duration is known.
    Raises AudioError for unusable input, Stopped when ``should_stop()`` turned True.
    """
    exe = ffmpeg_exe()
    log = dest.with_suffix(".ffmpeg.log")
    common = [exe, "-hide_banner", "-nostdin", "-nostats", "-progress", "pipe:1",
              "-stats_period", str(PROGRESS_PERIOD_S), "-i", str(source), "-vn", "-sn", "-dn"]
    first = _run([*common, "-af", f"{targets.filter()}:print_format=json", "-f", "null", "-"], log,
                 should_stop, lambda seconds, duration: on_progress(0.5 * _fraction(seconds, duration)))
    before = _measured(first.stderr, "input")
    if before.integrated_lufs == float("-inf") or before.integrated_lufs < -70.0:
        raise AudioError("the audio is silent (below the -70 LUFS gate): there is nothing to normalize")
    measured = (f"measured_I={before.integrated_lufs:g}:measured_TP={before.true_peak_db:g}:"
                f"measured_LRA={before.range_lu:g}:measured_thresh={before.threshold_lufs:g}:"
                f"offset={first.offset:g}:linear=true:print_format=json")
    second = _run([*common, "-af", f"{targets.filter()}:{measured}", "-ar", str(SAMPLE_RATE_HZ), *codec_args,
                   "-y", str(dest)], log, should_stop,
                  lambda seconds, duration: on_progress(0.5 + 0.5 * _fraction(seconds, duration)))
    if not dest.is_file() or dest.stat().st_size == 0:
        raise AudioError("ffmpeg wrote no output")
    return Result(before=before, after=_measured(second.stderr, "output"), linear=second.linear,
                  duration_s=first.duration_s)


@dataclass(frozen=True)
class _Pass:
    stderr: str
    duration_s: float | None
    offset: float
    linear: bool


def _run(argv: list[str], log: Path, should_stop, on_progress) -> _Pass:
    """Run one ffmpeg pass, reporting (seconds done, duration) and stopping when asked."""
    with open(log, "w+b") as stderr:
        process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=stderr)
        duration = None
        try:
            for raw in process.stdout:
                if should_stop():
                    raise Stopped()
                key, _, value = raw.decode(errors="replace").strip().partition("=")
                if key == "out_time_us" and value.isdigit():
                    if duration is None:
                        duration = _duration(log.read_text(errors="replace"))
                        _check_length(duration)
                    on_progress(int(value) / 1e6, duration)
            process.wait()
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
        stderr.seek(0)
        text = stderr.read().decode(errors="replace")
    if process.returncode != 0:
        raise AudioError(_explain(text))
    duration = duration or _duration(text)
    _check_length(duration)
    block = _json_block(text)
    return _Pass(stderr=text, duration_s=duration, offset=_number(block.get("target_offset", "0")),
                 linear=block.get("normalization_type") == "linear")


def _check_length(duration: float | None) -> None:
    if duration is not None and duration > MAX_DURATION_S:
        raise AudioError(f"the audio lasts {duration / 3600:.1f} h; at most {MAX_DURATION_S / 3600:.0f} h "
                         f"is accepted")


def _json_block(stderr: str) -> dict:
    blocks = _JSON_BLOCK.findall(stderr)
    if not blocks:
        raise AudioError("ffmpeg reported no loudness measurement (is there an audio track?)")
    return json.loads(blocks[-1])


def _measured(stderr: str, prefix: str) -> Loudness:
    block = _json_block(stderr)
    return Loudness(integrated_lufs=_number(block[f"{prefix}_i"]), true_peak_db=_number(block[f"{prefix}_tp"]),
                    range_lu=_number(block[f"{prefix}_lra"]), threshold_lufs=_number(block[f"{prefix}_thresh"]))


def _number(text: str) -> float:
    return float(str(text).strip())  # ffmpeg writes "-inf" for silence, which float() reads


def _duration(stderr: str) -> float | None:
    match = _DURATION.search(stderr)
    if not match:
        return None
    hours, minutes, seconds = match.groups()
    return int(hours) * 3600 + int(minutes) * 60 + float(seconds)


def _fraction(seconds: float, duration: float | None) -> float:
    return 0.0 if not duration else min(1.0, max(0.0, seconds / duration))


def _explain(stderr: str) -> str:
    """A readable reason from ffmpeg's error output."""
    if "does not contain any stream" in stderr or "matches no streams" in stderr:
        return "the file at audio_url has no audio track"
    if "Invalid data found" in stderr or "could not find codec" in stderr.lower() \
            or "Invalid argument" in stderr or "moov atom not found" in stderr:
        return "the file at audio_url is not audio that ffmpeg can read (corrupt, truncated, or not media)"
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    return f"ffmpeg could not process the file at audio_url: {lines[-1] if lines else 'no message'}"
