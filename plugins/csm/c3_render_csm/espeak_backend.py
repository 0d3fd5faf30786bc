"""Formant speech with the espeak-ng C library, loaded through ctypes.

The library and its data come from the `espeakng-loader` package unless paths are given.
espeak-ng keeps global state (current voice, callback), so one library handle serves the
whole process and every synthesis holds `_LIBRARY_LOCK`.
"""

from __future__ import annotations

import ctypes
import threading
from pathlib import Path

import numpy as np

from .errors import BackendUnavailable, SynthesisFailed
from .voices import VoicePreset, temperature_ratio

_AUDIO_OUTPUT_SYNCHRONOUS = 2
_INITIALIZE_DONT_EXIT = 0x8000
_POS_CHARACTER = 1
_CHARS_UTF8 = 1
_PARAM_RATE = 1
_PARAM_PITCH = 3
_PARAM_RANGE = 4
_DEFAULT_PITCH_RANGE = 50
_SAMPLE_SCALE = 32768.0

_SYNTH_CALLBACK = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p)

_LIBRARY_LOCK = threading.Lock()
_loaded: dict[str, _EspeakLibrary] = {}


class _EspeakLibrary:
    """An initialised libespeak-ng collecting synthesized samples into `self.collected`."""

    def __init__(self, library_path: str, data_path: str):
        try:
            self.lib = ctypes.CDLL(library_path)
        except OSError as error:
            raise BackendUnavailable(f"cannot load the espeak-ng library {library_path}: {error}") from error
        self.lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
        self.lib.espeak_Initialize.restype = ctypes.c_int
        self.lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
        self.lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
        self.lib.espeak_Synth.argtypes = [
            ctypes.c_char_p, ctypes.c_size_t, ctypes.c_uint, ctypes.c_int,
            ctypes.c_uint, ctypes.c_uint, ctypes.c_void_p, ctypes.c_void_p,
        ]
        self.sample_rate = self.lib.espeak_Initialize(
            _AUDIO_OUTPUT_SYNCHRONOUS, 0, data_path.encode(), _INITIALIZE_DONT_EXIT
        )
        if self.sample_rate <= 0:
            raise BackendUnavailable(f"espeak-ng could not initialise with data at {data_path}")
        self.collected: list[np.ndarray] = []
        self.limit = 0
        self._callback = _SYNTH_CALLBACK(self._on_audio)  # kept referenced while the library may call it
        self.lib.espeak_SetSynthCallback(self._callback)

    def _on_audio(self, samples, count, _events) -> int:
        if samples and count > 0:
            self.collected.append(np.ctypeslib.as_array(samples, shape=(count,)).copy())
        total = sum(len(piece) for piece in self.collected)
        return 1 if total > self.limit else 0  # 1 asks espeak-ng to stop synthesising


def _default_paths() -> tuple[str, str]:
    try:
        import espeakng_loader
    except ImportError as error:
        raise BackendUnavailable("espeak-ng is not available: install the espeakng-loader package") from error
    try:
        return espeakng_loader.get_library_path(), espeakng_loader.get_data_path()
    except RuntimeError as error:
        raise BackendUnavailable(f"espeakng-loader is incomplete: {error}") from error


class EspeakBackend:
    """espeak-ng voices from the preset's `espeak_*` settings."""

    name = "espeak-ng"

    def __init__(self, library_path: Path | None = None, data_path: Path | None = None):
        if library_path is None or data_path is None:
            default_library, default_data = _default_paths()
            library_path = library_path or default_library
            data_path = data_path or default_data
        key = str(library_path)
        with _LIBRARY_LOCK:
            if key not in _loaded:
                _loaded[key] = _EspeakLibrary(str(library_path), str(data_path))
            self._library = _loaded[key]
        self.library_path = Path(library_path)
        self.sample_rate = self._library.sample_rate

    def describe(self) -> str:
        return f"espeak-ng library {self.library_path.name} ({self.sample_rate} Hz)"

    def settings(self, preset: VoicePreset, temperature: float) -> dict:
        """The espeak-ng settings used for `preset` at `temperature`."""
        pitch_range = round(min(_DEFAULT_PITCH_RANGE * temperature_ratio(temperature), 100))
        return {
            "espeak_voice": preset.espeak_voice,
            "rate_wpm": preset.espeak_rate_wpm,
            "pitch": preset.espeak_pitch,
            "pitch_range": pitch_range,
            "temperature_maps_to": "pitch_range (intonation), 50 x temperature/0.9, capped at 100",
        }

    def speak(self, text: str, preset: VoicePreset, temperature: float, max_samples: int) -> np.ndarray:
        """Float32 PCM for `text`; stops early once it is longer than `max_samples`."""
        settings = self.settings(preset, temperature)
        encoded = text.encode("utf-8")
        library = self._library
        with _LIBRARY_LOCK:
            lib = library.lib
            if lib.espeak_SetVoiceByName(settings["espeak_voice"].encode()) != 0:
                raise BackendUnavailable(f"espeak-ng has no voice {settings['espeak_voice']!r}")
            lib.espeak_SetParameter(_PARAM_RATE, settings["rate_wpm"], 0)
            lib.espeak_SetParameter(_PARAM_PITCH, settings["pitch"], 0)
            lib.espeak_SetParameter(_PARAM_RANGE, settings["pitch_range"], 0)
            library.collected = []
            library.limit = max_samples
            status = lib.espeak_Synth(encoded, len(encoded) + 1, 0, _POS_CHARACTER, 0, _CHARS_UTF8, None, None)
            pieces, library.collected = library.collected, []
        if status != 0:
            raise SynthesisFailed(f"espeak-ng failed to synthesise (error {status})")
        if not pieces:
            return np.zeros(0, dtype=np.float32)
        return (np.concatenate(pieces).astype(np.float32) / _SAMPLE_SCALE).astype(np.float32)
