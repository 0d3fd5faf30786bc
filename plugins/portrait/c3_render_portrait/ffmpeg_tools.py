"""Locating the ffmpeg that imageio-ffmpeg ships, and reading its error output."""

from __future__ import annotations

import functools
import subprocess
from typing import IO

import imageio_ffmpeg

#: At most this many bytes of ffmpeg's stderr are kept for error messages.
STDERR_TAIL_BYTES = 4096
#: Input options that stop ffmpeg from following URLs found inside a media file
#: (an uploaded playlist must not make the worker fetch anything).
LOCAL_FILE_ONLY = ("-protocol_whitelist", "file")


@functools.cache
def ffmpeg_executable() -> str:
    """Path of the bundled ffmpeg binary (``IMAGEIO_FFMPEG_EXE`` overrides it)."""
    return imageio_ffmpeg.get_ffmpeg_exe()


def read_stderr_tail(stderr_file: IO[bytes]) -> str:
    """Last ``STDERR_TAIL_BYTES`` of an ffmpeg stderr temp file, decoded leniently."""
    stderr_file.flush()
    size = stderr_file.seek(0, 2)
    stderr_file.seek(max(0, size - STDERR_TAIL_BYTES))
    return stderr_file.read().decode("utf-8", errors="replace")


def last_error_line(stderr_text: str) -> str:
    """The last non-empty line of ffmpeg's stderr, or a placeholder when it said nothing."""
    lines = [line.strip() for line in stderr_text.splitlines() if line.strip()]
    return lines[-1] if lines else "ffmpeg gave no error message"


def kill_process(process: subprocess.Popen) -> None:
    """Kill ``process`` if still running and reap it (never raises for a dead process)."""
    if process.poll() is None:
        process.kill()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:  # pragma: no cover - a killed process always exits
        pass
