"""Benchmark of the local talking-portrait engine: frames per second for a 10 s clip.

Run: python bench/bench_portrait.py [--seconds 10] [--fps 25]
Needs the portrait plugin installed (c3_render_portrait), scikit-image for the test photo.
Prints figures only; nothing is asserted.
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import tempfile
import time
import wave
from pathlib import Path

import cv2
import imageio_ffmpeg
import numpy as np
from c3_render_portrait.animation import PortraitAnimator
from c3_render_portrait.blinks import blink_schedule
from c3_render_portrait.engine import render_portrait
from c3_render_portrait.face_layout import locate_features
from c3_render_portrait.faces import detect_largest_face
from c3_render_portrait.images import load_portrait_frame
from PIL import Image, ImageFilter
from skimage import data

SAMPLE_RATE = 16_000


def machine_info() -> str:
    cpu = platform.processor() or "unknown CPU"
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
            cpu = next(line.split(":", 1)[1].strip() for line in cpuinfo if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    ffmpeg = imageio_ffmpeg.get_ffmpeg_exe()
    ffmpeg_version = subprocess.run([ffmpeg, "-version"], capture_output=True, text=True, check=False).stdout.split()[2]
    return (
        f"{cpu}, {os.cpu_count()} logical cores, Python {platform.python_version()}, "
        f"numpy {np.__version__}, OpenCV {cv2.__version__}, ffmpeg {ffmpeg_version}"
    )


def write_speech_like_wav(path: Path, seconds: float) -> None:
    """Tone bursts at syllable rate with pauses, 16 kHz mono 16-bit."""
    rng = np.random.default_rng(3)
    t = np.arange(int(seconds * SAMPLE_RATE)) / SAMPLE_RATE
    syllables = np.repeat(rng.uniform(0.0, 1.0, int(seconds * 5) + 1), SAMPLE_RATE // 5)[: len(t)]
    syllables[syllables < 0.25] = 0.0  # pauses
    signal = 0.5 * np.sin(2 * np.pi * 180 * t) * syllables
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(SAMPLE_RATE)
        wav.writeframes((signal * 32767).astype("<i2").tobytes())


def portrait_images(folder: Path) -> dict[str, Path]:
    """The astronaut upscaled to 720x720, and the same on a 1280x720 (16:9) canvas."""
    face = Image.fromarray(data.astronaut()).resize((1440, 1440), Image.Resampling.LANCZOS)
    square = folder / "astronaut_square.jpg"
    face.save(square, quality=92)
    wide_canvas = face.resize((2560, 1440)).filter(ImageFilter.GaussianBlur(40))
    wide_canvas.paste(face, (560, 0))
    wide = folder / "astronaut_wide.jpg"
    wide_canvas.save(wide, quality=92)
    return {"720x720": square, "1280x720": wide}


def animation_only_fps(image: Path, frames: int, fps: int) -> float:
    """Frames per second of drawing frames without encoding them."""
    still = load_portrait_frame(image)
    animator = PortraitAnimator(still, locate_features(still, detect_largest_face(still)))
    levels = np.abs(np.sin(np.arange(frames) / 3.0)).astype(np.float32)
    blinks = blink_schedule(frames, fps)
    started = time.perf_counter()
    for level, blink in zip(levels.tolist(), blinks.tolist()):
        animator.frame(level, blink)
    return frames / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="clip length (s)")
    parser.add_argument("--fps", type=int, default=25)
    args = parser.parse_args()
    print(f"machine: {machine_info()}")
    with tempfile.TemporaryDirectory() as folder_name:
        folder = Path(folder_name)
        audio = folder / "speech.wav"
        write_speech_like_wav(audio, args.seconds)
        for label, image in portrait_images(folder).items():
            out = folder / f"portrait_{label}.mp4"
            started = time.perf_counter()
            result = render_portrait(image, audio, out, fps=args.fps)
            elapsed = time.perf_counter() - started
            draw_fps = animation_only_fps(image, result.frames, args.fps)
            print(
                f"{label}: {result.width}x{result.height}, {result.frames} frames ({result.duration_seconds:.1f} s) "
                f"in {elapsed:.2f} s = {result.frames / elapsed:.1f} frames/s end to end "
                f"({elapsed / result.duration_seconds:.2f}x real time), animation alone {draw_fps:.0f} frames/s, "
                f"file {out.stat().st_size / 1e6:.2f} MB"
            )


if __name__ == "__main__":
    main()
