"""``c3-render submit/status/result/cancel/jobs`` against a real API and worker: results and exit codes."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import requests

from conftest import API_KEYS
from support.media import word_error_rate

SENTENCES = ["The quick brown fox jumps over the lazy dog.", "Rendering speech on a small machine works well."]


def c3(keyed_api: str, *args: str, who: str = "alice", timeout: float = 240) -> subprocess.CompletedProcess:
    """Run the CLI as a user would (stdout is a pipe: plain progress lines on stderr)."""
    env = {"PATH": "/usr/bin:/bin", "C3_RENDER_URL": keyed_api, "C3_RENDER_API_KEY": API_KEYS[who]}
    return subprocess.run([sys.executable, "-m", "render_core.cli", *args], env=env, capture_output=True,
                          text=True, timeout=timeout)


@pytest.fixture(scope="module")
def speech_wav(keyed_api, tmp_path_factory) -> Path:
    """A WAV of over 5 MB: the csm engine's speech, 44.1 kHz stereo, padded with silence to 32 s."""
    import imageio_ffmpeg

    headers = {"X-C3-RENDER-KEY": API_KEYS["alice"], "Prefer": "wait=60"}
    job = requests.post(f"{keyed_api}/csm", json={"monologue": SENTENCES, "pause_duration": 300}, headers=headers,
                        timeout=90).json()
    if job["status"] != "success":
        job = wait_terminal_keyed(keyed_api, job["id"])
    assert job["status"] == "success", job
    mp3 = tmp_path_factory.mktemp("speech") / "speech.mp3"
    mp3.write_bytes(requests.get(job["result"]["result_url"], timeout=30).content)
    wav = mp3.with_suffix(".wav")
    subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-i", str(mp3), "-af", "apad=whole_dur=32",
                    "-ar", "44100", "-ac", "2", "-c:a", "pcm_s16le", str(wav)], check=True, timeout=60)
    assert wav.stat().st_size > 5_000_000
    return wav


def wait_terminal_keyed(api: str, job_id: str) -> dict:
    headers = {"X-C3-RENDER-KEY": API_KEYS["alice"], "Prefer": "wait=60"}
    for _ in range(4):
        body = requests.get(f"{api}/status/{job_id}", headers=headers, timeout=90).json()
        if body["status"] not in ("queued", "running"):
            return body
    return body


def test_submit_uploads_a_local_wav_waits_and_prints_the_transcript(keyed_api, speech_wav):
    done = c3(keyed_api, "submit", "whisper", "--file", f"audio_url={speech_wav}", "--wait")
    assert done.returncode == 0, done.stderr
    assert word_error_rate(" ".join(SENTENCES), done.stdout) <= 0.25, done.stdout
    assert "uploading" in done.stderr and " success" in done.stderr  # plain progress lines, not a bar


def test_submit_wait_saves_media_to_a_file(keyed_api, tmp_path):
    out = tmp_path / "echo.txt"
    done = c3(keyed_api, "submit", "echo-file", "--field", "message=saved to disk", "--wait", "-o", str(out))
    assert done.returncode == 0, done.stderr
    assert out.read_text() == "saved to disk"


def test_submit_without_wait_prints_the_id_and_status_result_follow(keyed_api, tmp_path):
    done = c3(keyed_api, "submit", "echo", "--json", '{"message": "hi"}', "--field", "seconds:=0.2")
    assert done.returncode == 0, done.stderr
    job_id = done.stdout.strip()
    status = c3(keyed_api, "status", job_id, "--wait", "30")
    assert status.returncode == 0 and '"status": "success"' in status.stdout
    result = c3(keyed_api, "result", job_id)
    assert result.returncode == 0 and result.stdout == "hi\n"
    listed = c3(keyed_api, "jobs", "--status", "success", "--limit", "100")
    assert listed.returncode == 0 and job_id in listed.stdout
    assert job_id not in c3(keyed_api, "jobs", "--limit", "100", who="bob").stdout
    assert c3(keyed_api, "status", job_id, who="bob").returncode == 2  # not bob's: 404


def test_a_failed_job_exits_1_with_its_error(keyed_api):
    done = c3(keyed_api, "submit", "echo", "--field", "message=x", "--field", "fail=the model refused", "--wait")
    assert done.returncode == 1
    assert "failed: the model refused" in done.stderr
    job_id = done.stderr.split("job ", 1)[1].split()[0]
    assert c3(keyed_api, "status", job_id).returncode == 1
    assert c3(keyed_api, "result", job_id).returncode == 1


def test_cancel_and_a_wait_that_times_out_exit_1(keyed_api):
    slow = c3(keyed_api, "submit", "echo", "--field", "message=slow", "--field", "seconds:=60", "--wait",
              "--timeout", "1")
    assert slow.returncode == 1 and "still" in slow.stderr
    job_id = slow.stderr.split("job ", 1)[1].split()[0]
    assert c3(keyed_api, "cancel", job_id).returncode == 0
    assert c3(keyed_api, "cancel", job_id).returncode == 0  # cancelling again changes nothing
    cancelled = c3(keyed_api, "result", job_id)
    assert cancelled.returncode == 1 and "cancelled" in cancelled.stderr
    finished = c3(keyed_api, "submit", "echo", "--field", "message=done", "--wait")
    finished_id = finished.stderr.split("job ", 1)[1].split()[0]
    too_late = c3(keyed_api, "cancel", finished_id)
    assert too_late.returncode == 1 and "already success" in too_late.stderr


@pytest.mark.parametrize("args, message", [
    (["submit", "echo", "--field", "novalue"], "name=value"),
    (["submit", "echo", "--json", "[1]"], "JSON object"),
    (["submit", "echo", "--field", "message:=not json"], "must be JSON"),
    (["submit", "echo", "--file", "input_url=/no/such/file"], "is not a file"),
    (["submit", "echo", "--field", "seconds:=1"], "message"),          # the API's 400 names the field
    (["submit", "no-such-task", "--field", "a=b"], "HTTP 404"),
    (["status", "not-an-id"], "not a job id"),
    (["submit"], "the following arguments are required"),             # argparse usage
])
def test_usage_and_api_errors_exit_2(keyed_api, args, message):
    done = c3(keyed_api, *args)
    assert done.returncode == 2, done.stderr
    assert message in done.stderr


def test_an_unreachable_api_or_a_wrong_key_exits_2(keyed_api):
    done = c3("http://127.0.0.1:9", "jobs")
    assert done.returncode == 2 and "cannot reach the API" in done.stderr
    env_key = c3(keyed_api, "jobs", "--key", "wrong-key-0123456789abcdef")
    assert env_key.returncode == 2 and "not valid" in env_key.stderr
