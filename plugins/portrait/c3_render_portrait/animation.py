"""Drawing one video frame: the still portrait with the jaw opened by loudness and eyes blinking.

The mouth is opened by a backward warp (``cv2.remap``) of a region around the
lip line: the lower lip and chin slide down, the upper lip lifts a little, the
gap between them is filled with a dark mouth cavity. The displacement falls to
zero at the region's edges, so the warped region joins the still image without
a seam. Blinks pull the upper eyelid's skin down over each eye.
"""

from __future__ import annotations

import cv2
import numpy as np

from .face_layout import Ellipse, FaceLayout

#: Lower-lip drop at full loudness, as a fraction of the face box height.
MAX_JAW_DROP = 0.085
#: Upper-lip lift as a fraction of the lower-lip drop.
UPPER_LIP_SHARE = 0.2
#: The warped region spans this many mouth half-widths to each side of the mouth centre.
WARP_HALF_WIDTH_IN_MOUTHS = 1.6
#: The warped region reaches this far above / below the lip line (fractions of face height).
WARP_ABOVE = 0.20
WARP_BELOW = 0.40
#: Colour of the inside of the mouth (RGB) and how strongly it covers the gap.
CAVITY_RGB = np.array([42, 12, 14], dtype=np.float32)
CAVITY_OPACITY = 0.9
#: Where the closed lid's edge stops, in eye half-heights below the eye centre.
LOWER_LID_BELOW_CENTRE = 0.6
#: How much the lashes darken the skin along the lid's edge (0..1).
LASH_DARKENING = 0.45
#: Levels below this draw the mouth closed (the still image, unchanged).
CLOSED_LEVEL = 0.01


class PortraitAnimator:
    """Renders frames of one portrait; ``frame(level, blink)`` returns a reused RGB buffer."""

    def __init__(self, still_rgb: np.ndarray, layout: FaceLayout):
        self._still = still_rgb
        self._frame = still_rgb.copy()
        self._mouth = _MouthWarp(still_rgb, layout)
        self._eyes = [_EyeBlink(still_rgb, eye) for eye in layout.eyes]

    def frame(self, level: float, blink: float) -> np.ndarray:
        """The frame for mouth opening ``level`` (0..1) and eyelid closure ``blink`` (0..1).

        The returned array is overwritten by the next call.
        """
        np.copyto(self._frame, self._still)
        self._mouth.draw(self._frame, level)
        for eye in self._eyes:
            eye.draw(self._frame, blink)
        return self._frame


