"""The local CPU talking-portrait engine: one still photo + one audio file -> an MP4.

The face is found with OpenCV's Haar cascade, the audio's loudness per video
frame opens the jaw, the eyes blink now and then, and frames are piped as raw
RGB into the ffmpeg bundled with imageio-ffmpeg (H.264 yuv420p + AAC).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from .animation import PortraitAnimator
from .blinks import blink_schedule
from .errors import Aborted, BadAudio, BadImage, EncoderFailed, NoFaceFound, PortraitError
from .face_layout import locate_features
from .faces import detect_largest_face
from .images import load_portrait_frame
from .loudness import analyse_audio
from .video import VideoEncoder

__all__ = [
    "Aborted", "BadAudio", "BadImage", "EncoderFailed", "NoFaceFound", "PortraitError",
    "PortraitResult", "render_portrait",
]  # fmt: skip

#: ``should_stop()`` is asked this often while frames are rendered (frames).
STOP_CHECK_EVERY_FRAMES = 10
#: Share of the progress bar reached once the image and audio are analysed.
PREPARED_FRACTION = 0.05
#: Share of the progress bar reached when the last frame is sent to the encoder.
FRAMES_SENT_FRACTION = 0.98


@dataclass(frozen=True)
class PortraitResult:
    """What was rendered; ``face_box`` is (x, y, width, height) in output frame pixels."""

    path: Path
    width: int
    height: int
    fps: int
    frames: int
    duration_seconds: float
    face_box: tuple[int, int, int, int]

    def metadata(self) -> dict:
        """JSON-ready facts about the video (sizes in px, duration in seconds)."""
        return {
            "width": self.width, "height": self.height, "fps": self.fps, "frames": self.frames,
            "duration_seconds": round(self.duration_seconds, 3), "face_box": list(self.face_box),
        }  # fmt: skip


def render_portrait(
    image_path: Path,
    audio_path: Path,
    out_path: Path,
    *,
    fps: int = 25,
    should_stop: Callable[[], bool] = lambda: False,
    progress: Callable[[float, str], None] = lambda fraction, message: None,
) -> PortraitResult:
    """Render a talking-portrait MP4 of the face in ``image_path`` speaking ``audio_path``.

    The video lasts exactly as long as the audio, fits within 1280x720 and is
    written to ``out_path`` only when complete (nothing is left there on failure).
    Raises ``BadImage``, ``NoFaceFound``, ``BadAudio`` (user errors), ``Aborted``
    (``should_stop()`` returned True) or ``EncoderFailed``.
    """
    if not 1 <= fps <= 60:
        raise ValueError(f"fps must be between 1 and 60, not {fps}")
    image_path, audio_path, out_path = Path(image_path), Path(audio_path), Path(out_path)
    progress(0.0, "reading the image")
    still = load_portrait_frame(image_path)
    face = detect_largest_face(still)
    layout = locate_features(still, face)
    _stop_if_asked(should_stop)
    progress(0.02, "analysing the audio")
    audio = analyse_audio(audio_path, fps, should_stop)
    progress(PREPARED_FRACTION, f"rendering {audio.frame_count} frames")
    partial_path = out_path.with_name(f".{out_path.name}.{uuid.uuid4().hex}.partial")
    try:
        _render_frames(still, layout, audio, fps, audio_path, partial_path, should_stop, progress)
        os.replace(partial_path, out_path)
    finally:
        partial_path.unlink(missing_ok=True)
    progress(1.0, "video ready")
    height, width = still.shape[:2]
    return PortraitResult(
        path=out_path, width=width, height=height, fps=fps, frames=audio.frame_count,
        duration_seconds=audio.duration_seconds, face_box=face.as_tuple(),
    )  # fmt: skip


def _render_frames(still, layout, audio, fps, audio_path, partial_path, should_stop, progress) -> None:
    """Animate every frame into an encoder writing ``partial_path``; kills it on any failure."""
    height, width = still.shape[:2]
    animator = PortraitAnimator(still, layout)
    blinks = blink_schedule(audio.frame_count, fps)
    encoder = VideoEncoder(partial_path, width, height, fps, audio_path, audio.duration_seconds)
    try:
        progress_every = max(STOP_CHECK_EVERY_FRAMES, audio.frame_count // 50)
        for index, (level, blink) in enumerate(zip(audio.levels.tolist(), blinks.tolist())):
            if index % STOP_CHECK_EVERY_FRAMES == 0:
                _stop_if_asked(should_stop)
            if index % progress_every == 0 and index:
                share = PREPARED_FRACTION + (FRAMES_SENT_FRACTION - PREPARED_FRACTION) * index / audio.frame_count
                progress(share, f"rendered frame {index} of {audio.frame_count}")
            encoder.write(animator.frame(level, blink))
        progress(FRAMES_SENT_FRACTION, "finishing the video")
        encoder.finish(should_stop)
    except BaseException:
        encoder.abort()
        raise


def _stop_if_asked(should_stop: Callable[[], bool]) -> None:
    if should_stop():
        raise Aborted("the portrait render was stopped")
