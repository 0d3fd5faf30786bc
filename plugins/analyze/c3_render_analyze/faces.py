"""Frontal-face detection with an OpenCV Haar cascade (opencv-python-headless < 5)."""

import threading
from pathlib import Path

import numpy as np
from PIL import Image

from .errors import EngineSetupError
from .settings import FACE_CASCADE, engine_setting

DETECTOR_NAME = "OpenCV Haar frontal-face cascade"
WORK_MAX_SIDE = 1024  # pixels; larger images are scaled down before detection
_SCALE_FACTOR = 1.1
_MIN_NEIGHBOURS = 5
_MIN_FACE_SIDE = 30  # pixels, at the working scale

_lock = threading.Lock()  # one classifier per cascade file, shared under this lock
_classifiers: dict[Path, object] = {}


def cascade_path() -> Path:
    """The cascade XML: $C3_ANALYZE_FACE_CASCADE, else OpenCV's packaged frontal face."""
    configured = engine_setting(FACE_CASCADE)
    if configured is not None:
        return configured
    import cv2

    packaged = Path(cv2.data.haarcascades) / "haarcascade_frontalface_default.xml"
    if not packaged.is_file():
        raise EngineSetupError(
            f"OpenCV's packaged face cascade is missing ({packaged}); set {FACE_CASCADE.name}"
        )
    return packaged


def detect_faces(image: Image.Image) -> list[dict[str, int]]:
    """Face boxes {x, y, w, h} in pixels of `image` (RGB), largest first."""
    import cv2

    scale = max(image.size) / WORK_MAX_SIDE if max(image.size) > WORK_MAX_SIDE else 1.0
    work = image.convert("L")
    if scale > 1.0:
        size = (max(1, round(image.width / scale)), max(1, round(image.height / scale)))
        work = work.resize(size, Image.Resampling.BILINEAR, reducing_gap=2.0)
    grey = cv2.equalizeHist(np.asarray(work))
    path = cascade_path()
    with _lock:
        found = _classifier(path).detectMultiScale(
            grey,
            scaleFactor=_SCALE_FACTOR,
            minNeighbors=_MIN_NEIGHBOURS,
            minSize=(_MIN_FACE_SIDE, _MIN_FACE_SIDE),
        )
    boxes = [_to_image_box(box, scale, image.size) for box in found]
    return sorted(boxes, key=lambda box: box["w"] * box["h"], reverse=True)


def _classifier(path: Path):
    """The cascade loaded from `path`, cached; call with _lock held."""
    import cv2

    if path not in _classifiers:
        try:
            classifier = cv2.CascadeClassifier(str(path))
        except (cv2.error, SystemError):  # OpenCV raises on malformed XML
            classifier = None
        if classifier is None or classifier.empty():
            raise EngineSetupError(f"{path} is not a valid OpenCV Haar cascade file")
        _classifiers[path] = classifier
    return _classifiers[path]


def _to_image_box(box, scale: float, size: tuple[int, int]) -> dict[str, int]:
    x, y, w, h = (int(value) for value in box)
    left, top = round(x * scale), round(y * scale)
    right = min(size[0], round((x + w) * scale))
    bottom = min(size[1], round((y + h) * scale))
    return {"x": left, "y": top, "w": right - left, "h": bottom - top}
