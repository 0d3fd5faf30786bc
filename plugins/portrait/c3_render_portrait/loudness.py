"""Per-video-frame loudness of the audio track, decoded with the bundled ffmpeg.

The audio is streamed from ffmpeg as 16 kHz mono 16-bit PCM and reduced on the
fly to one RMS value per video frame, so memory stays O(frames) whatever the
audio length.
"""

from __future__ import annotations

import math
import subprocess
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import Aborted, BadAudio
from .ffmpeg_tools import LOCAL_FILE_ONLY, ffmpeg_executable, kill_process, last_error_line, read_stderr_tail

#: Analysis sample rate (Hz); plenty for the loudness of speech.
ANALYSIS_SAMPLE_RATE = 16_000
#: Bytes of PCM read from ffmpeg per chunk (one second of 16-bit mono).
CHUNK_BYTES = ANALYSIS_SAMPLE_RATE * 2
#: Frames quieter than this (dBFS) count as silence: the mouth stays closed.
SILENCE_GATE_DB = -50.0
#: Loudness range (dB) mapped onto 0..1, ending at the loud reference level.
DYNAMIC_RANGE_DB = 30.0
#: Percentile of the non-silent frame levels taken as "fully loud" (1.0).
LOUD_REFERENCE_PERCENTILE = 95
#: Smoothing per frame toward a rising / falling level (1 = no smoothing).
ATTACK = 0.7
RELEASE = 0.35


@dataclass(frozen=True)
class AudioLoudness:
    """The audio's length and its smoothed loudness per video frame (0 = silent, 1 = loud)."""

    duration_seconds: float
    levels: np.ndarray  # float32, one per video frame

    @property
    def frame_count(self) -> int:
        return len(self.levels)


def analyse_audio(audio_path: Path, fps: int, should_stop: Callable[[], bool] = lambda: False) -> AudioLoudness:
    """Decode ``audio_path`` and return its duration and per-frame loudness at ``fps``.

    Raises ``BadAudio`` for files ffmpeg cannot decode or that hold no samples,
    ``Aborted`` when ``should_stop()`` turns True during decoding.
    """
    energy, sample_count = _decode_frame_energy(audio_path, fps, should_stop)
    if sample_count == 0:
        raise BadAudio("the audio holds no sound samples; send an audio file with speech in it")
    duration = sample_count / ANALYSIS_SAMPLE_RATE
    frame_count = max(1, math.ceil(duration * fps - 1e-9))
    rms = np.sqrt(energy.sum[:frame_count] / np.maximum(energy.count[:frame_count], 1))
    rms = np.pad(rms, (0, frame_count - len(rms)))
    return AudioLoudness(duration_seconds=duration, levels=smooth_levels(normalise_levels(rms)))


def normalise_levels(rms: np.ndarray) -> np.ndarray:
    """Map RMS amplitudes (full scale = 1) to 0..1 on a dB scale relative to the loud parts."""
    with np.errstate(divide="ignore"):
        level_db = 20.0 * np.log10(np.maximum(rms, 1e-12))
    audible = level_db > SILENCE_GATE_DB
    if not audible.any():
        return np.zeros(len(rms), dtype=np.float32)
    loud_db = float(np.percentile(level_db[audible], LOUD_REFERENCE_PERCENTILE))
    levels = (level_db - (loud_db - DYNAMIC_RANGE_DB)) / DYNAMIC_RANGE_DB
    return np.where(audible, np.clip(levels, 0.0, 1.0), 0.0).astype(np.float32)


def smooth_levels(levels: np.ndarray) -> np.ndarray:
    """Attack/release smoothing so the mouth opens fast and closes a little slower."""
    smoothed = np.empty_like(levels, dtype=np.float32)
    current = 0.0
    for index, target in enumerate(levels.tolist()):
        current += (ATTACK if target > current else RELEASE) * (target - current)
        smoothed[index] = current
    return smoothed


class _FrameEnergy:
    """Running sum of squared samples and sample count per video frame."""

    def __init__(self, fps: int):
        self.fps = fps
        self.sum = np.zeros(0, dtype=np.float64)
        self.count = np.zeros(0, dtype=np.float64)

    def add(self, first_sample: int, samples: np.ndarray) -> None:
        """Add ``samples`` (floats, full scale = 1) that start at absolute index ``first_sample``."""
        positions = np.arange(first_sample, first_sample + len(samples), dtype=np.int64)
        frames = positions * self.fps // ANALYSIS_SAMPLE_RATE
        first_frame = int(frames[0])
        local = frames - first_frame
        sums = np.bincount(local, weights=samples.astype(np.float64) ** 2)
        counts = np.bincount(local).astype(np.float64)
        self._grow(first_frame + len(sums))
        self.sum[first_frame : first_frame + len(sums)] += sums
        self.count[first_frame : first_frame + len(counts)] += counts

    def _grow(self, length: int) -> None:
        if length > len(self.sum):
            extra = max(length - len(self.sum), len(self.sum))
            self.sum = np.concatenate([self.sum, np.zeros(extra)])
            self.count = np.concatenate([self.count, np.zeros(extra)])


def _decode_frame_energy(audio_path: Path, fps: int, should_stop: Callable[[], bool]) -> tuple[_FrameEnergy, int]:
    """Stream PCM from ffmpeg into per-frame energy; returns it and the total sample count."""
    command = [
        ffmpeg_executable(), "-nostdin", "-hide_banner", "-loglevel", "error",
        *LOCAL_FILE_ONLY, "-i", str(audio_path.absolute()), "-map", "0:a:0", "-vn", "-sn", "-dn",
        "-ac", "1", "-ar", str(ANALYSIS_SAMPLE_RATE), "-f", "s16le", "-acodec", "pcm_s16le", "pipe:1",
    ]  # fmt: skip
    energy = _FrameEnergy(fps)
    sample_count = 0
    with tempfile.TemporaryFile() as stderr_file:
        process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=stderr_file)
        try:
            while chunk := process.stdout.read(CHUNK_BYTES):
                if should_stop():
                    raise Aborted("stopped while decoding the audio")
                samples = np.frombuffer(chunk[: len(chunk) // 2 * 2], dtype="<i2").astype(np.float32) / 32768.0
                if len(samples):
                    energy.add(sample_count, samples)
                    sample_count += len(samples)
            return_code = process.wait()
        finally:
            kill_process(process)
            process.stdout.close()
        if return_code != 0:
            raise BadAudio(_explain_decode_failure(read_stderr_tail(stderr_file)))
    return energy, sample_count


def _explain_decode_failure(stderr_text: str) -> str:
    """A user-facing sentence for ffmpeg's audio decoding error output."""
    if "Invalid data found" in stderr_text:
        return "the audio file is corrupt or not in a recognised audio format; send WAV, MP3, OGG, FLAC or M4A"
    if "0:a:0" in stderr_text or "matches no streams" in stderr_text:
        return "the file has no audio track; send an audio file with speech in it"
    if "No such file" in stderr_text:
        return "the audio file is missing"
    return f"the audio could not be decoded: {last_error_line(stderr_text)}"
