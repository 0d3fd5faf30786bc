"""Decoding user images within a memory budget (for task plugins: ``render_core.plugin``).

A compressed image says little about its decoded size: an all-zero 6300x6300 RGBA PNG is
154 KB on disk and 151 MiB once decoded, and every full-size conversion after that costs as
much again. So, before any pixel is decoded:

- the memory the decode needs is estimated from the header (width x height x the bytes per
  pixel Pillow stores for the mode, after JPEG's reduced-size decoding; a full-size working
  copy for modes that must be converted before they can be reduced; the reduced copies);
- an image whose estimate exceeds the per-image limit is refused (:class:`ImageTooLarge`);
- the estimate is reserved from the worker process's decode budget, shared by all its threads;
  a decode waits while others hold the budget.

Then the image is decoded once at full size, reduced at once to the side the task needs, and
freed; orientation and mode changes happen on the reduced copy. Limits come from the worker's
settings (DECODE_MEMORY_MB, DECODE_IMAGE_MAX_MB) through :func:`configure`.
"""

from __future__ import annotations

import threading
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Callable, Iterator

from PIL import Image

MIB = 1024 * 1024
DEFAULT_BUDGET_BYTES = 1024 * MIB
DEFAULT_IMAGE_MAX_BYTES = 512 * MIB
#: Modes Pillow cannot reduce as they are, or only through a full-size copy (alpha is
#: premultiplied first): reduced strip by strip, each strip converted to the mode given.
_REDUCE_AS = {"RGBA": "RGBA", "LA": "LA", "PA": "RGBA", "P": "RGBA", "1": "L", "I;16": "I", "I;16L": "I",
              "I;16B": "I", "I;16N": "I", "CMYK": "RGB", "YCbCr": "RGB", "LAB": "RGB", "HSV": "RGB"}
#: Bytes of one strip of the full-size image converted at a time.
STRIP_BYTES = 8 * MIB
#: Buffers of the decoders themselves (zlib, scanlines), per decode.
DECODER_OVERHEAD_BYTES = 16 * MIB
_WAIT_STEP_S = 0.2


class ImageTooLarge(Exception):
    """Decoding the image would need more memory than one image may use; the message says how much."""


class DecodeStopped(Exception):
    """``should_stop()`` turned True while the decode waited for its share of the budget."""


def bytes_per_pixel(mode: str) -> int:
    """Bytes Pillow stores per pixel of ``mode`` (multi-band 8-bit modes take 4)."""
    if mode in ("1", "L", "P"):
        return 1
    if mode.startswith("I;16"):
        return 2
    return 4


class DecodeBudget:
    """Bytes of image decoding a process may hold at once, shared by all its threads.

    Parameters:
      total_bytes: the process's budget.
      image_max_bytes: the most one image may reserve (never more than ``total_bytes``).
    """

    def __init__(self, total_bytes: int = DEFAULT_BUDGET_BYTES, image_max_bytes: int = DEFAULT_IMAGE_MAX_BYTES):
        self.total_bytes = total_bytes
        self.image_max_bytes = min(image_max_bytes, total_bytes)
        self.in_use = 0
        self._changed = threading.Condition()

    @contextmanager
    def reserve(self, nbytes: int, should_stop: Callable[[], bool] = lambda: False) -> Iterator[None]:
        """Hold ``nbytes`` of the budget for the block; waits while other decodes hold too much.

        Raises ImageTooLarge when ``nbytes`` exceeds the per-image limit, DecodeStopped when
        ``should_stop()`` turns True while waiting.
        """
        if nbytes > self.image_max_bytes:
            raise ImageTooLarge(f"decoding it would take {nbytes / MIB:,.0f} MiB of memory; "
                                f"an image may take at most {self.image_max_bytes / MIB:,.0f} MiB")
        with self._changed:
            while self.in_use + nbytes > self.total_bytes:
                if should_stop():
                    raise DecodeStopped("stopped while waiting to decode the image")
                self._changed.wait(_WAIT_STEP_S)
            self.in_use += nbytes
        try:
            yield
        finally:
            with self._changed:
                self.in_use -= nbytes
                self._changed.notify_all()


_budget = DecodeBudget()


def configure(total_bytes: int, image_max_bytes: int) -> None:
    """Set this process's decode budget (the worker does, from its settings, before any job runs)."""
    global _budget
    _budget = DecodeBudget(total_bytes, image_max_bytes)


def decode_budget() -> DecodeBudget:
    """This process's decode budget."""
    return _budget


@dataclass
class ReducedImage:
    """An image decoded within the budget: ``pixels`` upright (EXIF orientation applied), at most
    ``max_side`` px on its longer side, in a mode that keeps the original's information (L, LA,
    RGB, RGBA, I or F); ``upright_size`` is the original's (width, height) once upright,
    ``scale`` how many original pixels one of ``pixels`` spans (>= 1), ``exif`` the original's
    EXIF (read after decoding: some formats keep it after the pixel data)."""

    pixels: Image.Image
    upright_size: tuple[int, int]
    scale: float
    exif: Image.Exif


