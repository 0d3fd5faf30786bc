"""audio-normalize, run in-process by the C3 Render test harness on sounds made here with ffmpeg."""

from __future__ import annotations

import re
import subprocess

import imageio_ffmpeg
import pytest

from c3_render_audio_normalize import plugin
from render_core.testing import TaskHarness

FFMPEG = imageio_ffmpeg.get_ffmpeg_exe()
#: How far (LU) the output's integrated loudness may be from the target.
TOLERANCE_LU = 1.0


def make_audio(path, source: str, seconds: float = 6.0, *extra: str):
    """Render an ffmpeg lavfi source (e.g. ``sine=frequency=440``) for ``seconds`` into ``path``."""
    subprocess.run([FFMPEG, "-hide_banner", "-loglevel", "error", "-f", "lavfi", "-i", source, "-t", str(seconds),
                    *extra, "-y", str(path)], check=True, timeout=60)
    return path


def ebur128(path) -> dict:
    """Integrated loudness (LUFS) and true peak (dBFS) of a file, measured independently of the plugin."""
    result = subprocess.run([FFMPEG, "-hide_banner", "-nostats", "-i", str(path), "-af", "ebur128=peak=true",
                             "-f", "null", "-"], capture_output=True, text=True, timeout=60)
    summary = result.stderr[result.stderr.rindex("Summary:"):]
    return {"integrated": float(re.search(r"I:\s+(-?[\d.]+) LUFS", summary).group(1)),
            "true_peak": float(re.search(r"Peak:\s+(-?[\d.]+|-inf) dBFS", summary).group(1))}


def header_of(path) -> dict:
    result = subprocess.run([FFMPEG, "-hide_banner", "-i", str(path)], capture_output=True, text=True, timeout=30)
    stream = re.search(r"Audio: (\w+).*?, (\d+) Hz", result.stderr)
    duration = re.search(r"Duration: (\d+):(\d\d):(\d\d\.\d+)", result.stderr)
    h, m, s = duration.groups()
    return {"codec": stream.group(1), "rate": int(stream.group(2)), "seconds": int(h) * 3600 + int(m) * 60 + float(s)}


@pytest.fixture
def harness(tmp_path):
    with TaskHarness(plugin, work_root=tmp_path) as harness:
        yield harness


@pytest.fixture
def quiet_tone(harness, tmp_path):
    """A quiet 440 Hz stereo tone swelling and fading (a loudness range, as speech or music has; loudnorm
    never applies a linear gain to a steady tone), 6 s, 44.1 kHz WAV, served by the harness."""
    path = make_audio(tmp_path / "quiet.wav", "aevalsrc='0.03*(0.6+0.4*sin(2*PI*0.4*t))*sin(2*PI*440*t)':s=44100",
                      6.0, "-ac", "2")
    return harness.files.add_file(path), ebur128(path)


def test_a_quiet_tone_becomes_an_mp3_at_the_target_loudness(harness, quiet_tone, tmp_path):
    url, measured = quiet_tone
    run = harness.run("audio-normalize", {"audio_url": url})
    assert run.status == "success", run
    assert run.content_type == "audio/mpeg" and run.file.suffix == ".mp3"
    heard = ebur128(run.file)
    assert abs(heard["integrated"] - (-16.0)) <= TOLERANCE_LU, heard
    header = header_of(run.file)
    assert header["codec"] == "mp3" and header["rate"] == 48_000 and abs(header["seconds"] - 6.0) < 0.1
    meta = run.metadata
    assert abs(meta["input"]["integrated_lufs"] - measured["integrated"]) <= 0.5
    assert abs(meta["output"]["integrated_lufs"] - (-16.0)) <= TOLERANCE_LU
    assert meta["normalization"] == "linear" and meta["duration_s"] == pytest.approx(6.0, abs=0.05)
    assert meta["target"] == {"integrated_lufs": -16.0, "true_peak_db": -1.5, "loudness_range_lu": 11.0}
    fractions = [fraction for fraction, _ in run.progress]
    assert fractions == sorted(fractions) and fractions[0] == 0.05 and fractions[-1] == pytest.approx(0.95)
    assert run.stages == ["download", "inference"]


def test_wav_output_at_the_broadcast_target(harness, quiet_tone):
    url, _ = quiet_tone
    run = harness.run("audio-normalize", {"audio_url": url, "format": "wav", "target_lufs": -23})
    assert run.status == "success", run
    assert run.file.read_bytes()[:4] == b"RIFF" and run.content_type == "audio/wav"
    assert header_of(run.file)["codec"] == "pcm_s16le"
    assert abs(ebur128(run.file)["integrated"] - (-23.0)) <= TOLERANCE_LU


def test_a_loud_square_wave_is_brought_down_under_its_true_peak(harness, tmp_path):
    path = make_audio(tmp_path / "loud.wav", "aevalsrc='0.99*sgn(sin(2*PI*220*t))':s=44100", 6.0)
    assert ebur128(path)["integrated"] > -6
    run = harness.run("audio-normalize", {"audio_url": harness.files.add_file(path), "format": "wav",
                                          "target_lufs": -20, "true_peak_db": -3})
    assert run.status == "success", run
    heard = ebur128(run.file)
    assert abs(heard["integrated"] - (-20.0)) <= TOLERANCE_LU and heard["true_peak"] <= -3.0 + 0.5


@pytest.mark.parametrize("name, make, error", [
    ("notes.mp3", lambda path: path.write_bytes(b"these are not sounds" * 50),
     "the file at audio_url is not audio that ffmpeg can read (corrupt, truncated, or not media)"),
    ("silence.wav", lambda path: make_audio(path, "anullsrc=r=44100:cl=mono", 4.0),
     "the audio is silent (below the -70 LUFS gate): there is nothing to normalize"),
    ("mute.mp4", lambda path: make_audio(path, "testsrc=size=64x64:rate=10", 1.0, "-c:v", "mpeg4"),
     "the file at audio_url has no audio track"),
])
def test_unusable_inputs_fail_with_a_reason(harness, tmp_path, name, make, error):
    path = tmp_path / name
    make(path)
    run = harness.run("audio-normalize", {"audio_url": harness.files.add_file(path)})
    assert (run.status, run.error) == ("failed", error)


def test_a_cancel_stops_ffmpeg_and_the_job(harness, quiet_tone):
    url, _ = quiet_tone
    run = harness.run("audio-normalize", {"audio_url": url}, cancel_at=0.05)
    assert run.status == "cancelled"
    assert not (run.work_dir / "normalized.mp3").exists()


def test_an_input_that_cannot_be_fetched_fails(harness):
    run = harness.run("audio-normalize", {"audio_url": f"{harness.files.url}/gone.wav"})
    assert run.status == "failed" and "HTTP 404" in run.error


@pytest.mark.parametrize("body, problems", [
    ({"audio_url": "http://example.com/a.wav", "format": "ogg"}, {"format": "must be one of 'mp3', 'wav'"}),
    ({"audio_url": "http://example.com/a.wav", "target_lufs": 0}, {"target_lufs": "must be between -40.0 and -5.0"}),
    ({}, {"audio_url": "is required"}),
])
def test_bad_bodies_are_rejected(harness, body, problems):
    run = harness.run("audio-normalize", body)
    assert run.status == "rejected" and run.problems == problems
