"""ffmpeg reads downloaded inputs as local files only: no URL, no playlist that opens one.

A recording wrapper around the real ffmpeg (IMAGEIO_FFMPEG_EXE) captures every command line.
"""

from __future__ import annotations

import io
import json
import stat
import sys
import wave
from pathlib import Path

import imageio_ffmpeg
import pytest
from c3_render_csm import audio, remote
from c3_render_csm import plugin as remote_plugin

from render_core.sdk.node import Node
from render_core.testing import TaskHarness


@pytest.fixture
def recorded(tmp_path, monkeypatch) -> Path:
    """Path of the JSON-lines log of ffmpeg command lines; the real ffmpeg still runs."""
    log = tmp_path / "ffmpeg-argv.jsonl"
    wrapper = tmp_path / "ffmpeg-recorder"
    wrapper.write_text(f"""#!{sys.executable}
import json, os, sys
with open({str(log)!r}, "a") as out:
    out.write(json.dumps(sys.argv[1:]) + "\\n")
os.execv({imageio_ffmpeg.get_ffmpeg_exe()!r}, [{imageio_ffmpeg.get_ffmpeg_exe()!r}, *sys.argv[1:]])
""")
    wrapper.chmod(wrapper.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("IMAGEIO_FFMPEG_EXE", str(wrapper))
    return log


def stereo_wav(path: Path) -> Path:
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(2)
        out.setsampwidth(2)
        out.setframerate(16_000)
        out.writeframes(b"\x10\x00\xf0\xff" * 8000)
    path.write_bytes(buffer.getvalue())
    return path


def assert_local_only(command: list[str]) -> None:
    """Every ``-i`` is preceded by ``-protocol_whitelist file`` and names a ``file:`` path."""
    inputs = [i for i, arg in enumerate(command) if arg == "-i"]
    assert inputs, command
    for i in inputs:
        source = command[i + 1]
        if source.startswith("pipe:"):
            continue
        assert source.startswith("file:"), command
        assert command[i - 2:i] == ["-protocol_whitelist", "file"], command


def commands(log: Path) -> list[list[str]]:
    return [json.loads(line) for line in log.read_text().splitlines()]


def test_csm_clone_reference_is_read_as_a_local_file_only(recorded, tmp_path):
    with TaskHarness(remote_plugin, work_root=tmp_path) as harness:
        ctx = harness.context("csm", node=Node(base_url="http://127.0.0.1:9", instance_id="n"))
        source = stereo_wav(ctx.work_dir / "input1.wav")
        mono = remote.mono_reference(ctx, source)

    assert mono.stat().st_size > 44
    [command] = commands(recorded)
    assert_local_only(command)


def test_csm_audio_decoding_reads_a_local_file_only(recorded, tmp_path):
    source = stereo_wav(tmp_path / "in.wav")

    pcm = audio.decode_to_pcm(source, 16_000)

    assert len(pcm) > 0
    [command] = commands(recorded)
    assert_local_only(command)
