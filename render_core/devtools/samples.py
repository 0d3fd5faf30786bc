"""Sample inputs that ``c3-render dev`` serves so the printed examples work offline."""

from __future__ import annotations

from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

#: Colour blocks of the sample image, left to right (RGB).
SAMPLE_COLOURS = ((220, 40, 40), (40, 160, 60), (40, 80, 200))


def sample_image(width: int = 960, height: int = 540) -> Image.Image:
    """Three colour bands with the words "C3 RENDER" in black on white."""
    image = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(image)
    band = width // len(SAMPLE_COLOURS)
    for index, colour in enumerate(SAMPLE_COLOURS):
        draw.rectangle([index * band, height * 2 // 3, (index + 1) * band, height], fill=colour)
    font = ImageFont.load_default(size=110)
    draw.text((width // 2, height // 3), "C3 RENDER", fill="black", font=font, anchor="mm")
    return image


def write_samples(directory: Path) -> Path:
    """Write the sample files (once) and return the directory."""
    directory.mkdir(parents=True, exist_ok=True)
    image = directory / "sample.png"
    if not image.exists():
        sample_image().save(image)
    portrait = directory / "portrait.png"
    if not portrait.exists():
        try:
            from skimage import data  # the astronaut photo (public domain) ships in scikit-image
        except ImportError:
            pass
        else:
            Image.fromarray(data.astronaut()).save(portrait)
    return directory
