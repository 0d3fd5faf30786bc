"""Engine settings read from environment variables at call time.

C3_ANALYZE_MAX_MEGAPIXELS       refuse images larger than this (default 40 MP)
C3_ANALYZE_OCR_MIN_CONFIDENCE   report OCR lines at or above this (0-1, default 0.8)
C3_ANALYZE_FACE_CASCADE         Haar cascade XML (default: OpenCV's packaged frontal face)
C3_ANALYZE_OCR_DET_MODEL        RapidOCR detection ONNX (default: the packaged one)
C3_ANALYZE_OCR_REC_MODEL        RapidOCR recognition ONNX (default: the packaged one)
C3_ANALYZE_OCR_CLS_MODEL        RapidOCR angle-classifier ONNX (default: the packaged one)
C3_ANALYZE_OCR_REC_KEYS         character list for a recognition model without one inside
"""

import os
from pathlib import Path

from .errors import EngineSetupError

MAX_MEGAPIXELS_ENV = "C3_ANALYZE_MAX_MEGAPIXELS"
OCR_MIN_CONFIDENCE_ENV = "C3_ANALYZE_OCR_MIN_CONFIDENCE"
FACE_CASCADE_ENV = "C3_ANALYZE_FACE_CASCADE"
OCR_DET_MODEL_ENV = "C3_ANALYZE_OCR_DET_MODEL"
OCR_REC_MODEL_ENV = "C3_ANALYZE_OCR_REC_MODEL"
OCR_CLS_MODEL_ENV = "C3_ANALYZE_OCR_CLS_MODEL"
OCR_REC_KEYS_ENV = "C3_ANALYZE_OCR_REC_KEYS"

DEFAULT_MAX_MEGAPIXELS = 40.0
DEFAULT_OCR_MIN_CONFIDENCE = 0.8


def env_float(name: str, default: float, low: float, high: float) -> float:
    """The float in environment variable `name`, or `default` when unset."""
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise EngineSetupError(f"{name}={raw!r} is not a number") from None
    if not low <= value <= high:
        raise EngineSetupError(f"{name}={raw!r} must be between {low:g} and {high:g}")
    return value


def env_file(name: str) -> Path | None:
    """The existing file named by environment variable `name`, or None when unset."""
    raw = os.environ.get(name, "").strip()
    if not raw:
        return None
    path = Path(raw).expanduser()
    if not path.is_file():
        raise EngineSetupError(f"{name} points to {raw!r}, which is not a readable file")
    return path


def max_megapixels() -> float:
    """Largest image accepted, in megapixels (millions of pixels)."""
    return env_float(MAX_MEGAPIXELS_ENV, DEFAULT_MAX_MEGAPIXELS, 0.01, 10_000.0)


def ocr_min_confidence() -> float:
    """Lowest OCR confidence (0-1) of a text line that is reported."""
    return env_float(OCR_MIN_CONFIDENCE_ENV, DEFAULT_OCR_MIN_CONFIDENCE, 0.0, 1.0)
