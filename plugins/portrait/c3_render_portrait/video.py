"""Encoding raw RGB frames piped to the bundled ffmpeg into an H.264 + AAC MP4."""

from __future__ import annotations

import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from .errors import Aborted, EncoderFailed
from .ffmpeg_tools import LOCAL_FILE_ONLY, ffmpeg_executable, kill_process, last_error_line, read_stderr_tail

#: x264 speed/quality trade-off and constant quality (lower = better, bigger).
X264_PRESET = "veryfast"
X264_CRF = 20
AUDIO_BITRATE = "128k"
#: RGB -> BT.709 limited-range yuv420p, tagged so players show the colours right.
VIDEO_FILTER = (
    "scale=out_color_matrix=bt709:out_range=tv,format=yuv420p,"
    "setparams=colorspace=bt709:color_primaries=bt709:color_trc=bt709:range=tv"
)
#: Longest wait (seconds) for ffmpeg to finish the file after the last frame.
FINISH_TIMEOUT_SECONDS = 300.0
#: How often (seconds) ``should_stop`` is polled while ffmpeg finishes.
FINISH_POLL_SECONDS = 0.2


class VideoEncoder:
    """One ffmpeg process turning frames written to its stdin plus an audio file into an MP4.

    The video is cut to ``duration_seconds`` (the audio's length); the caller
    must ``finish()`` it or ``abort()`` it (which kills ffmpeg).
    """

    def __init__(self, output_path: Path, width: int, height: int, fps: int, audio_path: Path, duration_seconds: float):
        self.output_path = output_path
        self.frame_bytes = width * height * 3
        self._stderr = tempfile.TemporaryFile()  # noqa: SIM115 - closed by finish() or abort()
        command = [
            ffmpeg_executable(), "-nostdin", "-hide_banner", "-loglevel", "error", "-y",
            "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{width}x{height}", "-framerate", str(fps), "-i", "pipe:0",
            *LOCAL_FILE_ONLY, "-i", str(audio_path.absolute()),
            "-map", "0:v:0", "-map", "1:a:0",
            "-vf", VIDEO_FILTER,
            "-c:v", "libx264", "-preset", X264_PRESET, "-crf", str(X264_CRF),
            "-c:a", "aac", "-b:a", AUDIO_BITRATE,
            "-t", f"{duration_seconds:.6f}", "-movflags", "+faststart", "-f", "mp4", str(output_path.absolute()),
        ]  # fmt: skip
        try:
            self._process = subprocess.Popen(
                command, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=self._stderr
            )
        except OSError:
            self._stderr.close()
            raise

    def write(self, frame: np.ndarray) -> None:
        """Send one contiguous (height, width, 3) uint8 RGB frame."""
        if frame.nbytes != self.frame_bytes or not frame.flags.c_contiguous:
            raise ValueError(f"frame must be a contiguous RGB array of {self.frame_bytes} bytes")
        try:
            self._process.stdin.write(frame.data)
        except (BrokenPipeError, OSError) as exc:
            kill_process(self._process)
            raise EncoderFailed(f"the video encoder stopped early: {self._error_text()}") from exc

    def finish(self, should_stop: Callable[[], bool] = lambda: False) -> None:
        """Close the frame stream and wait for ffmpeg to write the file."""
        try:
            self._process.stdin.close()
        except (BrokenPipeError, OSError):
            pass  # ffmpeg already exited: its return code tells why
        deadline = time.monotonic() + FINISH_TIMEOUT_SECONDS
        while True:
            if should_stop():
                self.abort()
                raise Aborted("stopped while the video was being finished")
            try:
                self._process.wait(timeout=FINISH_POLL_SECONDS)
                break
            except subprocess.TimeoutExpired:
                if time.monotonic() > deadline:
                    self.abort()
                    raise EncoderFailed(
                        f"the video encoder did not finish within {FINISH_TIMEOUT_SECONDS:.0f} s"
                    ) from None
        return_code = self._process.returncode
        message = self._error_text()
        self._stderr.close()
        if return_code != 0:
            raise EncoderFailed(f"the video encoder failed: {message}")

    def abort(self) -> None:
        """Kill ffmpeg (the partly written file is left for the caller to delete)."""
        kill_process(self._process)
        try:
            self._process.stdin.close()
        except (BrokenPipeError, OSError):
            pass  # unflushed frames had nowhere to go
        if not self._stderr.closed:
            self._stderr.close()

    def _error_text(self) -> str:
        return last_error_line(read_stderr_tail(self._stderr)) if not self._stderr.closed else "unknown error"
