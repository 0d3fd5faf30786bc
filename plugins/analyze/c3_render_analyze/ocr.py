"""Printed-text reading with RapidOCR on ONNX Runtime, from the models its wheel ships.

Every model path is given to RapidOCR explicitly, so it never tries to download one.
The engine is built lazily once per process (per model set) and used under a lock:
RapidOCR keeps per-call settings on the instance, so it is not thread-safe.
"""

import importlib.util
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from .errors import EngineSetupError
from .settings import OCR_CLS_MODEL, OCR_DET_MODEL, OCR_REC_KEYS, OCR_REC_MODEL, engine_setting

READER_NAME = "RapidOCR with PP-OCR models"
WORK_MAX_SIDE = 2000  # pixels; larger images are scaled down before reading
_RAPIDOCR_MIN_SCORE = 0.5  # RapidOCR drops lines below this itself

_lock = threading.Lock()
_engines: dict[tuple, object] = {}


@dataclass(frozen=True)
class TextLine:
    """One line of text; box {x, y, w, h} in pixels of the image that was read."""

    text: str
    confidence: float
    box: dict[str, int]


@dataclass(frozen=True)
class OcrModels:
    """Paths of the three ONNX models and an optional character list file."""

    detection: Path
    recognition: Path
    classifier: Path
    recognition_keys: Path | None


def configured_models() -> OcrModels:
    """Model paths from the C3_ANALYZE_OCR_* variables, else those the rapidocr wheel ships."""
    return OcrModels(
        detection=engine_setting(OCR_DET_MODEL) or _packaged_model("det", OCR_DET_MODEL.name),
        recognition=engine_setting(OCR_REC_MODEL) or _packaged_model("rec", OCR_REC_MODEL.name),
        classifier=engine_setting(OCR_CLS_MODEL) or _packaged_model("cls", OCR_CLS_MODEL.name),
        recognition_keys=engine_setting(OCR_REC_KEYS),
    )


def read_text(image: Image.Image) -> list[TextLine]:
    """Text lines RapidOCR finds in an RGB image, in reading order, with confidence 0-1."""
    scale = max(image.size) / WORK_MAX_SIDE if max(image.size) > WORK_MAX_SIDE else 1.0
    work = image
    if scale > 1.0:
        size = (max(1, round(image.width / scale)), max(1, round(image.height / scale)))
        work = image.resize(size, Image.Resampling.BILINEAR, reducing_gap=2.0)
    bgr = np.ascontiguousarray(np.asarray(work.convert("RGB"))[:, :, ::-1])
    models = configured_models()
    with _lock:
        result = _engine(models)(bgr)
    if result.txts is None or result.boxes is None:
        return []
    lines = []
    for text, score, polygon in zip(result.txts, result.scores, result.boxes, strict=False):
        cleaned = " ".join(str(text).split())
        if cleaned:
            box = _bounding_box(polygon, scale, image.size)
            lines.append(TextLine(text=cleaned, confidence=round(float(score), 3), box=box))
    return lines


def _engine(models: OcrModels):
    """The RapidOCR instance for `models`, built on first use; call with _lock held."""
    key = (models.detection, models.recognition, models.classifier, models.recognition_keys)
    if key not in _engines:
        if models.recognition_keys is None:
            _require_embedded_characters(models.recognition)
        from rapidocr import RapidOCR

        params = {
            "Global.log_level": "error",  # it warns on every image without text
            "Global.text_score": _RAPIDOCR_MIN_SCORE,
            "Det.model_path": str(models.detection),
            "Rec.model_path": str(models.recognition),
            "Cls.model_path": str(models.classifier),
        }
        if models.recognition_keys is not None:
            params["Rec.rec_keys_path"] = str(models.recognition_keys)
        _engines[key] = RapidOCR(params=params)
    return _engines[key]


def _packaged_model(kind: str, env_name: str) -> Path:
    """The single '*{kind}*.onnx' file in the installed rapidocr package's models folder."""
    spec = importlib.util.find_spec("rapidocr")
    if spec is None or not spec.submodule_search_locations:
        raise EngineSetupError("the rapidocr package is not installed; OCR is unavailable")
    folder = Path(next(iter(spec.submodule_search_locations))) / "models"
    matches = sorted(folder.glob(f"*{kind}*.onnx"))
    if len(matches) != 1:
        raise EngineSetupError(
            f"expected one packaged OCR '{kind}' model in {folder}, found {len(matches)}; "
            f"set {env_name} to the model file"
        )
    return matches[0]


def _require_embedded_characters(recognition_model: Path) -> None:
    """Refuse a recognition model without its character list: RapidOCR would download one."""
    import onnxruntime

    session = onnxruntime.InferenceSession(
        str(recognition_model), providers=["CPUExecutionProvider"]
    )
    if "character" not in session.get_modelmeta().custom_metadata_map:
        raise EngineSetupError(
            f"the OCR recognition model {recognition_model} has no character list inside; "
            f"set {OCR_REC_KEYS.name} to its character list file"
        )


def _bounding_box(polygon, scale: float, size: tuple[int, int]) -> dict[str, int]:
    """Axis-aligned box {x, y, w, h} around a 4-point polygon, in pixels of `size`."""
    points = np.asarray(polygon, dtype=np.float64) * scale
    left = max(0, int(points[:, 0].min()))
    top = max(0, int(points[:, 1].min()))
    right = min(size[0], int(round(points[:, 0].max())))
    bottom = min(size[1], int(round(points[:, 1].max())))
    return {"x": left, "y": top, "w": max(0, right - left), "h": max(0, bottom - top)}
