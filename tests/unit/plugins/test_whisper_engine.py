"""Local CPU speech-to-text engine of the whisper plugin (faster-whisper, packaged tiny.en).

Test speech is synthesised offline with the espeak-ng library of the
``espeakng-loader`` package, in a child process (espeak-ng keeps global state,
which another plugin's code may also touch). Run this file as a script to
write a WAV: ``python test_whisper_engine.py --speak OUT.wav "some text"``.
"""

from __future__ import annotations

import ctypes
import random
import re
import subprocess
import sys
import threading
import wave
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from c3_render_whisper import engine as stt

ESPEAK_VOICE = "en-us"
ESPEAK_WORDS_PER_MINUTE = 140
# Sentences the tiny.en model reads back exactly from espeak-ng's en-us voice
# (no numbers or US/UK spellings, which would need a smarter normaliser).
KNOWN_SPEECH = (
    "The weather today is sunny with a light breeze from the west. "
    "We will meet at the library on Monday morning to discuss the project. "
    "Please send the report to the finance team before the end of the week."
)
MAX_WORD_ERROR_RATE = 0.10


def _speak_in_this_process(text: str, wav_path: Path, words_per_minute: int = ESPEAK_WORDS_PER_MINUTE) -> None:
    """Synthesise ``text`` with libespeak-ng into a 16-bit mono WAV (espeak's own rate, 22050 Hz)."""
    import espeakng_loader

    library = ctypes.CDLL(espeakng_loader.get_library_path())
    library.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
    library.espeak_Synth.argtypes = [
        ctypes.c_char_p, ctypes.c_size_t, ctypes.c_uint, ctypes.c_int,
        ctypes.c_uint, ctypes.c_uint, ctypes.c_void_p, ctypes.c_void_p,
    ]  # fmt: skip
    synchronous_output, position_character, utf8_text, rate_parameter = 2, 1, 1, 1
    sample_rate_hz = library.espeak_Initialize(synchronous_output, 0, espeakng_loader.get_data_path().encode(), 0)
    if sample_rate_hz <= 0:
        raise RuntimeError("espeak-ng failed to initialise")
    chunks: list[bytes] = []

    @ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p)
    def collect(samples, count, _events):
        if samples and count > 0:
            chunks.append(ctypes.string_at(samples, count * 2))
        return 0

    library.espeak_SetSynthCallback(collect)
    if library.espeak_SetVoiceByName(ESPEAK_VOICE.encode()) != 0:
        raise RuntimeError(f"espeak-ng has no voice {ESPEAK_VOICE}")
    library.espeak_SetParameter(rate_parameter, words_per_minute, 0)
    encoded = text.encode()
    if library.espeak_Synth(encoded, len(encoded) + 1, 0, position_character, 0, utf8_text, None, None) != 0:
        raise RuntimeError("espeak-ng failed to synthesise")
    library.espeak_Synchronize()
    with wave.open(str(wav_path), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(sample_rate_hz)
        wav.writeframes(b"".join(chunks))


def synthesize_speech_wav(text: str, wav_path: Path) -> Path:
    """Speak ``text`` into ``wav_path`` in a child process; returns the path."""
    subprocess.run([sys.executable, __file__, "--speak", str(wav_path), text], check=True, timeout=120)
    return wav_path


def run_ffmpeg(*arguments: str) -> None:
    import imageio_ffmpeg

    command = [imageio_ffmpeg.get_ffmpeg_exe(), "-nostdin", "-hide_banner", "-loglevel", "error", "-y", *arguments]
    subprocess.run(command, check=True, timeout=120)


def words(text: str) -> list[str]:
    return re.sub(r"[^a-z0-9' ]", " ", text.lower()).split()


def word_error_rate(reference: str, hypothesis: str) -> float:
    """Word-level edit distance / reference length, after lower-casing and dropping punctuation."""
    ref, hyp = words(reference), words(hypothesis)
    previous = list(range(len(hyp) + 1))
    for i, ref_word in enumerate(ref, 1):
        current = [i]
        for j, hyp_word in enumerate(hyp, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ref_word != hyp_word)))
        previous = current
    return previous[-1] / len(ref)


