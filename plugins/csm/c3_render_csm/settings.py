"""The environment variables of the local speech engine, declared for the core's table."""

from pathlib import Path

from render_core.plugin import Setting, existing_file

ENGINE_CHOICES = ("auto", "piper", "espeak-ng")

PIPER_VOICE = Setting("C3_TTS_PIPER_VOICE", None, "piper voice model (.onnx, with its .onnx.json beside it); "
                      "when it cannot be loaded, espeak-ng speaks and the result says why", type=Path,
                      shown_default="the packaged en_US-joe-medium voice")
ENGINE = Setting("C3_TTS_ENGINE", "auto", "local TTS engine: piper, espeak-ng, or auto (piper, else espeak-ng)",
                 choices=ENGINE_CHOICES)
ESPEAK_LIBRARY = Setting("C3_TTS_ESPEAK_LIBRARY", None, "libespeak-ng shared library", type=Path,
                         check=existing_file, shown_default="the one of espeakng-loader")
ESPEAK_DATA = Setting("C3_TTS_ESPEAK_DATA", None, "espeak-ng data directory", type=Path,
                      shown_default="the one of espeakng-loader")

SETTINGS = (PIPER_VOICE, ENGINE, ESPEAK_LIBRARY, ESPEAK_DATA)
