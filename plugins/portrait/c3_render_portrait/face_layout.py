"""Where the mouth and the eyes are inside a detected face box.

Haar face boxes are consistent enough that fixed proportions place the features;
the mouth line is then refined to the darkest row near its expected height
(the gap between the lips is almost always the darkest horizontal band there).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from .faces import FaceBox, load_cascade

#: Search band for the mouth line, as fractions of the face box height from its top.
MOUTH_BAND = (0.72, 0.90)
#: Expected mouth line height (fraction of box height) used as a prior and fallback.
MOUTH_EXPECTED = 0.80
#: Half-width of the mouth as a fraction of the face box width.
MOUTH_HALF_WIDTH = 0.21
#: Eye centres as fractions of the face box (x of left eye, x of right eye, y of both).
EYE_CENTRES = ((0.30, 0.385), (0.70, 0.385))
#: A detected eye replaces the default one when its centre is this close (fraction of box width).
EYE_MATCH_DISTANCE = 0.12
#: Eye half-width and half-height as fractions of the face box width and height.
EYE_RADII = (0.10, 0.045)


@dataclass(frozen=True)
class Ellipse:
    """An axis-aligned ellipse in frame pixels: centre and half-axes."""

    centre_x: float
    centre_y: float
    radius_x: float
    radius_y: float


@dataclass(frozen=True)
class FaceLayout:
    """Feature positions in frame pixels used by the animation."""

    face: FaceBox
    mouth: Ellipse  # centre = middle of the lip line; radius_y unused
    eyes: tuple[Ellipse, Ellipse]


def locate_features(frame_rgb: np.ndarray, face: FaceBox) -> FaceLayout:
    """Mouth line and eye ellipses for ``face`` in ``frame_rgb``."""
    mouth_y = _mouth_line_y(frame_rgb, face)
    mouth = Ellipse(face.x + face.width / 2, mouth_y, face.width * MOUTH_HALF_WIDTH, face.height * 0.05)
    detected = _detect_eye_centres(frame_rgb, face)
    eyes = tuple(
        Ellipse(
            *_nearest_or_default(detected, (face.x + fx * face.width, face.y + fy * face.height), face),
            EYE_RADII[0] * face.width,
            EYE_RADII[1] * face.height,
        )
        for fx, fy in EYE_CENTRES
    )
    return FaceLayout(face=face, mouth=mouth, eyes=eyes)


def _mouth_line_y(frame_rgb: np.ndarray, face: FaceBox) -> float:
    """Frame row (px) of the lip line: darkest row of the mouth band, nudged toward the prior."""
    top = face.y + int(MOUTH_BAND[0] * face.height)
    bottom = min(frame_rgb.shape[0], face.y + int(MOUTH_BAND[1] * face.height))
    left = face.x + int(0.35 * face.width)
    right = face.x + int(0.65 * face.width)
    if bottom - top < 3 or right - left < 3:
        return face.y + MOUTH_EXPECTED * face.height
    band = cv2.cvtColor(np.ascontiguousarray(frame_rgb[top:bottom, left:right]), cv2.COLOR_RGB2GRAY)
    row_darkness = cv2.GaussianBlur(band, (3, 3), 0).astype(np.float32).mean(axis=1)
    rows = np.arange(top, bottom, dtype=np.float32)
    distance_from_prior = (rows - (face.y + MOUTH_EXPECTED * face.height)) / (0.1 * face.height)
    score = row_darkness + 20.0 * distance_from_prior**2
    return float(rows[int(np.argmin(score))])


def _detect_eye_centres(frame_rgb: np.ndarray, face: FaceBox) -> list[tuple[float, float]]:
    """Centres (frame px) of eyes found by the Haar eye cascade in the upper face."""
    top, bottom = face.y, face.y + int(0.6 * face.height)
    left, right = face.x, face.x + face.width
    region = np.ascontiguousarray(frame_rgb[max(0, top) : bottom, max(0, left) : right])
    if min(region.shape[:2]) < 12:
        return []
    gray = cv2.cvtColor(region, cv2.COLOR_RGB2GRAY)
    min_side = max(6, int(0.12 * face.width))
    found = load_cascade("haarcascade_eye.xml").detectMultiScale(
        gray, scaleFactor=1.05, minNeighbors=4, minSize=(min_side, min_side)
    )
    return [(max(0, left) + x + w / 2, max(0, top) + y + h / 2) for x, y, w, h in found]


def _nearest_or_default(
    detected: list[tuple[float, float]], default: tuple[float, float], face: FaceBox
) -> tuple[float, float]:
    """The detected centre closest to ``default`` if near enough, else ``default``."""
    limit = EYE_MATCH_DISTANCE * face.width
    best = min(detected, key=lambda c: (c[0] - default[0]) ** 2 + (c[1] - default[1]) ** 2, default=None)
    if best is not None and abs(best[0] - default[0]) <= limit and abs(best[1] - default[1]) <= limit:
        return best
    return default
