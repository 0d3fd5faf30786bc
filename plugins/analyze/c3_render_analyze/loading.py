"""Open an image safely: identify it from its header, refuse oversized images
before any pixel is decoded, then decode the first frame upright in 8-bit RGB(A)."""

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
from PIL import Image, UnidentifiedImageError
from render_core.plugin import DecodeStopped, ImageTooLarge, decode_reduced

from .errors import Aborted, BadImage
from .sniff import describe_start

_SNIFF_BYTES = 64


def open_header(path: Path, max_megapixels: float) -> Image.Image:
    """Open `path` lazily (header only) and refuse images over `max_megapixels`.

    The caller must close the returned image.
    """
    try:
        image = Image.open(path)
    except Image.DecompressionBombError:
        # Over Pillow's own hard limit (about 179 MP): read the size for the message.
        width, height = _header_size_without_pillow_limit(path)
        raise BadImage(_too_large_message(width, height, max_megapixels)) from None
    except UnidentifiedImageError:
        raise BadImage(f"the file is not an image ({_describe_file_start(path)})") from None
    except FileNotFoundError:
        raise BadImage("the image file is missing") from None
    except (OSError, SyntaxError, ValueError) as error:
        raise BadImage(f"the image header is damaged ({error})") from None
    width, height = image.size
    if width <= 0 or height <= 0:
        image.close()
        raise BadImage(f"the image header claims an empty size of {width}x{height} pixels")
    if width * height > max_megapixels * 1_000_000:
        image.close()
        raise BadImage(_too_large_message(width, height, max_megapixels))
    return image


@dataclass
class DecodedImage:
    """The first frame, upright (EXIF orientation applied), in mode RGB or RGBA, at
    most `max_side` pixels on its longer side.

    `scale` is how many original pixels one decoded pixel spans (>= 1); multiply
    decoded coordinates by it. `upright_size` is (width, height) in original pixels.
    `exif` is the original's EXIF (empty when it has none).
    """

    pixels: Image.Image
    scale: float
    upright_size: tuple[int, int]
    exif: Image.Exif | None = None


def decode_upright(image: Image.Image, max_side: int,
                   should_stop: Callable[[], bool] = lambda: False) -> DecodedImage:
    """Decode the first frame of an opened image within the worker's decode budget and scale it
    to at most `max_side` pixels on the longer side (large JPEGs are decoded at reduced size
    directly). The image is closed afterwards; its EXIF is kept in the result.

    Raises BadImage (too large to decode, damaged) or Aborted (should_stop() while waiting
    for memory to decode it)."""
    kind = image.format or "image"
    try:
        reduced = decode_reduced(image, max_side, should_stop=should_stop)
    except ImageTooLarge as error:
        raise BadImage(f"the image is too large to decode safely ({error})") from None
    except DecodeStopped as error:
        raise Aborted(str(error)) from None
    except Image.DecompressionBombError as error:
        raise BadImage(f"the image is too large to decode safely ({error})") from None
    except (OSError, SyntaxError, ValueError, EOFError) as error:
        raise BadImage(f"the {kind} file is damaged or truncated ({error})") from None
    pixels = to_8bit_rgb_or_rgba(reduced.pixels)
    return DecodedImage(pixels=pixels, scale=reduced.scale, upright_size=reduced.upright_size, exif=reduced.exif)


def has_alpha(image: Image.Image) -> bool:
    """True when the image has an alpha channel or a transparent palette/colour key."""
    return "A" in image.mode or "a" in image.mode or "transparency" in image.info


def flatten_on_white(image: Image.Image) -> Image.Image:
    """An RGB copy of an RGB/RGBA image, transparent parts shown over white."""
    if image.mode != "RGBA":
        return image.convert("RGB")
    background = Image.new("RGBA", image.size, (255, 255, 255, 255))
    return Image.alpha_composite(background, image).convert("RGB")


def to_8bit_rgb_or_rgba(image: Image.Image) -> Image.Image:
    """Convert any Pillow mode to RGB, or RGBA when the image carries transparency."""
    if image.mode in ("I", "I;16", "I;16B", "I;16L", "I;16N", "F"):
        image = _high_depth_to_l(image)
    target = "RGBA" if has_alpha(image) else "RGB"
    if image.mode == target:
        return image
    try:
        return image.convert(target)
    except (ValueError, OSError) as error:
        raise BadImage(f"the image colour mode {image.mode} is not supported ({error})") from None


def _high_depth_to_l(image: Image.Image) -> Image.Image:
    """Scale a 16/32-bit or float greyscale image down to 8-bit greyscale."""
    values = np.asarray(image, dtype=np.float64)
    peak = float(values.max()) if values.size else 0.0
    if image.mode == "F" and peak <= 1.0:
        values = values * 255.0
    elif peak > 255.0:
        values = values / (65535.0 if peak <= 65535.0 else peak) * 255.0
    return Image.fromarray(np.clip(values, 0, 255).astype(np.uint8), mode="L")


def _too_large_message(width: int, height: int, limit_mp: float) -> str:
    megapixels = width * height / 1_000_000
    shown = f"{megapixels:,.0f}" if megapixels >= 100 else f"{megapixels:.1f}"
    return f"image is {width}x{height} pixels ({shown} MP); the limit is {limit_mp:g} MP"


def _describe_file_start(path: Path) -> str:
    with open(path, "rb") as file:
        return describe_start(file.read(_SNIFF_BYTES))


def _header_size_without_pillow_limit(path: Path) -> tuple[int, int]:
    """Width and height from the header, trying Pillow's format readers directly
    (Image.open refuses to return images above its own pixel limit)."""
    Image.init()
    with open(path, "rb") as file:
        prefix = file.read(16)
        for format_id in Image.ID:
            factory, accept = Image.OPEN[format_id]
            accepted = accept(prefix) if accept is not None else True
            if not accepted or isinstance(accepted, str):
                continue
            file.seek(0)
            try:
                header = factory(file, str(path))
            except Exception:  # noqa: BLE001 - any reader failure: try the next format
                continue
            return header.size
    raise BadImage("the image is larger than the decoder's safety limit")