class _MouthWarp:
    """Opens the mouth by warping the region around the lip line."""

    def __init__(self, still_rgb: np.ndarray, layout: FaceLayout):
        height, width = still_rgb.shape[:2]
        face, mouth = layout.face, layout.mouth
        half_width = WARP_HALF_WIDTH_IN_MOUTHS * mouth.radius_x
        self.left = max(0, int(mouth.centre_x - half_width))
        self.right = min(width, int(mouth.centre_x + half_width) + 1)
        self.top = max(0, int(mouth.centre_y - WARP_ABOVE * face.height))
        self.bottom = min(height, int(mouth.centre_y + WARP_BELOW * face.height) + 1)
        self.source = np.ascontiguousarray(still_rgb[self.top : self.bottom, self.left : self.right])
        self.max_drop = MAX_JAW_DROP * face.height
        self.lip_row = mouth.centre_y - self.top  # region-local row of the lip line
        columns = np.arange(self.left, self.right, dtype=np.float32)
        distance = np.clip(np.abs(columns - mouth.centre_x) / half_width, 0.0, 1.0)
        self.profile = (np.cos(distance * np.pi / 2) ** 3)[np.newaxis, :]  # 1 at centre, 0 at sides
        self.map_x = np.broadcast_to(columns - self.left, self.source.shape[:2]).astype(np.float32)
        self.rows = np.arange(self.bottom - self.top, dtype=np.float32)[:, np.newaxis]

    def draw(self, frame: np.ndarray, level: float) -> None:
        if level < CLOSED_LEVEL or self.source.size == 0:
            return
        drop = level * self.max_drop * self.profile  # per column, px
        lift = UPPER_LIP_SHARE * drop
        map_y = self._source_rows(drop, lift)
        warped = cv2.remap(self.source, self.map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        self._paint_cavity(warped, drop, lift)
        frame[self.top : self.bottom, self.left : self.right] = warped

    def _source_rows(self, drop: np.ndarray, lift: np.ndarray) -> np.ndarray:
        """Region-local source row for every output pixel (the backward warp)."""
        rows, lip = self.rows, self.lip_row
        last = float(self.bottom - self.top - 1)
        gap_top, gap_bottom = lip - lift, lip + drop
        above = rows + lift * np.clip(rows / np.maximum(gap_top, 1.0), 0.0, 1.0)
        below = rows - drop * np.clip((last - rows) / np.maximum(last - gap_bottom, 1.0), 0.0, 1.0)
        map_y = np.where(rows < gap_top, above, np.where(rows > gap_bottom, below, lip))
        return map_y.astype(np.float32)

    def _paint_cavity(self, warped: np.ndarray, drop: np.ndarray, lift: np.ndarray) -> None:
        """Darken the opened gap between the lips: darkest mid-gap, soft toward the lips and corners."""
        gap = drop + lift
        inside = np.minimum(self.rows - (self.lip_row - lift), (self.lip_row + drop) - self.rows)
        depth = np.clip(inside / np.maximum(gap / 2, 1.0), 0.0, 1.0)  # 0 at the lips, 1 mid-gap
        opening = np.clip(gap / 4.0, 0.0, 1.0)  # thin slits at the corners stay faint
        edge = np.clip(inside + 0.5, 0.0, 1.0)
        alpha = (edge * (0.55 + 0.45 * depth) * opening * CAVITY_OPACITY)[..., np.newaxis]
        rows_hit = np.flatnonzero(alpha.max(axis=(1, 2)) > 0)
        if len(rows_hit) == 0:
            return
        band = slice(rows_hit[0], rows_hit[-1] + 1)
        region = warped[band].astype(np.float32)
        region += alpha[band] * (CAVITY_RGB - region)
        warped[band] = (region + 0.5).astype(np.uint8)


class _EyeBlink:
    """Closes one eye: a lid of surrounding skin (inpainted once) sweeps down over it."""

    def __init__(self, still_rgb: np.ndarray, eye: Ellipse):
        height, width = still_rgb.shape[:2]
        self.left = max(0, int(eye.centre_x - 1.5 * eye.radius_x))
        self.right = min(width, int(eye.centre_x + 1.5 * eye.radius_x) + 1)
        self.top = max(0, int(eye.centre_y - 2.0 * eye.radius_y))
        self.bottom = min(height, int(eye.centre_y + 2.0 * eye.radius_y) + 1)
        self.source = np.ascontiguousarray(still_rgb[self.top : self.bottom, self.left : self.right])
        rows = np.arange(self.top, self.bottom, dtype=np.float32)[:, np.newaxis]
        columns = np.arange(self.left, self.right, dtype=np.float32)[np.newaxis, :]
        radius = np.sqrt(((columns - eye.centre_x) / eye.radius_x) ** 2 + ((rows - eye.centre_y) / eye.radius_y) ** 2)
        self.mask = np.clip((1.25 - radius) / 0.35, 0.0, 1.0).astype(np.float32)
        self.lid_row = eye.centre_y - eye.radius_y - self.top
        self.lower_row = eye.centre_y + LOWER_LID_BELOW_CENTRE * eye.radius_y - self.top
        self.rows = rows - self.top
        self.lash_width = max(1.0, eye.radius_y / 4)
        self.closed = self._skin_over_eye(radius).astype(np.float32)

    def _skin_over_eye(self, radius: np.ndarray) -> np.ndarray:
        """The eye region with the eye itself replaced by the skin around it."""
        if self.source.size == 0:
            return self.source
        eye_mask = (radius <= 1.1).astype(np.uint8)
        inpaint_radius = max(3, int(self.source.shape[0] / 4))
        return cv2.inpaint(self.source, eye_mask, inpaint_radius, cv2.INPAINT_TELEA)

    def draw(self, frame: np.ndarray, blink: float) -> None:
        if blink <= 0.0 or self.source.size == 0:
            return
        lid_edge = self.lid_row + blink * (self.lower_row - self.lid_row)
        covered = np.clip(lid_edge - self.rows + 0.5, 0.0, 1.0) * (self.rows >= self.lid_row - 1)
        lashes = LASH_DARKENING * blink * np.exp(-(((self.rows - lid_edge) / self.lash_width) ** 2))
        lidded = self.source + (covered * self.mask)[..., np.newaxis] * (self.closed - self.source)
        lidded *= (1.0 - lashes * self.mask)[..., np.newaxis]
        frame[self.top : self.bottom, self.left : self.right] = (lidded + 0.5).astype(np.uint8)
