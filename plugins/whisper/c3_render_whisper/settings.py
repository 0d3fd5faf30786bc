"""The environment variables of the local transcription engine, declared for the core's table."""

from pathlib import Path

from render_core.plugin import Setting, at_least

MODEL_DIR = Setting("C3_WHISPER_MODEL_DIR", None, "CTranslate2 Whisper model directory", type=Path,
                    shown_default="the packaged tiny.en")
MULTILINGUAL_MODEL_DIR = Setting("C3_WHISPER_MULTILINGUAL_MODEL_DIR", None, "multilingual CTranslate2 Whisper "
                                 "model directory (translate, other languages, detection)", type=Path)
CPU_THREADS = Setting("C3_WHISPER_CPU_THREADS", None, "threads per model call", type=int, check=at_least(1),
                      shown_default="the CPU cores, at most 4")
NUM_WORKERS = Setting("C3_WHISPER_NUM_WORKERS", 1, "concurrent model calls", check=at_least(1))
BEAM_SIZE = Setting("C3_WHISPER_BEAM_SIZE", 5, "beam search width (1 is about twice as fast)", check=at_least(1))
MAX_AUDIO_SECONDS = Setting("C3_WHISPER_MAX_AUDIO_SECONDS", 10_800, "longest audio accepted", unit="s",
                            check=at_least(1))

SETTINGS = (MODEL_DIR, MULTILINGUAL_MODEL_DIR, CPU_THREADS, NUM_WORKERS, BEAM_SIZE, MAX_AUDIO_SECONDS)
