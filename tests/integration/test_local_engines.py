"""Every built-in task end to end on the local CPU engines, through the API and a real worker."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
import requests
from PIL import Image, ImageDraw, ImageFont

from support.stack import wait_terminal
from support.media import png_bomb, probe, word_error_rate

SENTENCES = ["The quick brown fox jumps over the lazy dog.", "Rendering speech on a small machine works well."]


def run_job(api, task, body, timeout=240.0):
    response = requests.post(f"{api}/{task}", json=body, timeout=10)
    assert response.status_code == 200, response.text
    job_id = response.json()["id"]
    return job_id, wait_terminal(api, job_id, timeout=timeout)


def result_of(api, job_id):
    response = requests.get(f"{api}/result/{job_id}", timeout=10)
    assert response.status_code == 200, response.text
    return response.json()


def fetch(url, dest: Path) -> Path:
    response = requests.get(url, timeout=30)
    assert response.status_code == 200
    dest.write_bytes(response.content)
    return dest


@pytest.fixture(scope="module")
def speech(api, tmp_path_factory):
    """A csm job's result: (presigned URL, local copy)."""
    job_id, status = run_job(api, "csm", {"monologue": SENTENCES, "voice": "conversational_a",
                                          "pause_duration": 300})
    assert status["status"] == "success", status
    url = result_of(api, job_id)["result_url"]
    return url, fetch(url, tmp_path_factory.mktemp("speech") / "speech.mp3"), status


def test_csm_makes_an_mp3_of_plausible_length(speech):
    url, path, status = speech
    info = probe(path)
    assert info["audio"] and "mp3" in info["audio"][0]
    words = sum(len(s.split()) for s in SENTENCES)
    assert words / 6.0 <= info["duration"] <= words / 1.0  # 1 to 6 words per second
    assert "voice_used" in str(status["metadata"]) or status["metadata"]


def test_whisper_transcribes_the_csm_audio(api, speech):
    url, _, _ = speech
    job_id, status = run_job(api, "whisper", {"audio_url": url})
    assert status["status"] == "success", status
    text = result_of(api, job_id)["text"]
    assert word_error_rate(" ".join(SENTENCES), text) <= 0.10, text
    assert "tiny" in str(status["metadata"]).lower()


def test_portrait_animates_the_astronaut_with_the_csm_audio(api, speech, files, tmp_path):
    from skimage import data

    buffer = io.BytesIO()
    Image.fromarray(data.astronaut()).save(buffer, "JPEG")
    image_url = files.add("/astronaut.jpg", buffer.getvalue(), "image/jpeg")
    url, audio_path, _ = speech
    job_id, status = run_job(api, "portrait", {"image_url": image_url, "audio_url": url})
    assert status["status"] == "success", status
    video = fetch(result_of(api, job_id)["result_url"], tmp_path / "out.mp4")
    info = probe(video)
    assert "h264" in info["video"][0] and "yuv420p" in info["video"][0]
    assert "aac" in info["audio"][0]
    assert abs(info["duration"] - probe(audio_path)["duration"]) <= 0.2


def test_analyze_reports_drawn_text_and_colours(api, files):
    image = Image.new("RGB", (900, 500), (30, 60, 200))
    draw = ImageDraw.Draw(image)
    draw.rectangle([0, 0, 900, 250], fill="white")
    draw.text((450, 125), "HELLO RENDER", fill="black", font=ImageFont.load_default(size=90), anchor="mm")
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    job_id, status = run_job(api, "analyze", {"image_url": files.add("/drawn.png", buffer.getvalue(), "image/png")})
    assert status["status"] == "success", status
    report = result_of(api, job_id)["text"]
    assert "HELLO RENDER" in report.upper()
    assert "blue" in report.lower() and "white" in report.lower()
    assert "900x500" in report


def test_clone_on_the_local_node_fails_clearly(api, files):
    job_id, status = run_job(api, "csm", {"text": "Hi.", "voice": "clone", "reference_text": "hello",
                                          "reference_audio_url": files.add("/ref.mp3", b"x")})
    assert status["status"] == "failed"
    assert "voice cloning needs a GPU node" in status["error"]


BAD_MEDIA = [
    ("whisper", "audio_url", "/truncated.mp3", None, "audio"),
    ("analyze", "image_url", "/page.html", b"<!doctype html><html><body>not an image</body></html>", "not an image"),
    ("analyze", "image_url", "/bomb.png", None, "20000x20000"),
    ("portrait", "image_url", "/noface.png", None, "face"),
]


@pytest.mark.parametrize("task,field,path,data,expected", BAD_MEDIA)
def test_bad_media_fails_with_a_clear_error_and_leaves_nothing(api, files, speech, settings, task, field, path,
                                                               data, expected):
    url, audio_path, _ = speech
    if path == "/truncated.mp3":
        data = audio_path.read_bytes()[:600]  # ~2 ms of sound survives the cut
    elif path == "/bomb.png":
        data = png_bomb()
    elif path == "/noface.png":
        buffer = io.BytesIO()
        Image.linear_gradient("L").resize((400, 300)).convert("RGB").save(buffer, "PNG")
        data = buffer.getvalue()
    body = {field: files.add(path, data)}
    if task == "portrait":
        body["audio_url"] = url
    job_id, status = run_job(api, task, body)
    assert status["status"] == "failed"
    assert expected.lower() in status["error"].lower(), status["error"]
    assert "Traceback" not in status["error"]
    assert not (Path(settings.output_dir) / job_id).exists()


def test_download_over_the_size_limit_fails(api, files, settings):
    big = files.add("/big.bin", b"\0" * (settings.max_download_bytes + 1))
    job_id, status = run_job(api, "analyze", {"image_url": big})
    assert status["status"] == "failed"
    assert "limit" in status["error"].lower()
    assert not (Path(settings.output_dir) / job_id).exists()
