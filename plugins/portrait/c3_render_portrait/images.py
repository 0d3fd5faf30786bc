"""Loading the portrait image safely and fitting it to the output video frame."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError
from render_core.plugin import DecodeStopped, ImageTooLarge, decode_reduced

from .errors import Aborted, BadImage

#: Images declaring more pixels than this are refused before any pixel is decoded.
MAX_SOURCE_PIXELS = 40_000_000
#: Images are downscaled to at most this long side (px) right after decoding.
MAX_WORKING_SIDE = 2048
#: The output frame fits within this box (px), keeping the aspect ratio.
MAX_FRAME_WIDTH = 1280
MAX_FRAME_HEIGHT = 720
#: Images with a shorter side than this (px) are too small to hold a usable face.
MIN_SOURCE_SIDE = 64


def load_portrait_frame(image_path: Path) -> np.ndarray:
    """Decode ``image_path`` into the RGB frame the video is made of.

    Applies EXIF orientation, flattens transparency onto white, and scales the
    picture down (never up) to fit within 1280x720 with both sides even.
    Returns a contiguous ``uint8`` array of shape (height, width, 3).
    Raises ``BadImage`` for anything that is not a usable image.
    """
    with _open_checked(image_path) as image:
        picture = _decode_oriented_rgb(image)
    frame_size = fit_frame_size(picture.width, picture.height)
    if picture.size != frame_size:
        picture = picture.resize(frame_size, Image.Resampling.LANCZOS)
    return np.ascontiguousarray(np.asarray(picture, dtype=np.uint8))


def fit_frame_size(width: int, height: int) -> tuple[int, int]:
    """Largest even (width, height) within 1280x720 keeping the aspect ratio; never upscales."""
    scale = min(1.0, MAX_FRAME_WIDTH / width, MAX_FRAME_HEIGHT / height)
    return _nearest_even(width * scale, min(width, MAX_FRAME_WIDTH)), _nearest_even(
        height * scale, min(height, MAX_FRAME_HEIGHT)
    )


def _nearest_even(length: float, limit: int) -> int:
    """``length`` rounded to an even number of pixels, at least 2 and at most ``limit``."""
    return max(2, min(int(length / 2 + 0.5) * 2, limit // 2 * 2))


def _open_checked(image_path: Path) -> Image.Image:
    """Open the image lazily (header only) and refuse bombs and tiny images."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(image_path)
    except Image.DecompressionBombError as exc:
        raise BadImage(f"the image is too large; send at most {MAX_SOURCE_PIXELS // 1_000_000} megapixels") from exc
    except UnidentifiedImageError as exc:
        raise BadImage("the file is not a recognised image; send a JPEG, PNG or WebP portrait photo") from exc
    except OSError as exc:
        raise BadImage(f"the image could not be read: {exc}") from exc
    width, height = image.size
    if width * height > MAX_SOURCE_PIXELS:
        image.close()
        raise BadImage(
            f"the image is too large: {width}x{height} pixels is more than "
            f"{MAX_SOURCE_PIXELS // 1_000_000} megapixels; send a smaller image"
        )
    if min(width, height) < MIN_SOURCE_SIDE:
        image.close()
        raise BadImage(
            f"the image is too small: {width}x{height} pixels; send at least {MIN_SOURCE_SIDE}x{MIN_SOURCE_SIDE}"
        )
    return image


def _decode_oriented_rgb(image: Image.Image, should_stop=lambda: False) -> Image.Image:
    """Decode at most 2048 px on the long side, upright (EXIF), as RGB, within the worker's decode
    budget (the full-size pixels are held once, then freed; conversions work on the reduced copy)."""
    try:
        reduced = decode_reduced(image, MAX_WORKING_SIDE, should_stop=should_stop)
    except ImageTooLarge as exc:
        raise BadImage(f"the image is too large to process: {exc}; send a smaller image") from None
    except DecodeStopped as exc:
        raise Aborted(str(exc)) from None
    except Image.DecompressionBombError as exc:
        raise BadImage(f"the image is too large to process: {exc}") from exc
    except (OSError, ValueError, SyntaxError, EOFError) as exc:
        raise BadImage(f"the image data is corrupt or truncated: {exc}") from exc
    return _flatten_to_rgb(reduced.pixels)


def _flatten_to_rgb(image: Image.Image) -> Image.Image:
    """RGB copy of ``image``; transparent areas become white."""
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, rgba).convert("RGB")
    return image.convert("RGB")
