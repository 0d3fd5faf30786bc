"""The example plugins of examples/, installed like a third party's, run jobs through the whole service."""

from __future__ import annotations

import re
import subprocess

import imageio_ffmpeg
import requests

from support.stack import wait_terminal

FFMPEG = imageio_ffmpeg.get_ffmpeg_exe()


def integrated_loudness(path) -> float:
    """EBU R128 integrated loudness of a file in LUFS, measured by ffmpeg's ebur128 filter."""
    result = subprocess.run([FFMPEG, "-hide_banner", "-nostats", "-i", str(path), "-af", "ebur128", "-f", "null",
                             "-"], capture_output=True, text=True, timeout=60)
    summary = result.stderr[result.stderr.rindex("Summary:"):]
    return float(re.search(r"I:\s+(-?[\d.]+) LUFS", summary).group(1))


def test_audio_normalize_job_through_api_worker_redis_and_s3(api, files, tmp_path):
    source = tmp_path / "interview.wav"
    subprocess.run([FFMPEG, "-hide_banner", "-loglevel", "error", "-f", "lavfi", "-i",
                    "aevalsrc='0.02*(0.6+0.4*sin(2*PI*0.4*t))*sin(2*PI*330*t)':s=22050", "-t", "5", "-y",
                    str(source)], check=True, timeout=60)
    url = files.add("/interview.wav", source.read_bytes(), "audio/wav")

    answer = requests.post(f"{api}/audio-normalize", json={"audio_url": url, "target_lufs": -18}, timeout=10)
    assert answer.status_code == 200, answer.text
    status = wait_terminal(api, answer.json()["id"], timeout=120)

    assert status["status"] == "success", status
    assert status["metadata"]["input"]["integrated_lufs"] < -30
    assert abs(status["metadata"]["output"]["integrated_lufs"] - (-18)) <= 1.0
    result_url = requests.get(f"{api}/result/{status['id']}", timeout=5).json()["result_url"]
    assert f"/{status['id']}.mp3?" in result_url
    fetched = requests.get(result_url, timeout=30)
    assert fetched.status_code == 200 and fetched.headers["Content-Type"] == "audio/mpeg"
    result = tmp_path / "result.mp3"
    result.write_bytes(fetched.content)
    assert abs(integrated_loudness(result) - (-18)) <= 1.0
    openapi = requests.get(f"{api}/openapi.json", timeout=5).json()
    assert "target_lufs" in str(openapi["paths"]["/audio-normalize"])


def test_audio_normalize_refuses_a_bad_body_naming_the_field(api):
    answer = requests.post(f"{api}/audio-normalize", json={"audio_url": "http://example.com/a.wav",
                                                           "format": "flac"}, timeout=10)
    assert answer.status_code == 400 and "format" in answer.text
