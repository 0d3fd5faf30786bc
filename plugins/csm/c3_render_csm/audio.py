"""PCM helpers and MP3 encoding/decoding with the ffmpeg binary that imageio-ffmpeg ships.

PCM here is always mono float32 in [-1, 1] at a stated sample rate (Hz).
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from pathlib import Path

import numpy as np

from .errors import SynthesisFailed

MP3_BITRATE_KBPS = 64
FADE_OUT_MS = 10
_FFMPEG_TIMEOUT_SECONDS = 300


def ffmpeg_exe() -> str:
    """Path of the ffmpeg binary (imageio-ffmpeg's own, or IMAGEIO_FFMPEG_EXE)."""
    try:
        import imageio_ffmpeg
    except ImportError as error:
        raise SynthesisFailed("ffmpeg is missing: install the imageio-ffmpeg package") from error
    try:
        return imageio_ffmpeg.get_ffmpeg_exe()
    except RuntimeError as error:
        raise SynthesisFailed(f"ffmpeg is missing: {error}") from error


def samples_for_ms(milliseconds: float, sample_rate: int) -> int:
    """Number of samples that last `milliseconds` at `sample_rate` Hz (rounded down)."""
    return int(sample_rate * milliseconds / 1000)


def silence(milliseconds: float, sample_rate: int) -> np.ndarray:
    """Silent float32 PCM lasting `milliseconds`."""
    return np.zeros(samples_for_ms(milliseconds, sample_rate), dtype=np.float32)


def truncate_with_fade(pcm: np.ndarray, max_samples: int, sample_rate: int) -> np.ndarray:
    """Cut `pcm` to `max_samples` samples and fade the last FADE_OUT_MS out to avoid a click."""
    cut = pcm[:max_samples].astype(np.float32, copy=True)
    fade = min(len(cut), samples_for_ms(FADE_OUT_MS, sample_rate))
    if fade:
        cut[-fade:] *= np.linspace(1.0, 0.0, fade, dtype=np.float32)
    return cut


def lower_pitch(pcm: np.ndarray, factor: float) -> np.ndarray:
    """Lower pitch (and formants) by `factor` (0 < factor <= 1) by stretching the signal.

    The result is 1/factor times longer; callers shorten the speech beforehand to keep its pace.
    """
    if not 0 < factor <= 1:
        raise ValueError(f"pitch factor must be in (0, 1], got {factor}")
    if factor == 1 or len(pcm) < 2:
        return pcm
    positions = np.arange(0, len(pcm) - 1, factor)
    return np.interp(positions, np.arange(len(pcm)), pcm).astype(np.float32)


def to_int16(pcm: np.ndarray) -> np.ndarray:
    """Float PCM in [-1, 1] to signed 16-bit samples (clipped)."""
    return (np.clip(pcm, -1.0, 1.0) * 32767).astype(np.int16)


def encode_mp3(pcm: np.ndarray, sample_rate: int, out_path: Path, bitrate_kbps: int = MP3_BITRATE_KBPS) -> None:
    """Encode mono float PCM to a constant-bitrate MP3 at `out_path` (written atomically)."""
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    handle, partial_name = tempfile.mkstemp(prefix=".partial-", suffix=".mp3", dir=out_path.parent)
    os.close(handle)
    command = [
        ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y",
        "-f", "s16le", "-ar", str(sample_rate), "-ac", "1", "-i", "pipe:0",
        "-codec:a", "libmp3lame", "-b:a", f"{bitrate_kbps}k", "-f", "mp3", partial_name,
    ]
    try:
        completed = subprocess.run(
            command, input=to_int16(pcm).tobytes(), capture_output=True, timeout=_FFMPEG_TIMEOUT_SECONDS
        )
        if completed.returncode != 0:
            detail = completed.stderr.decode(errors="replace").strip()[-500:]
            raise SynthesisFailed(f"MP3 encoding failed (ffmpeg exit {completed.returncode}): {detail}")
        os.replace(partial_name, out_path)
    finally:
        if os.path.exists(partial_name):
            os.unlink(partial_name)


def decode_to_pcm(path: Path, sample_rate: int) -> np.ndarray:
    """Decode any audio file to mono float32 PCM at `sample_rate` Hz."""
    command = [
        ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-nostdin",
        "-protocol_whitelist", "file", "-i", f"file:{Path(path).resolve()}",
        "-f", "s16le", "-ac", "1", "-ar", str(sample_rate), "pipe:1",
    ]
    completed = subprocess.run(command, capture_output=True, timeout=_FFMPEG_TIMEOUT_SECONDS)
    if completed.returncode != 0:
        detail = completed.stderr.decode(errors="replace").strip()[-500:]
        raise ValueError(f"cannot decode audio file {path}: {detail}")
    return np.frombuffer(completed.stdout, dtype=np.int16).astype(np.float32) / 32767


def duration_seconds(path: Path, sample_rate: int = 22050) -> float:
    """Playing time of an audio file in seconds, measured by decoding it."""
    return len(decode_to_pcm(path, sample_rate)) / sample_rate