def decode_cost(image: Image.Image, max_side: int) -> int:
    """Bytes a :func:`decode_reduced` of the opened ``image`` holds at its peak (an upper estimate):
    the full decode, the copy reduced by a whole factor (twice when it is resampled in a mode
    with alpha), one converted strip, three final copies and the decoder's own buffers."""
    width, height = image.size
    full = width * height * bytes_per_pixel(image.mode)
    target = _REDUCE_AS.get(image.mode, image.mode)
    factor = _factor(image.size, max_side)
    boxed = -(-width // factor) * -(-height // factor) * bytes_per_pixel(target)
    copies = 2 if target in ("RGBA", "LA") else 1
    strip = STRIP_BYTES if image.mode in _REDUCE_AS else 0
    side = min(max(width, height), max_side)
    return full + copies * boxed + strip + 3 * side * side * 4 + DECODER_OVERHEAD_BYTES


def decode_reduced(image: Image.Image, max_side: int, *, should_stop: Callable[[], bool] = lambda: False,
                   budget: DecodeBudget | None = None) -> ReducedImage:
    """Decode the opened (header-only) ``image`` within the decode budget, at most ``max_side`` px long.

    Large JPEGs are decoded at a reduced scale directly. The image is closed afterwards (its
    full-size pixels freed). Raises ImageTooLarge, DecodeStopped, and whatever Pillow raises
    for damaged data (OSError, ValueError, SyntaxError, EOFError, Image.DecompressionBombError).
    """
    budget = budget or _budget
    original = image.size
    if image.format == "JPEG" and max(image.size) > 2 * max_side:
        image.draft(None, (max_side, max_side))
    with budget.reserve(decode_cost(image, max_side), should_stop):
        try:
            image.seek(0)
            image.load()
            exif = _exif(image)  # only now: a PNG's EXIF may follow its pixels, reading it decodes them
            reduced = _reduce(image, max_side)
        finally:
            image.close()  # the full-size pixels go before the budget is given back
    transpose = _TRANSPOSES.get(exif.get(0x0112))
    if transpose is not None:
        reduced = reduced.transpose(transpose)
    turned = transpose in (Image.Transpose.ROTATE_90, Image.Transpose.ROTATE_270, Image.Transpose.TRANSPOSE,
                           Image.Transpose.TRANSVERSE)
    upright_size = (original[1], original[0]) if turned else original
    return ReducedImage(pixels=reduced, upright_size=upright_size, scale=upright_size[0] / reduced.size[0],
                        exif=exif)


def _factor(size: tuple[int, int], max_side: int) -> int:
    """The whole factor a box reduction may shrink by and still leave at least ``max_side`` px."""
    return max(1, max(size) // max_side)


def _reduce(image: Image.Image, max_side: int) -> Image.Image:
    """A copy of the loaded ``image`` at most ``max_side`` px long: box-reduced by a whole factor (strip
    by strip for modes that need converting, so no second full-size copy is made), then resampled."""
    factor = _factor(image.size, max_side)
    if image.mode in _REDUCE_AS:
        boxed = _reduce_in_strips(image, factor, _REDUCE_AS[image.mode])
    else:
        boxed = image.reduce(factor) if factor > 1 else image.copy()
    if max(boxed.size) <= max_side:
        return boxed
    shrink = max_side / max(image.size)
    size = (max(1, round(image.width * shrink)), max(1, round(image.height * shrink)))
    return boxed.resize(size, Image.Resampling.LANCZOS)


def _reduce_in_strips(image: Image.Image, factor: int, mode: str) -> Image.Image:
    """``image`` converted to ``mode`` and box-reduced by ``factor``, STRIP_BYTES of it at a time."""
    width, height = image.size
    rows = max(1, STRIP_BYTES // (width * 4 * factor)) * factor
    result = Image.new(mode, (-(-width // factor), -(-height // factor)))
    for top in range(0, height, rows):
        strip = image.crop((0, top, width, min(height, top + rows)))
        strip = strip.convert(mode) if strip.mode != mode else strip
        result.paste(strip.reduce(factor) if factor > 1 else strip, (0, top // factor))
    result.info = dict(image.info)
    return result


#: EXIF orientation -> the transpose that makes the image upright.
_TRANSPOSES = {2: Image.Transpose.FLIP_LEFT_RIGHT, 3: Image.Transpose.ROTATE_180,
               4: Image.Transpose.FLIP_TOP_BOTTOM, 5: Image.Transpose.TRANSPOSE, 6: Image.Transpose.ROTATE_270,
               7: Image.Transpose.TRANSVERSE, 8: Image.Transpose.ROTATE_90}


def _exif(image: Image.Image) -> Image.Exif:
    """The decoded image's EXIF; empty when it has none or it cannot be read."""
    try:
        return image.getexif()
    except Exception:  # corrupt EXIF must not fail the decode
        return Image.Exif()

