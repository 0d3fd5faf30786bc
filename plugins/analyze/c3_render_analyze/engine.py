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
from .loading import DecodedImage, decode_upright, flatten_on_white, open_header
from .report import TONE_MAX_SIDE, header_facts, pixel_facts
from .settings import MAX_MEGAPIXELS, OCR_MIN_CONFIDENCE, engine_setting
from .summary import report_text

__all__ = ["Aborted", "AnalyzeError", "Analysis", "BadImage", "EngineSetupError", "analyze_image"]


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
    limit = engine_setting(MAX_MEGAPIXELS)
    min_confidence = engine_setting(OCR_MIN_CONFIDENCE) if ocr else None
    with open_header(Path(path), limit) as image:
        facts = header_facts(image)
        _check_stop(should_stop, "before decoding the image")
        decoded = decode_upright(image, _working_side(ocr=ocr, faces=faces), should_stop)
    facts["exif"] = exif_highlights(decoded.exif)
    upright = decoded.pixels
    width, height = decoded.upright_size
    facts["upright_size"] = {"width": width, "height": height}
    _check_stop(should_stop, "before measuring colours and sharpness")
    facts.update(pixel_facts(upright))
    flat = flatten_on_white(upright) if faces or ocr else None
    facts["faces"] = None
    if faces:
        _check_stop(should_stop, "before face detection")
        found = face_detection.detect_faces(flat)
        boxes = [_scaled(box, decoded.scale, decoded.upright_size) for box in found]
        facts["faces"] = {
            "detector": face_detection.DETECTOR_NAME,
            "count": len(boxes),
            "boxes": boxes,
        }
    facts["text"] = None
    if ocr:
        _check_stop(should_stop, "before text recognition")
        lines = text_reading.read_text(flat)
        facts["text"] = _text_facts(lines, decoded, min_confidence)
    _check_stop(should_stop, "before writing the report")
    return Analysis(facts=facts, text=report_text(facts))


def _working_side(*, ocr: bool, faces: bool) -> int:
    """Longest side, in pixels, of the decoded copy that the requested stages need."""
    sides = [TONE_MAX_SIDE]
    if faces:
        sides.append(face_detection.WORK_MAX_SIDE)
    if ocr:
        sides.append(text_reading.WORK_MAX_SIDE)
    return max(sides)


def _text_facts(
    lines: list[text_reading.TextLine], decoded: DecodedImage, min_confidence: float
) -> dict[str, Any]:
    kept = [line for line in lines if line.confidence >= min_confidence]
    scale, size = decoded.scale, decoded.upright_size
    return {
        "reader": text_reading.READER_NAME,
        "min_confidence": min_confidence,
        "lines": [
            {
                "text": line.text,
                "confidence": line.confidence,
                "box": _scaled(line.box, scale, size),
            }
            for line in kept
        ],
        "low_confidence_lines": len(lines) - len(kept),
    }


def _scaled(box: dict[str, int], scale: float, size: tuple[int, int]) -> dict[str, int]:
    """A box {x, y, w, h} in decoded pixels converted to original pixels, kept
    inside the upright image of `size` (width, height)."""
    left, top = min(round(box["x"] * scale), size[0]), min(round(box["y"] * scale), size[1])
    right = min(round((box["x"] + box["w"]) * scale), size[0])
    bottom = min(round((box["y"] + box["h"]) * scale), size[1])
    return {"x": left, "y": top, "w": right - left, "h": bottom - top}


def _check_stop(should_stop: Callable[[], bool], stage: str) -> None:
    if should_stop():
        raise Aborted(f"image analysis stopped {stage}")
