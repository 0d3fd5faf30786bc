"""The local voices behind the CSM voice names, and how `temperature` maps onto them.

The packaged piper voice (joe) has one speaker, so the two conversational voices are two
settings of it: pace (length scale), rhythm noise and a pitch/formant shift. The espeak-ng
fallback uses two different espeak voice variants and pitches.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from .errors import InvalidSpeechRequest

DEFAULT_TEMPERATURE = 0.9
MIN_TEMPERATURE = 0.0
MAX_TEMPERATURE = 2.0

NAMED_VOICES = ("conversational_a", "conversational_b")
RANDOM_VOICE = "random"
CLONE_VOICE = "clone"
ACCEPTED_VOICES = (RANDOM_VOICE, *NAMED_VOICES, CLONE_VOICE)


@dataclass(frozen=True)
class VoicePreset:
    """Settings for one named voice on each backend."""

    name: str
    summary: str
    piper_length_scale: float  # > 1 is slower speech
    piper_noise_w: float  # phoneme-duration noise at the default temperature
    piper_pitch_factor: float  # < 1 lowers pitch and formants (1 = unchanged)
    espeak_voice: str  # espeak-ng voice name, optionally "+variant"
    espeak_rate_wpm: int
    espeak_pitch: int  # 0-100, espeak default 50


PRESETS: dict[str, VoicePreset] = {
    "conversational_a": VoicePreset(
        name="conversational_a",
        summary="natural pitch, normal pace",
        piper_length_scale=1.0,
        piper_noise_w=0.8,
        piper_pitch_factor=1.0,
        espeak_voice="en-us",
        espeak_rate_wpm=170,
        espeak_pitch=50,
    ),
    "conversational_b": VoicePreset(
        name="conversational_b",
        summary="deeper voice, slightly slower and steadier",
        piper_length_scale=1.08,
        piper_noise_w=0.5,
        piper_pitch_factor=0.88,
        espeak_voice="en-us+m3",
        espeak_rate_wpm=155,
        espeak_pitch=30,
    ),
}


def validate_temperature(temperature: float) -> float:
    """Return `temperature` as float, or raise InvalidSpeechRequest outside [0, 2]."""
    try:
        value = float(temperature)
    except (TypeError, ValueError):
        raise InvalidSpeechRequest(f"temperature must be a number, got {temperature!r}") from None
    if not MIN_TEMPERATURE <= value <= MAX_TEMPERATURE:
        raise InvalidSpeechRequest(
            f"temperature must be between {MIN_TEMPERATURE} and {MAX_TEMPERATURE}, got {temperature}"
        )
    return value


def temperature_ratio(temperature: float) -> float:
    """How far `temperature` is from the default: 1.0 at 0.9, 0 at 0, ~2.2 at 2."""
    return temperature / DEFAULT_TEMPERATURE


def resolve_voice(voice: str, sentences: list[str]) -> tuple[VoicePreset, str]:
    """Preset for a requested voice name, and a label saying what was chosen.

    "random" picks one of the named voices from a hash of the text: the same text always
    gets the same voice, so a retried job sounds the same. "clone" is handled by the caller.
    """
    if voice in PRESETS:
        return PRESETS[voice], voice
    if voice == RANDOM_VOICE:
        digest = hashlib.sha256("\n".join(sentences).encode()).digest()
        picked = NAMED_VOICES[digest[0] % len(NAMED_VOICES)]
        return PRESETS[picked], f"random -> {picked}"
    allowed = ", ".join(ACCEPTED_VOICES)
    raise InvalidSpeechRequest(f"unknown voice {voice!r}: choose one of {allowed}")
