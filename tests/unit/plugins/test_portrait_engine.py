"""The local talking-portrait engine: real images, real audio, real ffmpeg, no services."""

from __future__ import annotations

import math
import re
import struct
import subprocess
import wave
import zlib
from pathlib import Path

import imageio_ffmpeg
import numpy as np
import pytest
from c3_render_portrait.engine import render_portrait
from c3_render_portrait.errors import Aborted, BadAudio, BadImage, NoFaceFound
from c3_render_portrait.images import fit_frame_size, load_portrait_frame
from c3_render_portrait.loudness import normalise_levels
from PIL import Image, ImageFile
from skimage import data

FFMPEG = imageio_ffmpeg.get_ffmpeg_exe()
SAMPLE_RATE = 16_000
FPS = 25
#: The test speech: loud tone, then silence, then loud tone again (seconds).
LOUD_UNTIL, SILENT_UNTIL, AUDIO_SECONDS = 1.0, 2.0, 2.5


# ---------------------------------------------------------------- helpers


def write_wav(path: Path, samples: np.ndarray) -> Path:
    """Write float samples (full scale = 1) as 16-bit mono WAV."""
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(SAMPLE_RATE)
        wav.writeframes((np.clip(samples, -1, 1) * 32767).astype("<i2").tobytes())
    return path


def speech_like_tone(seconds: float) -> np.ndarray:
    """A 220 Hz tone with syllable-rate amplitude modulation; silent between LOUD_UNTIL and SILENT_UNTIL."""
    t = np.arange(int(seconds * SAMPLE_RATE)) / SAMPLE_RATE
    tone = 0.6 * np.sin(2 * np.pi * 220 * t) * (0.75 + 0.25 * np.sin(2 * np.pi * 4 * t))
    tone[(t >= LOUD_UNTIL) & (t < SILENT_UNTIL)] = 0.0
    return tone


def probe(path: Path) -> str:
    """ffmpeg's description of a media file (its stderr for `ffmpeg -i`)."""
    return subprocess.run([FFMPEG, "-hide_banner", "-i", str(path)], check=False, capture_output=True, text=True).stderr


def probed_duration(description: str) -> float:
    hours, minutes, seconds = re.search(r"Duration: (\d+):(\d+):([\d.]+)", description).groups()
    return int(hours) * 3600 + int(minutes) * 60 + float(seconds)


def frame_at(video: Path, seconds: float, width: int, height: int) -> np.ndarray:
    """Decode the video frame shown at ``seconds`` as an RGB array."""
    raw = subprocess.run(
        [FFMPEG, "-loglevel", "error", "-ss", f"{seconds:.3f}", "-i", str(video), "-frames:v", "1",
         "-f", "rawvideo", "-pix_fmt", "rgb24", "pipe:1"],
        capture_output=True, check=True,
    ).stdout  # fmt: skip
    return np.frombuffer(raw, dtype=np.uint8).reshape(height, width, 3).astype(np.int16)


