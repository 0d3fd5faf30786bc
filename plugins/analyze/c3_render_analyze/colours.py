"""Dominant colours by Pillow's median-cut quantizer, each named from a fixed palette."""

from typing import Any

import numpy as np
from PIL import Image

DOMINANT_COLOUR_COUNT = 5
_SAMPLE_MAX_SIDE = 256  # pixels; colour shares barely change below this size

# Plain names and a representative sRGB value each; a colour takes the nearest name.
PALETTE: dict[str, tuple[int, int, int]] = {
    "black": (0, 0, 0),
    "dark grey": (64, 64, 64),
    "grey": (128, 128, 128),
    "light grey": (192, 192, 192),
    "white": (255, 255, 255),
    "dark red": (128, 0, 0),
    "red": (220, 30, 30),
    "pink": (255, 160, 190),
    "orange": (255, 140, 0),
    "brown": (140, 80, 30),
    "beige": (225, 205, 165),
    "yellow": (255, 220, 0),
    "olive": (128, 128, 0),
    "green": (40, 170, 40),
    "dark green": (0, 90, 0),
    "teal": (0, 128, 128),
    "cyan": (0, 220, 220),
    "light blue": (135, 190, 235),
    "blue": (30, 60, 220),
    "navy": (0, 0, 128),
    "purple": (128, 0, 128),
    "magenta": (230, 0, 230),
}


def colour_name(rgb: tuple[int, int, int]) -> str:
    """The palette name nearest to `rgb`, by 'redmean' weighted RGB distance."""
    red, green, blue = rgb

    def distance(reference: tuple[int, int, int]) -> float:
        mean_red = (red + reference[0]) / 2
        d_red, d_green, d_blue = red - reference[0], green - reference[1], blue - reference[2]
        return (
            (2 + mean_red / 256) * d_red**2
            + 4 * d_green**2
            + (2 + (255 - mean_red) / 256) * d_blue**2
        )

    return min(PALETTE, key=lambda name: distance(PALETTE[name]))


def dominant_colours(image: Image.Image) -> list[dict[str, Any]]:
    """Up to 5 colours of an RGB/RGBA image, largest share first.

    Fully or mostly transparent pixels (alpha < 128) are left out. Each item:
    {"hex": "#1e3cdc", "name": "blue", "share_percent": 62.1}; [] if nothing is opaque.
    """
    sample = image.copy()
    sample.thumbnail((_SAMPLE_MAX_SIDE, _SAMPLE_MAX_SIDE), Image.Resampling.BOX)
    pixels = np.asarray(sample.convert("RGBA")).reshape(-1, 4)
    opaque = pixels[pixels[:, 3] >= 128][:, :3]
    if len(opaque) == 0:
        return []
    strip = Image.fromarray(np.ascontiguousarray(opaque.reshape(1, -1, 3)), mode="RGB")
    quantized = strip.quantize(colors=DOMINANT_COLOUR_COUNT, method=Image.Quantize.MEDIANCUT)
    palette = quantized.getpalette() or []
    counts = quantized.getcolors(256) or []
    total = float(len(opaque))
    colours = []
    for count, index in sorted(counts, reverse=True):
        rgb = tuple(palette[index * 3 : index * 3 + 3])
        colours.append(
            {
                "hex": "#{:02x}{:02x}{:02x}".format(*rgb),
                "name": colour_name(rgb),
                "share_percent": round(100.0 * count / total, 1),
            }
        )
    return colours


def main_colour_names(colours: list[dict[str, Any]], min_share: float = 10.0) -> list[str]:
    """Up to 3 colour names covering most of the image, largest share first.

    Shares of colours with the same name are added; names under `min_share` percent
    are left out unless nothing else remains.
    """
    shares: dict[str, float] = {}
    for colour in colours:
        shares[colour["name"]] = shares.get(colour["name"], 0.0) + colour["share_percent"]
    ranked = sorted(shares, key=shares.get, reverse=True)
    chosen: list[str] = []
    covered = 0.0
    for name in ranked:
        if chosen and (shares[name] < min_share or covered >= 75.0 or len(chosen) == 3):
            break
        chosen.append(name)
        covered += shares[name]
    return chosen
