"""Offline CPU image analysis: an honest report of what Pillow, an OpenCV face
cascade and RapidOCR find in one image. Entry point: analyze_image()."""

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import faces as face_detection
from . import ocr as text_reading
from .errors import Aborted, AnalyzeError, BadImage, EngineSetupError
from .exif import exif_highlights
from .loading import decode_upright, flatten_on_white, open_header
from .report import header_facts, pixel_facts
from .settings import max_megapixels, ocr_min_confidence
from .summary import report_text

__all__ = ["Aborted", "AnalyzeError", "Analysis", "BadImage", "EngineSetupError", "analyze_image"]

_REPORT_ONLY_MAX_SIDE = 1024  # pixels decoded at least (JPEG) when neither faces nor OCR run


@dataclass(frozen=True)
class Analysis:
    """`facts` is JSON-serialisable; `text` is the report, its first line a summary."""

    facts: dict[str, Any]
    text: str


def analyze_image(
    path: Path,
    *,
    ocr: bool = True,
    faces: bool = True,
    should_stop: Callable[[], bool] = lambda: False,
) -> Analysis:
    """Analyse the image file at `path`.

    Raises BadImage (not an image, damaged, or over the size limit: checked from the
    header before decoding), Aborted (should_stop() returned True between stages) or
    EngineSetupError (a configured model file is missing or invalid).
    """
    _check_stop(should_stop, "before opening the image")
    limit = max_megapixels()
    min_confidence = ocr_min_confidence() if ocr else None
    with open_header(Path(path), limit) as image:
        facts = header_facts(image)
        _check_stop(should_stop, "before decoding the image")
        work_side = text_reading.WORK_MAX_SIDE if ocr else (
            face_detection.WORK_MAX_SIDE if faces else _REPORT_ONLY_MAX_SIDE
        )
        decoded = decode_upright(image, work_side)
        facts["exif"] = exif_highlights(image)
    upright = decoded.pixels
    facts["upright_size"] = {
        "width": round(upright.width * decoded.scale),
        "height": round(upright.height * decoded.scale),
    }
    _check_stop(should_stop, "before measuring colours and sharpness")
    facts.update(pixel_facts(upright))
    flat = flatten_on_white(upright) if faces or ocr else None
    facts["faces"] = None
    if faces:
        _check_stop(should_stop, "before face detection")
        boxes = [_scaled(box, decoded.scale) for box in face_detection.detect_faces(flat)]
        facts["faces"] = {
            "detector": face_detection.DETECTOR_NAME,
            "count": len(boxes),
            "boxes": boxes,
        }
    facts["text"] = None
    if ocr:
        _check_stop(should_stop, "before text recognition")
        facts["text"] = _text_facts(text_reading.read_text(flat), decoded.scale, min_confidence)
    _check_stop(should_stop, "before writing the report")
    return Analysis(facts=facts, text=report_text(facts))


def _text_facts(lines: list, scale: float, min_confidence: float) -> dict[str, Any]:
    kept = [line for line in lines if line.confidence >= min_confidence]
    return {
        "reader": text_reading.READER_NAME,
        "min_confidence": min_confidence,
        "lines": [
            {"text": line.text, "confidence": line.confidence, "box": _scaled(line.box, scale)}
            for line in kept
        ],
        "low_confidence_lines": len(lines) - len(kept),
    }


def _scaled(box: dict[str, int], scale: float) -> dict[str, int]:
    """A box in decoded pixels converted to original pixels."""
    if scale == 1.0:
        return dict(box)
    return {key: round(value * scale) for key, value in box.items()}


def _check_stop(should_stop: Callable[[], bool], stage: str) -> None:
    if should_stop():
        raise Aborted(f"image analysis stopped {stage}")
