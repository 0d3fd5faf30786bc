"""Preparing the user's image and audio for upload to a ComfyUI node.

The image goes through the same safety checks as the local engine (decompression-bomb
and size limits, EXIF orientation, transparency flattened) and is downscaled to at most
2048 px on its long side before upload. The audio is decoded with the bundled ffmpeg
(which measures its length) and sent as FLAC, a format every ComfyUI audio loader reads.
"""

from __future__ import annotations

import subprocess
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from .errors import Aborted, BadAudio
from .ffmpeg_tools import LOCAL_FILE_ONLY, ffmpeg_executable, kill_process, last_error_line, read_stderr_tail
from .images import _decode_oriented_rgb, _open_checked, fit_frame_size
from .loudness import analyse_audio

#: JPEG quality of the uploaded image (it is downscaled to <= 1280x720 on the node anyway).
UPLOAD_JPEG_QUALITY = 95
#: How often ffmpeg's transcode is checked for a stop request (seconds).
STOP_CHECK_SECONDS = 0.2


@dataclass(frozen=True)
class PreparedImage:
    """The upright image to upload, its size (px) and the frame size (px) the video gets."""

    path: Path
    width: int
    height: int
    frame_width: int
    frame_height: int


@dataclass(frozen=True)
class PreparedAudio:
    """The audio to upload and its length (seconds)."""

    path: Path
    duration_seconds: float


def prepare_image(source: Path, dest_dir: Path, should_stop: Callable[[], bool] = lambda: False) -> PreparedImage:
    """Check and decode ``source``, keep it at most 2048 px long, write it as JPEG in ``dest_dir``.

    Raises ``BadImage`` with a user-facing message for anything that is not a usable image,
    ``Aborted`` when ``should_stop()`` turns True while the decode waits for memory.
    """
    with _open_checked(source) as image:
        picture = _decode_oriented_rgb(image, should_stop)
    dest = dest_dir / "portrait-upload.jpg"
    picture.save(dest, "JPEG", quality=UPLOAD_JPEG_QUALITY, subsampling=0)
    frame_width, frame_height = fit_frame_size(picture.width, picture.height)
    return PreparedImage(dest, picture.width, picture.height, frame_width, frame_height)


def prepare_audio(source: Path, dest_dir: Path, should_stop: Callable[[], bool]) -> PreparedAudio:
    """Measure ``source``'s length and transcode its first audio track to FLAC in ``dest_dir``.

    Raises ``BadAudio`` (user-facing message) or ``Aborted`` when ``should_stop()`` turns True.
    """
    duration = analyse_audio(source, fps=1, should_stop=should_stop).duration_seconds
    dest = dest_dir / "speech-upload.flac"
    _transcode_to_flac(source, dest, should_stop)
    return PreparedAudio(dest, duration)


def _transcode_to_flac(source: Path, dest: Path, should_stop: Callable[[], bool]) -> None:
    command = [
        ffmpeg_executable(), "-nostdin", "-hide_banner", "-loglevel", "error", "-y",
        *LOCAL_FILE_ONLY, "-i", str(source.absolute()), "-map", "0:a:0", "-vn", "-sn", "-dn",
        "-c:a", "flac", str(dest.absolute()),
    ]  # fmt: skip
    with tempfile.TemporaryFile() as stderr_file:
        process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=stderr_file)
        try:
            while True:
                try:
                    return_code = process.wait(timeout=STOP_CHECK_SECONDS)
                    break
                except subprocess.TimeoutExpired:
                    if should_stop():
                        raise Aborted("stopped while converting the audio") from None
        finally:
            kill_process(process)
        if return_code != 0:
            dest.unlink(missing_ok=True)
            raise BadAudio(f"the audio could not be converted: {last_error_line(read_stderr_tail(stderr_file))}")
