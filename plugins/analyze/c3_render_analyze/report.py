"""Facts that Pillow and numpy establish: header facts (format, size, mode,
animation, EXIF) and pixel facts (colours, brightness, contrast, sharpness)."""

from math import gcd
from typing import Any

import numpy as np
from PIL import Image

from .colours import dominant_colours
from .loading import flatten_on_white, has_alpha

# Brightness words by mean grey level (0-255).
DARK_BELOW = 85
BRIGHT_FROM = 170
# Contrast words by the standard deviation of grey levels (0-255).
LOW_CONTRAST_BELOW = 30
HIGH_CONTRAST_FROM = 75
# Sharpness words (blurry/soft/sharp) by the variance of a 4-neighbour Laplacian
# of the grey image scaled to at most 1024 pixels on its longer side.
BLURRY_BELOW = 20
SHARP_FROM = 300
# Below this grey-level standard deviation the image is one flat tone: no edges to judge.
UNIFORM_BELOW = 2.0
TONE_MAX_SIDE = 1024  # pixels

_COMMON_RATIOS = ((1, 1), (5, 4), (4, 3), (3, 2), (16, 10), (16, 9), (2, 1), (21, 9))


def header_facts(image: Image.Image) -> dict[str, Any]:
    """Facts known from the file header: nothing here decodes pixel data."""
    width, height = image.size
    frames = int(getattr(image, "n_frames", 1) or 1)
    return {
        "format": image.format or "unknown",
        "width": width,
        "height": height,
        "mode": image.mode,
        "megapixels": float(f"{width * height / 1_000_000:.3g}"),
        "aspect_ratio": aspect_ratio(width, height),
        "has_alpha": has_alpha(image),
        "animated": bool(getattr(image, "is_animated", False)) and frames > 1,
        "frames": frames,
    }


def pixel_facts(pixels: Image.Image) -> dict[str, Any]:
    """Colours, transparency share, brightness, contrast and sharpness of an
    upright RGB/RGBA image."""
    sample = pixels.copy()
    sample.thumbnail((TONE_MAX_SIDE, TONE_MAX_SIDE), Image.Resampling.BOX)
    facts: dict[str, Any] = {"colours": dominant_colours(sample)}
    grey = np.asarray(sample.convert("L"), dtype=np.float64)
    opaque = np.ones(grey.shape, dtype=bool)
    if sample.mode == "RGBA":
        alpha = np.asarray(sample.getchannel("A"))
        opaque = alpha >= 128
        facts["transparent_percent"] = round(100.0 * (1.0 - opaque.mean()), 1)
    if not opaque.any():
        facts.update(brightness=None, contrast=None, sharpness=None)
        return facts
    facts["brightness"] = _brightness(grey[opaque])
    facts["contrast"] = _contrast(grey[opaque])
    flat_grey = np.asarray(flatten_on_white(sample).convert("L"), np.float64)
    facts["sharpness"] = _sharpness(flat_grey)
    return facts


def aspect_ratio(width: int, height: int) -> dict[str, Any]:
    """{"value": width/height, "label": "4:3"}; the label names a common ratio within 1%."""
    value = width / height
    for long_side, short_side in _COMMON_RATIOS:
        for a, b in ((long_side, short_side), (short_side, long_side)):
            if abs(value - a / b) <= 0.01 * (a / b):
                return {"value": round(value, 3), "label": f"{a}:{b}"}
    divisor = gcd(width, height)
    if width // divisor <= 32 and height // divisor <= 32:
        return {"value": round(value, 3), "label": f"{width // divisor}:{height // divisor}"}
    return {"value": round(value, 3), "label": f"{value:.2f}:1"}


def _brightness(grey: np.ndarray) -> dict[str, Any]:
    mean = float(grey.mean())
    word = "dark" if mean < DARK_BELOW else "bright" if mean >= BRIGHT_FROM else "medium"
    return {"mean": round(mean, 1), "word": word}


def _contrast(grey: np.ndarray) -> dict[str, Any]:
    spread = float(grey.std())
    if spread < LOW_CONTRAST_BELOW:
        word = "low"
    elif spread >= HIGH_CONTRAST_FROM:
        word = "high"
    else:
        word = "normal"
    return {"std_dev": round(spread, 1), "word": word}


def _sharpness(grey: np.ndarray) -> dict[str, Any]:
    variance = _laplacian_variance(grey)
    if grey.std() < UNIFORM_BELOW:
        word = "uniform"
    elif variance < BLURRY_BELOW:
        word = "blurry"
    elif variance >= SHARP_FROM:
        word = "sharp"
    else:
        word = "soft"
    return {
        "laplacian_variance": round(variance, 1),
        "word": word,
        "blurry_below": BLURRY_BELOW,
        "sharp_from": SHARP_FROM,
    }


def _laplacian_variance(grey: np.ndarray) -> float:
    """Variance of the 4-neighbour Laplacian (grey levels squared); 0 for tiny images."""
    if grey.shape[0] < 3 or grey.shape[1] < 3:
        return 0.0
    laplacian = (
        grey[:-2, 1:-1] + grey[2:, 1:-1] + grey[1:-1, :-2] + grey[1:-1, 2:] - 4 * grey[1:-1, 1:-1]
    )
    return float(laplacian.var())
