"""Local CPU text-to-speech engine of the csm plugin (piper voice, espeak-ng fallback, MP3)."""

from __future__ import annotations

import json
import threading

import numpy as np
import pytest
from c3_render_csm import engine as tts
from c3_render_csm.audio import decode_to_pcm, duration_seconds

TWO_SENTENCES = ["Hello there, this is the first sentence.", "And here is a second, slightly longer one."]
RATE = 22050


@pytest.fixture(scope="module")
def piper_engine() -> tts.SpeechEngine:
    engine = tts.SpeechEngine(engine="piper")
    assert engine.voices()["engine"] == "piper"
    return engine


@pytest.fixture(scope="module")
def espeak_engine() -> tts.SpeechEngine:
    return tts.SpeechEngine(engine="espeak-ng")


def median_pitch_hz(pcm: np.ndarray, sample_rate: int = RATE) -> float:
    """Median autocorrelation pitch of the loud 40 ms frames (60-400 Hz)."""
    frame = int(0.04 * sample_rate)
    shortest, longest = sample_rate // 400, sample_rate // 60
    pitches = []
    for start in range(0, len(pcm) - frame, frame):
        window = pcm[start : start + frame]
        if window.std() < 0.05:
            continue
        correlation = np.correlate(window, window, "full")[frame - 1 :]
        pitches.append(sample_rate / (shortest + int(np.argmax(correlation[shortest:longest]))))
    return float(np.median(pitches))


def test_two_sentences_give_a_plausible_mp3(piper_engine, tmp_path):
    out = tmp_path / "speech.mp3"
    result = piper_engine.synthesize(TWO_SENTENCES, out, voice="conversational_a")

    assert out.read_bytes()[:3] in (b"ID3", b"\xff\xfb", b"\xff\xf3")
    measured = duration_seconds(out)
    assert 1.0 < measured < 10.0
    assert measured == pytest.approx(result.duration_seconds, abs=0.1)
    assert (result.engine, result.sample_rate, result.sentences, result.truncated) == ("piper", RATE, 2, [])
    assert result.fallback_reason is None
    assert "joe" in result.voice_used
    assert json.loads(json.dumps(result.metadata()))["engine"] == "piper"


def test_pause_adds_its_length_between_sentences(piper_engine, tmp_path):
    sentences = ["One short line.", "Another short line.", "A third line."]
    short = piper_engine.synthesize(sentences, tmp_path / "short.mp3", temperature=0, pause_ms=0)
    long = piper_engine.synthesize(sentences, tmp_path / "long.mp3", temperature=0, pause_ms=1000)

    added = duration_seconds(long.path) - duration_seconds(short.path)
    assert added == pytest.approx(2 * 1.0, abs=0.15)  # two gaps of 1 s


def test_each_sentence_is_cut_to_max_audio_length(piper_engine, tmp_path):
    result = piper_engine.synthesize(TWO_SENTENCES, tmp_path / "cut.mp3", max_audio_length_ms=300, pause_ms=150)

    assert result.truncated == [0, 1]
    assert result.duration_seconds == pytest.approx(0.3 + 0.15 + 0.3, abs=0.01)
    assert duration_seconds(result.path) == pytest.approx(0.75, abs=0.06)


def test_only_long_sentences_are_reported_as_truncated(piper_engine, tmp_path):
    sentences = ["Hi.", "This sentence has many more words in it, so it takes far longer than one second to say."]
    result = piper_engine.synthesize(sentences, tmp_path / "cut.mp3", max_audio_length_ms=1500)

    assert result.truncated == [1]


def test_the_voices_differ_and_random_picks_one_of_them(piper_engine, tmp_path):
    results = {
        voice: piper_engine.synthesize(TWO_SENTENCES, tmp_path / f"{voice}.mp3", voice=voice, temperature=0)
        for voice in ("conversational_a", "conversational_b", "random")
    }
    audio = {voice: result.path.read_bytes() for voice, result in results.items()}

    assert audio["conversational_a"] != audio["conversational_b"]
    assert results["conversational_a"].settings != results["conversational_b"].settings
    pitch_a = median_pitch_hz(decode_to_pcm(results["conversational_a"].path, RATE))
    pitch_b = median_pitch_hz(decode_to_pcm(results["conversational_b"].path, RATE))
    assert pitch_b < 0.95 * pitch_a

    picked = results["random"].voice_used.split(":")[0].removeprefix("random -> ")
    assert picked in ("conversational_a", "conversational_b")
    assert audio["random"] == audio[picked]  # temperature 0 makes piper deterministic