# ---------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def media(tmp_path_factory) -> SimpleNamespace:
    """The known sentences as WAV, MP3 and MP4 (blue video + AAC), plus silence and a silent video."""
    folder = tmp_path_factory.mktemp("whisper-media")
    wav = synthesize_speech_wav(KNOWN_SPEECH, folder / "speech.wav")
    mp3, mp4, video_only = folder / "speech.mp3", folder / "speech.mp4", folder / "video_only.mp4"
    run_ffmpeg("-i", str(wav), "-c:a", "libmp3lame", "-b:a", "64k", str(mp3))
    run_ffmpeg("-f", "lavfi", "-i", "color=c=blue:s=64x64:r=5", "-i", str(wav), "-shortest",
               "-c:v", "libx264", "-pix_fmt", "yuv420p", "-c:a", "aac", str(mp4))  # fmt: skip
    run_ffmpeg("-f", "lavfi", "-i", "color=c=blue:s=64x64:r=5", "-t", "1", "-c:v", "libx264", "-pix_fmt", "yuv420p",
               str(video_only))  # fmt: skip
    silence = folder / "silence.wav"
    with wave.open(str(silence), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(16_000)
        out.writeframes(np.zeros(3 * 16_000, dtype=np.int16).tobytes())
    return SimpleNamespace(folder=folder, wav=wav, mp3=mp3, mp4=mp4, video_only=video_only, silence=silence)


@pytest.fixture(scope="module")
def engine() -> stt.TranscriptionEngine:
    """The packaged tiny.en model with default settings, whatever this shell's environment says."""
    return stt.TranscriptionEngine(stt.EngineSettings.from_env({}))


# ---------------------------------------------------------------- real model


def test_transcribes_known_speech_from_wav(engine, media):
    transcript = engine.transcribe(media.wav)
    assert word_error_rate(KNOWN_SPEECH, transcript.text) <= MAX_WORD_ERROR_RATE, transcript.text
    assert transcript.language == "en"
    assert transcript.model_used == "tiny.en (local CPU, requested: medium)"
    assert transcript.segment_count >= 1
    with wave.open(str(media.wav)) as wav:
        assert transcript.duration_seconds == pytest.approx(wav.getnframes() / wav.getframerate(), abs=0.05)
    assert any("auto-detection" in note for note in transcript.notes)
    assert transcript.metadata()["model_used"] == transcript.model_used


@pytest.mark.parametrize("kind", ["mp3", "mp4"])
def test_transcribes_compressed_audio_and_video_containers(engine, media, kind):
    transcript = engine.transcribe(getattr(media, kind), requested_model="large-v3", language="en")
    assert word_error_rate(KNOWN_SPEECH, transcript.text) <= MAX_WORD_ERROR_RATE, transcript.text
    assert transcript.model_used == "tiny.en (local CPU, requested: large-v3)"
    assert transcript.notes == ()


def test_silence_gives_empty_text_not_invented_words(engine, media):
    transcript = engine.transcribe(media.silence, language="en")
    assert transcript.text == ""
    assert transcript.segment_count == 0
    assert transcript.duration_seconds == pytest.approx(3.0)


def test_concurrent_jobs_share_one_model(engine, media):
    results: dict[int, str] = {}

    def job(number: int) -> None:
        results[number] = engine.transcribe(media.wav, language="en").text

    threads = [threading.Thread(target=job, args=(n,)) for n in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert len(results) == 2
    for text in results.values():
        assert word_error_rate(KNOWN_SPEECH, text) <= MAX_WORD_ERROR_RATE, text
    assert len(engine._models) == 1


def test_should_stop_aborts_between_segments(engine, media):
    progress: list[float] = []
    with pytest.raises(stt.Aborted):
        engine.transcribe(media.wav, language="en", on_progress=progress.append, should_stop=lambda: bool(progress))
    assert len(progress) == 1 and 0 < progress[0] < 1


def test_should_stop_before_start_aborts(engine, media):
    with pytest.raises(stt.Aborted):
        engine.transcribe(media.wav, should_stop=lambda: True)


# ---------------------------------------------------------------- requests the English-only model cannot serve


def test_translate_on_english_only_model_is_refused(engine, media):
    with pytest.raises(stt.UnsupportedRequest, match="translation needs a multilingual .*tiny.en"):
        engine.transcribe(media.wav, task="translate")


@pytest.mark.parametrize("language", ["de", "fr", "zh"])
def test_non_english_language_on_english_only_model_is_refused(engine, media, language):
    with pytest.raises(stt.UnsupportedRequest, match=f"language '{language}' needs a multilingual"):
        engine.transcribe(media.wav, language=language)


@pytest.mark.parametrize(
    ("arguments", "message"),
    [({"requested_model": "huge"}, "unknown model 'huge'"), ({"task": "summarise"}, "unknown task 'summarise'")],
)
def test_unknown_model_or_task_is_refused(engine, media, arguments, message):
    with pytest.raises(stt.UnsupportedRequest, match=message):
        engine.transcribe(media.wav, **arguments)


# ---------------------------------------------------------------- bad audio


def _write(folder: Path, name: str, content: bytes) -> Path:
    path = folder / name
    path.write_bytes(content)
    return path


def _bad_inputs(media) -> dict[str, tuple[Path, str]]:
    rng = random.Random(7)
    folder = media.folder
    return {
        "text renamed .mp3": (_write(folder, "text.mp3", b"this is a shopping list, not audio\n" * 20), "not audio"),
        "zero-length": (_write(folder, "empty.wav", b""), "empty"),
        "random bytes": (_write(folder, "noise.ogg", rng.randbytes(20_000)), "not audio"),
        "truncated mp4": (_write(folder, "cut.mp4", media.mp4.read_bytes()[:20_000]), "incomplete"),
        "truncated wav header": (_write(folder, "cut.wav", media.wav.read_bytes()[:30]), "not audio"),
        "video without audio": (media.video_only, "no audio track"),
    }


@pytest.mark.parametrize(
    "case",
    [
        "text renamed .mp3",
        "zero-length",
        "random bytes",
        "truncated mp4",
        "truncated wav header",
        "video without audio",
    ],
)
def test_bad_audio_is_reported_in_plain_words(engine, media, case):
    path, expected = _bad_inputs(media)[case]
    with pytest.raises(stt.BadAudio) as raised:
        engine.transcribe(path, language="en")
    message = str(raised.value)
    assert expected in message
    assert "0x" not in message and "Traceback" not in message and len(message) < 200


def test_audio_longer_than_the_limit_is_refused(media):
    short_limit = stt.TranscriptionEngine(stt.EngineSettings.from_env({"C3_WHISPER_MAX_AUDIO_SECONDS": "2"}))
    with pytest.raises(stt.BadAudio, match="longer than 2 s"):
        short_limit.transcribe(media.wav, language="en")


def test_damaged_audio_is_refused(media):
    damaged = bytearray(media.mp3.read_bytes())
    rng = random.Random(3)
    for _ in range(300):
        damaged[rng.randrange(2_000, len(damaged))] = rng.randrange(256)
    path = _write(media.folder, "damaged.mp3", bytes(damaged))
    with pytest.raises(stt.BadAudio, match="damaged or truncated"):
        stt.decode_audio(path)


def test_decoded_audio_is_16khz_mono_float(media):
    audio = stt.decode_audio(media.mp4)
    assert audio.samples.dtype == np.float32 and audio.samples.ndim == 1
    with wave.open(str(media.wav)) as wav:
        assert audio.duration_seconds == pytest.approx(wav.getnframes() / wav.getframerate(), abs=0.05)
    assert 0.01 < float(np.abs(audio.samples).max()) <= 1.0


# ---------------------------------------------------------------- configuration and model choice (fake models)


class FakeWhisper:
    """Stands in for faster_whisper.WhisperModel; records the keyword arguments of each call."""

    def __init__(self, multilingual: bool) -> None:
        self.model = SimpleNamespace(is_multilingual=multilingual)
        self.supported_languages = ["en", "de", "fr"] if multilingual else ["en"]
        self.calls: list[dict] = []

    def transcribe(self, audio, **options):
        self.calls.append(options)
        segments = [SimpleNamespace(text=" Guten  Tag. ", end=1.0), SimpleNamespace(text=" Hallo. ", end=2.0)]
        return iter(segments), SimpleNamespace(language=options["language"] or "de")


@pytest.fixture()
def fake_engine():
    english, multilingual = FakeWhisper(multilingual=False), FakeWhisper(multilingual=True)
    settings = stt.EngineSettings(
        model=stt.LocalModel("tiny.en", Path("/models/en")),
        multilingual_model=stt.LocalModel("small", Path("/models/multi")),
    )
    fakes = {Path("/models/en"): english, Path("/models/multi"): multilingual}
    engine = stt.TranscriptionEngine(settings, load_model=lambda model, _settings: fakes[model.path])
    return SimpleNamespace(engine=engine, english=english, multilingual=multilingual)


@pytest.mark.parametrize(
    ("task", "language", "expected_language"),
    [("translate", "de", "de"), ("transcribe", "fr", "fr"), ("transcribe", "", None), ("translate", "", None)],
)
def test_multilingual_model_gets_language_and_task(fake_engine, media, task, language, expected_language):
    transcript = fake_engine.engine.transcribe(media.wav, task=task, language=language, requested_model="small")
    call = fake_engine.multilingual.calls[-1]
    assert (call["task"], call["language"]) == (task, expected_language)
    assert fake_engine.english.calls == []
    assert transcript.text == "Guten Tag. Hallo."
    assert transcript.segment_count == 2
    assert transcript.model_used == "small (local CPU, requested: small)"


def test_english_requests_use_the_english_model(fake_engine, media):
    fake_engine.engine.transcribe(media.wav, language=" EN ")
    assert fake_engine.english.calls[-1]["language"] == "en"
    assert fake_engine.multilingual.calls == []


def test_unknown_language_code_is_refused(fake_engine, media):
    with pytest.raises(stt.UnsupportedRequest, match="unknown language code 'xx'"):
        fake_engine.engine.transcribe(media.wav, language="xx")


def test_english_only_model_configured_as_multilingual_is_reported(media):
    fake = FakeWhisper(multilingual=False)
    settings = stt.EngineSettings(model=None, multilingual_model=stt.LocalModel("tiny.en", Path("/m")))
    engine = stt.TranscriptionEngine(settings, load_model=lambda model, _settings: fake)
    with pytest.raises(stt.EngineUnavailable, match="C3_WHISPER_MULTILINGUAL_MODEL_DIR .*English-only"):
        engine.transcribe(media.wav, language="de")


def test_model_directory_without_model_files_is_reported(tmp_path, media):
    settings = stt.EngineSettings.from_env({"C3_WHISPER_MODEL_DIR": str(tmp_path)})
    assert settings.model.path == tmp_path
    with pytest.raises(stt.EngineUnavailable, match="lacks model.bin"):
        stt.TranscriptionEngine(settings).transcribe(media.wav)


def test_bad_numeric_setting_is_reported():
    with pytest.raises(stt.EngineUnavailable, match="C3_WHISPER_CPU_THREADS='two'"):
        stt.EngineSettings.from_env({"C3_WHISPER_CPU_THREADS": "two"})


def test_default_settings_use_the_packaged_model():
    settings = stt.EngineSettings.from_env({})
    assert settings.model.name == "tiny.en"
    assert (settings.model.path / "model.bin").is_file()
    assert settings.multilingual_model is None


def test_get_engine_is_one_per_process():
    assert stt.get_engine() is stt.get_engine()


if __name__ == "__main__":
    if len(sys.argv) != 4 or sys.argv[1] != "--speak":
        sys.exit(f"usage: {sys.argv[0]} --speak OUT.wav TEXT")
    _speak_in_this_process(sys.argv[3], Path(sys.argv[2]))