def png_header_only(path: Path, width: int, height: int) -> Path:
    """A PNG that declares width x height pixels but carries almost no data (a decompression bomb's header)."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)  # 8-bit RGB
    idat = zlib.compress(b"\x00" * 64)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b""))
    return path


# ---------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def media(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("portrait-media")
    Image.fromarray(data.astronaut()).save(folder / "astronaut.jpg", quality=92)
    write_wav(folder / "speech.wav", speech_like_tone(AUDIO_SECONDS))
    write_wav(folder / "short.wav", speech_like_tone(0.8))
    return folder


@pytest.fixture(scope="module")
def rendered(media, tmp_path_factory):
    """One full render of the astronaut speaking, shared by the output checks."""
    out = tmp_path_factory.mktemp("portrait-out") / "talking.mp4"
    reports: list[tuple[float, str]] = []
    result = render_portrait(media / "astronaut.jpg", media / "speech.wav", out, fps=FPS,
                             progress=lambda fraction, message: reports.append((fraction, message)))  # fmt: skip
    return result, reports


# ---------------------------------------------------------------- a real render


def test_render_writes_h264_yuv420p_aac_mp4_as_long_as_the_audio(rendered):
    result, _ = rendered
    description = probe(result.path)
    assert "Video: h264" in description
    assert "yuv420p" in description
    assert "Audio: aac" in description
    assert abs(probed_duration(description) - AUDIO_SECONDS) <= 0.2
    assert f"{result.width}x{result.height}" in description
    assert (result.width, result.height) == (512, 512)
    assert result.frames == math.ceil(AUDIO_SECONDS * FPS)
    assert result.duration_seconds == pytest.approx(AUDIO_SECONDS, abs=0.01)


def test_render_reports_the_face_where_the_astronaut_face_is(rendered):
    x, y, width, height = rendered[0].face_box
    assert 150 <= x + width / 2 <= 300 and 60 <= y + height / 2 <= 170
    assert 60 <= width <= 140


def test_progress_only_moves_forward_and_ends_at_one(rendered):
    fractions = [fraction for fraction, _ in rendered[1]]
    assert len(fractions) >= 5
    assert fractions == sorted(fractions)
    assert fractions[0] >= 0.0 and fractions[-1] == 1.0


def test_mouth_opens_on_loud_audio_and_stays_closed_in_silence(rendered):
    result, _ = rendered
    x, y, w, h = result.face_box
    mouth = (slice(y + int(0.6 * h), y + int(1.15 * h)), slice(x + w // 4, x + 3 * w // 4))
    corner = (slice(0, 60), slice(0, 60))
    loud = frame_at(result.path, 0.52, result.width, result.height)
    silent = frame_at(result.path, 1.6, result.width, result.height)
    also_silent = frame_at(result.path, 1.84, result.width, result.height)

    assert np.abs(loud[mouth] - silent[mouth]).mean() > 6.0  # the jaw moved
    assert np.abs(silent[mouth] - also_silent[mouth]).mean() < 2.0  # silence: mouth at rest
    assert np.abs(loud[corner] - silent[corner]).mean() < 2.0  # only the face moves


# ---------------------------------------------------------------- image handling


def test_large_image_is_fitted_within_1280x720_keeping_its_aspect(media, tmp_path):
    canvas = Image.new("RGB", (3000, 2000), (200, 200, 205))
    canvas.paste(Image.fromarray(data.astronaut()).resize((1800, 1800)), (600, 100))
    canvas.save(tmp_path / "wide.jpg", quality=90)
    out = tmp_path / "wide.mp4"

    result = render_portrait(tmp_path / "wide.jpg", media / "short.wav", out)

    assert (result.width, result.height) == (1080, 720)
    assert "1080x720" in probe(out)


def test_exif_orientation_is_applied(tmp_path):
    exif = Image.Exif()
    exif[0x0112] = 6  # stored landscape, shown rotated 90 degrees clockwise
    Image.new("RGB", (600, 400), (10, 20, 30)).save(tmp_path / "rotated.jpg", exif=exif)
    assert load_portrait_frame(tmp_path / "rotated.jpg").shape == (600, 400, 3)


@pytest.mark.parametrize(
    ("width", "height", "fitted"),
    [
        (3000, 2000, (1080, 720)),
        (1920, 1080, (1280, 720)),
        (513, 511, (512, 510)),
        (400, 900, (320, 720)),
        (1365, 2048, (480, 720)),
    ],
)
def test_frame_size_fits_the_box_with_even_sides(width, height, fitted):
    assert fit_frame_size(width, height) == fitted


def test_image_without_a_face_is_refused(media, tmp_path):
    gradient = np.tile(np.linspace(0, 255, 640, dtype=np.uint8), (480, 1))
    Image.fromarray(np.dstack([gradient] * 3)).save(tmp_path / "gradient.png")
    out = tmp_path / "out.mp4"
    with pytest.raises(NoFaceFound, match="no face found"):
        render_portrait(tmp_path / "gradient.png", media / "speech.wav", out)
    assert not out.exists()


def test_file_that_is_not_an_image_is_refused(media, tmp_path):
    (tmp_path / "photo.jpg").write_text("this is a text file, not a photo")
    out = tmp_path / "out.mp4"
    with pytest.raises(BadImage, match="not a recognised image"):
        render_portrait(tmp_path / "photo.jpg", media / "speech.wav", out)
    assert not out.exists()


def test_tiny_image_is_refused(media, tmp_path):
    Image.fromarray(data.astronaut()).resize((48, 48)).save(tmp_path / "tiny.png")
    with pytest.raises(BadImage, match="too small"):
        render_portrait(tmp_path / "tiny.png", media / "speech.wav", tmp_path / "out.mp4")
    assert not (tmp_path / "out.mp4").exists()


@pytest.mark.parametrize(("width", "height"), [(20000, 20000), (8000, 6000)])
def test_oversized_image_is_refused_before_decoding(media, tmp_path, monkeypatch, width, height):
    bomb = png_header_only(tmp_path / "bomb.png", width, height)

    def no_decoding(self):
        raise AssertionError("the pixels were decoded")

    monkeypatch.setattr(ImageFile.ImageFile, "load", no_decoding)
    out = tmp_path / "out.mp4"
    with pytest.raises(BadImage, match="too large"):
        render_portrait(bomb, media / "speech.wav", out)
    assert not out.exists()


# ---------------------------------------------------------------- audio handling


def test_corrupt_audio_is_refused_with_a_readable_message(media, tmp_path):
    (tmp_path / "speech.wav").write_bytes(np.random.default_rng(1).bytes(4000))
    out = tmp_path / "out.mp4"
    with pytest.raises(BadAudio, match="corrupt or not in a recognised audio format"):
        render_portrait(media / "astronaut.jpg", tmp_path / "speech.wav", out)
    assert not out.exists()


def test_audio_without_samples_is_refused(media, tmp_path):
    empty = write_wav(tmp_path / "empty.wav", np.zeros(0))
    with pytest.raises(BadAudio, match="no sound samples"):
        render_portrait(media / "astronaut.jpg", empty, tmp_path / "out.mp4")
    assert not (tmp_path / "out.mp4").exists()


def test_loudness_is_zero_in_silence_and_rises_with_volume():
    rms = np.array([0.0, 1e-4, 0.01, 0.1, 0.3, 0.3])
    levels = normalise_levels(rms)
    assert levels[0] == 0.0 and levels[1] == 0.0  # below the silence gate
    assert 0.0 < levels[2] < levels[3] < levels[4]
    assert levels[4] == pytest.approx(1.0)


# ---------------------------------------------------------------- stopping


@pytest.mark.parametrize("stop_when", ["analysing the audio", "rendered frame", "finishing the video"])
def test_stop_request_aborts_and_leaves_nothing_behind(media, tmp_path, stop_when):
    """Stopping while decoding audio, while sending frames, or while ffmpeg finishes the file."""
    seen: list[str] = []

    def should_stop() -> bool:
        return any(message.startswith(stop_when) for message in seen)

    out = tmp_path / "out.mp4"
    with pytest.raises(Aborted):
        render_portrait(media / "astronaut.jpg", media / "speech.wav", out, should_stop=should_stop,
                        progress=lambda fraction, message: seen.append(message))  # fmt: skip
    assert list(tmp_path.iterdir()) == []
