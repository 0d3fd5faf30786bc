"""Finding the face in the portrait with OpenCV's bundled Haar cascades."""

from __future__ import annotations

import threading
from dataclasses import dataclass

import cv2
import numpy as np

from .errors import NoFaceFound

#: (cascade file, scale factor, min neighbours): tried in order until one finds a face.
#: The first is strict (few false positives); the later ones rescue harder photos.
DETECTION_ATTEMPTS = (
    ("haarcascade_frontalface_default.xml", 1.1, 5),
    ("haarcascade_frontalface_alt2.xml", 1.05, 4),
    ("haarcascade_frontalface_default.xml", 1.05, 3),
)
#: Faces narrower than this fraction of the image's shorter side are ignored.
MIN_FACE_FRACTION = 0.06
#: Grayscale images larger than this long side (px) are searched at reduced size.
DETECTION_MAX_SIDE = 960


@dataclass(frozen=True)
class FaceBox:
    """A face rectangle in frame pixels: top-left corner, width and height."""

    x: int
    y: int
    width: int
    height: int

    def as_tuple(self) -> tuple[int, int, int, int]:
        return (self.x, self.y, self.width, self.height)


def detect_largest_face(frame_rgb: np.ndarray) -> FaceBox:
    """Largest frontal face in an RGB frame; raises ``NoFaceFound`` when there is none."""
    gray, scale = _detection_image(frame_rgb)
    min_side = max(24, int(min(gray.shape) * MIN_FACE_FRACTION))
    for cascade_name, scale_factor, min_neighbors in DETECTION_ATTEMPTS:
        found = load_cascade(cascade_name).detectMultiScale(
            gray, scaleFactor=scale_factor, minNeighbors=min_neighbors, minSize=(min_side, min_side)
        )
        if len(found):
            x, y, w, h = max(found, key=lambda box: int(box[2]) * int(box[3]))
            return FaceBox(*(round(value / scale) for value in (x, y, w, h)))
    raise NoFaceFound()


def _detection_image(frame_rgb: np.ndarray) -> tuple[np.ndarray, float]:
    """Equalised grayscale copy, shrunk to DETECTION_MAX_SIDE; returns it and the scale used."""
    gray = cv2.cvtColor(frame_rgb, cv2.COLOR_RGB2GRAY)
    scale = min(1.0, DETECTION_MAX_SIDE / max(gray.shape))
    if scale < 1.0:
        gray = cv2.resize(gray, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    return cv2.equalizeHist(gray), scale


_per_thread = threading.local()


def load_cascade(file_name: str) -> cv2.CascadeClassifier:
    """The named cascade, loaded once per thread (a classifier is not safe to share)."""
    cascades = _per_thread.__dict__.setdefault("cascades", {})
    if file_name not in cascades:
        cascade = cv2.CascadeClassifier(cv2.data.haarcascades + file_name)
        if cascade.empty():  # pragma: no cover - the file ships inside opencv-python-headless
            raise RuntimeError(f"OpenCV cascade {file_name} could not be loaded")
        cascades[file_name] = cascade
    return cascades[file_name]