def test_temperature_scales_piper_noise(piper_engine, tmp_path):
    result = piper_engine.synthesize(["Quiet please."], tmp_path / "t.mp3", voice="conversational_a", temperature=0.45)

    assert result.settings["noise_scale"] == pytest.approx(0.667 / 2, abs=0.001)
    assert result.settings["noise_w"] == pytest.approx(0.4, abs=0.001)


def test_clone_is_refused_without_loading_anything(tmp_path):
    engine = tts.SpeechEngine(piper_voice=tmp_path / "missing.onnx", engine="piper")

    with pytest.raises(tts.CloneNotSupported, match="voice cloning needs a GPU node"):
        engine.synthesize(TWO_SENTENCES, tmp_path / "x.mp3", voice="clone")


def test_missing_piper_voice_falls_back_to_espeak(monkeypatch, tmp_path):
    monkeypatch.setenv("C3_TTS_PIPER_VOICE", str(tmp_path / "missing.onnx"))
    engine = tts.SpeechEngine()

    result = engine.synthesize(TWO_SENTENCES, tmp_path / "fallback.mp3", voice="conversational_b")

    assert result.engine == "espeak-ng"
    assert "missing.onnx" in result.fallback_reason
    assert 1.0 < duration_seconds(result.path) < 10.0
    assert result.settings["espeak_voice"] == "en-us+m3"


def test_espeak_voices_differ(espeak_engine, tmp_path):
    a = espeak_engine.synthesize(TWO_SENTENCES, tmp_path / "a.mp3", voice="conversational_a")
    b = espeak_engine.synthesize(TWO_SENTENCES, tmp_path / "b.mp3", voice="conversational_b")

    assert a.settings["espeak_voice"] != b.settings["espeak_voice"]
    assert median_pitch_hz(decode_to_pcm(b.path, RATE)) < median_pitch_hz(decode_to_pcm(a.path, RATE))


def test_no_engine_at_all_is_a_clear_error(tmp_path):
    engine = tts.SpeechEngine(
        piper_voice=tmp_path / "missing.onnx", espeak_library=tmp_path / "libmissing.so", espeak_data=tmp_path
    )

    with pytest.raises(tts.SpeechUnavailable, match="piper: .*espeak-ng: "):
        engine.synthesize(TWO_SENTENCES, tmp_path / "x.mp3")


@pytest.mark.parametrize(
    ("sentences", "message"),
    [
        (["Fine.", "   "], "sentence 2 is empty"),
        ([""], "sentence 1 is empty"),
        ([], "at least one"),
        ("a bare string", "list of strings"),
        (["...", "?"], "nothing that can be spoken"),
    ],
)
def test_unusable_sentences_are_rejected(espeak_engine, tmp_path, sentences, message):
    with pytest.raises(tts.InvalidSpeechRequest, match=message) as raised:
        espeak_engine.synthesize(sentences, tmp_path / "x.mp3")
    assert isinstance(raised.value, ValueError) and isinstance(raised.value, tts.SpeechError)
    assert not (tmp_path / "x.mp3").exists()


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"voice": "pirate"}, "unknown voice"),
        ({"temperature": 2.5}, "temperature"),
        ({"max_audio_length_ms": 0}, "max_audio_length_ms"),
        ({"pause_ms": -1}, "pause_ms"),
        ({"temperature": "hot"}, "temperature must be a number"),
    ],
)
def test_bad_options_are_rejected(espeak_engine, tmp_path, options, message):
    with pytest.raises(ValueError, match=message):
        espeak_engine.synthesize(TWO_SENTENCES, tmp_path / "x.mp3", **options)


def test_should_stop_aborts_between_sentences(espeak_engine, tmp_path):
    calls = []

    def stop_on_second_check() -> bool:
        calls.append(1)
        return len(calls) >= 2

    with pytest.raises(tts.Aborted, match="sentence 2 of 2"):
        espeak_engine.synthesize(TWO_SENTENCES, tmp_path / "x.mp3", should_stop=stop_on_second_check)
    assert not (tmp_path / "x.mp3").exists()


def test_engine_is_shared_and_safe_across_threads(espeak_engine, tmp_path):
    engines, results, errors = [], [], []

    def job(index: int) -> None:
        try:
            engines.append(tts.get_engine())
            results.append(espeak_engine.synthesize(TWO_SENTENCES, tmp_path / f"{index}.mp3"))
        except Exception as error:  # surfaced by the assertion below
            errors.append(error)

    threads = [threading.Thread(target=job, args=(index,)) for index in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    assert len({id(engine) for engine in engines}) == 1
    assert len(results) == 4
    assert all(1.0 < duration_seconds(result.path) < 10.0 for result in results)
