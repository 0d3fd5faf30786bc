"""Tests of the offline image-analysis engine (Pillow facts, OpenCV faces, RapidOCR text).

Images are drawn here with Pillow, except the astronaut photo that scikit-image ships.
"""

import json
import socket
import struct
import zlib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
from PIL import ExifTags, Image, ImageDraw, ImageFile, ImageFilter, ImageFont, TiffImagePlugin

from c3_render_analyze import ocr as ocr_module
from c3_render_analyze.colours import colour_name
from c3_render_analyze.engine import Aborted, BadImage, EngineSetupError, analyze_image
from c3_render_analyze.report import aspect_ratio

DEEP_BLUE = (20, 50, 210)
WHITE = (255, 255, 255)


# ---------------------------------------------------------------- helpers


def report_only(path: Path, **kwargs):
    return analyze_image(path, ocr=False, faces=False, **kwargs)


def save(image: Image.Image, path: Path, **options) -> Path:
    image.save(path, **options)
    return path


def png_bytes(width: int, height: int) -> bytes:
    """A valid all-black 1-bit PNG written by hand (cheap even for 20000x20000)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = struct.pack(">I", zlib.crc32(kind + data))
        return struct.pack(">I", len(data)) + kind + data + crc

    row = bytes(1 + (width + 7) // 8)  # filter byte + packed bits
    compressor = zlib.compressobj(1)
    blocks, rest = divmod(height, 1000)
    body = b"".join(compressor.compress(row * 1000) for _ in range(blocks))
    body += compressor.compress(row * rest) + compressor.flush()
    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", body) + chunk(b"IEND", b"")
    )


def assert_box_matches(box: dict, expected: tuple[int, int, int, int]) -> None:
    """The box holds the `expected` (x, y, w, h) drawn-text box, with OCR's usual
    padding but not much more."""
    x, y, w, h = expected
    slack = 6  # pixels
    assert box["x"] <= x + slack and box["y"] <= y + slack, (box, expected)
    assert box["x"] + box["w"] >= x + w - slack, (box, expected)
    assert box["y"] + box["h"] >= y + h - slack, (box, expected)
    assert box["w"] <= 1.6 * w and box["h"] <= 2.5 * h, (box, expected)


@pytest.fixture
def no_pixel_decoding(monkeypatch):
    """Fail the test if any image's pixel data is decoded."""

    def refuse(self):
        raise AssertionError("pixel data was decoded")

    monkeypatch.setattr(ImageFile.ImageFile, "load", refuse)


@pytest.fixture
def no_network(monkeypatch):
    """Fail any attempt to open a network connection (e.g. a model download)."""

    def refuse(self, *args, **kwargs):
        raise AssertionError(f"network connection attempted: {args}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)


@pytest.fixture(scope="module")
def astronaut() -> np.ndarray:
    from skimage import data

    return data.astronaut()


# ---------------------------------------------------------------- OCR + colours


def test_printed_text_and_colours_are_reported(tmp_path, no_network, monkeypatch):
    monkeypatch.setattr(ocr_module, "_engines", {})  # build the OCR engine offline, here
    image = Image.new("RGB", (900, 360), DEEP_BLUE)
    draw = ImageDraw.Draw(image)
    draw.rectangle((0, 240, 900, 360), fill=WHITE)
    font = ImageFont.load_default(size=80)
    draw.text((50, 70), "HELLO WORLD", font=font, fill=WHITE)
    left, top, right, bottom = draw.textbbox((50, 70), "HELLO WORLD", font=font)
    text_box = (left, top, right - left, bottom - top)
    path = save(image, tmp_path / "sign.png")

    analysis = analyze_image(path, faces=False)

    lines = analysis.facts["text"]["lines"]
    assert [line["text"] for line in lines] == ["HELLO WORLD"]
    assert lines[0]["confidence"] >= 0.8
    assert_box_matches(lines[0]["box"], text_box)
    summary = analysis.text.splitlines()[0]
    assert 'text reading "HELLO WORLD"' in summary
    assert "mostly blue and white" in summary
    assert "blue" in analysis.text and "white" in analysis.text
    names = [colour["name"] for colour in analysis.facts["colours"]]
    assert names[:2] == ["blue", "white"]
    json.dumps(analysis.facts)


def test_text_box_is_in_original_pixels_after_downscaling(tmp_path, monkeypatch):
    monkeypatch.setattr(ocr_module, "WORK_MAX_SIDE", 450)  # read at half size
    image = Image.new("RGB", (900, 300), WHITE)
    draw = ImageDraw.Draw(image)
    font = ImageFont.load_default(size=100)
    draw.text((400, 120), "OPEN", font=font, fill=(0, 0, 0))
    left, top, right, bottom = draw.textbbox((400, 120), "OPEN", font=font)
    path = save(image, tmp_path / "wide.png")

    lines = analyze_image(path, faces=False).facts["text"]["lines"]

    assert [line["text"] for line in lines] == ["OPEN"]
    box = lines[0]["box"]
    assert_box_matches(box, (left, top, right - left, bottom - top))


def test_ocr_reports_no_text_on_a_plain_image(tmp_path):
    path = save(Image.new("RGB", (320, 240), (200, 30, 30)), tmp_path / "red.png")

    analysis = analyze_image(path, faces=False)

    assert analysis.facts["text"]["lines"] == []
    assert "no readable text found" in analysis.text.splitlines()[0]


# ---------------------------------------------------------------- faces


def test_astronaut_has_one_face(tmp_path, astronaut):
    path = save(Image.fromarray(astronaut), tmp_path / "astronaut.png")

    analysis = analyze_image(path, ocr=False)

    faces = analysis.facts["faces"]
    assert faces["count"] == 1
    box = faces["boxes"][0]
    # The face is roughly at x 170-280, y 60-170 in the 512x512 photo.
    assert 150 <= box["x"] <= 200 and 40 <= box["y"] <= 90
    assert 70 <= box["w"] <= 130 and 70 <= box["h"] <= 130
    assert "with 1 face" in analysis.text.splitlines()[0]


def test_face_box_is_in_original_pixels_after_downscaling(tmp_path, astronaut):
    # Big enough for a reduced-size JPEG decode and a further downscale for detection.
    big = Image.fromarray(astronaut).resize((2560, 2560), Image.Resampling.BILINEAR)
    path = save(big, tmp_path / "astronaut-big.jpg", quality=90)

    box = analyze_image(path, ocr=False).facts["faces"]["boxes"][0]

    # Five times the coordinates found in the 512x512 original (177, 66, 95, 95).
    assert 750 <= box["x"] <= 1000 and 200 <= box["y"] <= 450
    assert 350 <= box["w"] <= 650


def test_face_detection_from_several_threads(tmp_path, astronaut):
    path = save(Image.fromarray(astronaut), tmp_path / "astronaut.png")

    with ThreadPoolExecutor(max_workers=3) as pool:
        analyses = list(pool.map(lambda _: analyze_image(path, ocr=False), range(3)))

    counts = [analysis.facts["faces"]["count"] for analysis in analyses]

    assert counts == [1, 1, 1]


def test_face_cascade_location_comes_from_the_environment(tmp_path, monkeypatch, astronaut):
    path = save(Image.fromarray(astronaut), tmp_path / "astronaut.png")
    broken = tmp_path / "cascade.xml"
    broken.write_text("<opencv_storage></opencv_storage>")

    monkeypatch.setenv("C3_ANALYZE_FACE_CASCADE", str(broken))
    with pytest.raises(EngineSetupError, match="not a valid OpenCV Haar cascade"):
        analyze_image(path, ocr=False)

    monkeypatch.setenv("C3_ANALYZE_FACE_CASCADE", str(tmp_path / "missing.xml"))
    with pytest.raises(EngineSetupError, match="C3_ANALYZE_FACE_CASCADE"):
        analyze_image(path, ocr=False)


# ---------------------------------------------------------------- EXIF


def exif_with_camera_and_gps(orientation: int = 1) -> Image.Exif:
    exif = Image.Exif()
    exif[ExifTags.Base.Make] = "Canon"
    exif[ExifTags.Base.Model] = "Canon EOS 5D Mark IV"
    exif[ExifTags.Base.Orientation] = orientation
    details = exif.get_ifd(ExifTags.IFD.Exif)
    details[ExifTags.Base.DateTimeOriginal] = "2023:07:14 09:30:05"
    details[ExifTags.Base.ExposureTime] = TiffImagePlugin.IFDRational(1, 125)
    details[ExifTags.Base.FNumber] = TiffImagePlugin.IFDRational(56, 10)
    details[ExifTags.Base.ISOSpeedRatings] = 200
    details[ExifTags.Base.FocalLength] = TiffImagePlugin.IFDRational(50, 1)
    gps = exif.get_ifd(ExifTags.IFD.GPSInfo)
    gps[ExifTags.GPS.GPSLatitudeRef] = "N"
    gps[ExifTags.GPS.GPSLatitude] = (
        TiffImagePlugin.IFDRational(13, 1),
        TiffImagePlugin.IFDRational(17, 1),
        TiffImagePlugin.IFDRational(41987, 1000),
    )
    gps[ExifTags.GPS.GPSLongitudeRef] = "E"
    gps[ExifTags.GPS.GPSLongitude] = (
        TiffImagePlugin.IFDRational(77, 1),
        TiffImagePlugin.IFDRational(43, 1),
        TiffImagePlugin.IFDRational(19613, 1000),
    )
    return exif


def test_exif_camera_is_reported_and_gps_coordinates_never(tmp_path):
    image = Image.new("RGB", (640, 480), (90, 140, 60))
    path = save(image, tmp_path / "photo.jpg", exif=exif_with_camera_and_gps())
    with Image.open(path) as written:  # the file really holds the coordinates
        latitude = written.getexif().get_ifd(ExifTags.IFD.GPSInfo)[ExifTags.GPS.GPSLatitude]
    assert float(latitude[2]) == pytest.approx(41.987)

    analysis = report_only(path)

    exif = analysis.facts["exif"]
    assert exif["camera_make"] == "Canon"
    assert exif["camera_model"] == "Canon EOS 5D Mark IV"
    assert exif["date_taken"] == "2023:07:14 09:30:05"
    assert exif["exposure"] == "1/125 s" and exif["f_number"] == 5.6
    assert exif["iso"] == 200 and exif["focal_length_mm"] == 50
    assert exif["gps_present"] is True
    assert analysis.text.splitlines()[0].startswith("A 640x480 JPEG photo")
    assert "camera Canon EOS 5D Mark IV" in analysis.text
    assert "GPS location present (coordinates not shown)" in analysis.text
    everything = analysis.text + json.dumps(analysis.facts)
    for coordinate in ("41.987", "19.613", "13.29", "77.72", "41987", "19613"):
        assert coordinate not in everything


def test_exif_orientation_turns_the_analysis_upright(tmp_path):
    image = Image.new("RGB", (300, 200), (240, 240, 240))
    path = save(image, tmp_path / "turned.jpg", exif=exif_with_camera_and_gps(orientation=6))

    analysis = report_only(path)

    assert analysis.facts["width"] == 300 and analysis.facts["height"] == 200
    assert analysis.facts["upright_size"] == {"width": 200, "height": 300}
    assert analysis.facts["exif"]["orientation"]["meaning"] == "rotated 90° clockwise"


def test_image_without_exif_is_not_called_a_photo(tmp_path):
    path = save(Image.new("RGB", (64, 48), (10, 10, 10)), tmp_path / "plain.jpg")

    analysis = report_only(path)

    assert analysis.facts["exif"] == {}
    assert analysis.text.splitlines()[0].startswith("A 64x48 JPEG image, dark")
    assert "EXIF: none." in analysis.text


# ---------------------------------------------------------------- Pillow facts


def test_png_with_alpha(tmp_path):
    image = Image.new("RGBA", (200, 100), (0, 0, 0, 0))
    ImageDraw.Draw(image).rectangle((0, 0, 99, 99), fill=(230, 20, 20, 255))
    path = save(image, tmp_path / "half.png")

    analysis = report_only(path)

    facts = analysis.facts
    assert facts["format"] == "PNG" and facts["mode"] == "RGBA" and facts["has_alpha"]
    assert facts["transparent_percent"] == pytest.approx(50.0, abs=1.0)
    assert [colour["name"] for colour in facts["colours"]] == ["red"]
    assert "partly transparent" in analysis.text.splitlines()[0]


def test_animated_gif_frame_count(tmp_path):
    colours = ((255, 0, 0), (0, 255, 0), (0, 0, 255))
    frames = [Image.new("RGB", (120, 80), colour) for colour in colours]
    path = tmp_path / "blink.gif"
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=100, loop=0)

    analysis = report_only(path)

    assert analysis.facts["animated"] is True and analysis.facts["frames"] == 3
    assert analysis.text.startswith("A 120x80 animated GIF with 3 frames")


def test_sharp_and_blurry_photos_are_told_apart(tmp_path, astronaut):
    photo = Image.fromarray(astronaut)
    sharp = report_only(save(photo, tmp_path / "sharp.png")).facts["sharpness"]
    blurred = photo.filter(ImageFilter.GaussianBlur(3))
    blurry = report_only(save(blurred, tmp_path / "blurry.png")).facts["sharpness"]

    assert sharp["word"] == "sharp" and blurry["word"] == "blurry"
    assert sharp["laplacian_variance"] > 10 * blurry["laplacian_variance"]


def test_brightness_words(tmp_path):
    dark = report_only(save(Image.new("L", (50, 50), 20), tmp_path / "dark.png"))
    bright = report_only(save(Image.new("L", (50, 50), 230), tmp_path / "bright.png"))

    assert dark.facts["brightness"]["word"] == "dark"
    assert bright.facts["brightness"]["word"] == "bright"
    assert dark.facts["colours"][0]["name"] == "black"


def test_sixteen_bit_greyscale_png_is_scaled_not_clipped(tmp_path):
    levels = np.full((40, 60), 32768, dtype=np.uint16)  # mid grey in 16 bits
    path = save(Image.fromarray(levels), tmp_path / "deep.png")

    analysis = report_only(path)

    assert analysis.facts["brightness"]["mean"] == pytest.approx(127.5, abs=1.5)


def test_summary_names_only_what_was_checked(tmp_path):
    path = save(Image.new("RGB", (400, 300), (200, 30, 30)), tmp_path / "red.png")

    analysis = report_only(path)

    summary = analysis.text.splitlines()[0]
    assert summary == "A 400x300 PNG image, dark, plain (one flat tone), mostly red."
    assert analysis.facts["faces"] is None and analysis.facts["text"] is None
    assert "Faces: not checked." in analysis.text
    assert len(analysis.text.splitlines()) >= 6


@pytest.mark.parametrize(
    ("rgb", "name"),
    [
        ((250, 250, 250), "white"),
        ((5, 5, 5), "black"),
        ((30, 70, 200), "blue"),
        ((250, 230, 20), "yellow"),
        ((35, 160, 50), "green"),
        ((130, 130, 130), "grey"),
    ],
)
def test_colour_names(rgb, name):
    assert colour_name(rgb) == name


@pytest.mark.parametrize(
    ("size", "label"),
    [
        ((1024, 768), "4:3"),
        ((1920, 1080), "16:9"),
        ((1080, 1920), "9:16"),
        ((800, 300), "8:3"),
        ((1000, 677), "1.48:1"),
    ],
)
def test_aspect_ratio_labels(size, label):
    assert aspect_ratio(*size)["label"] == label


# ---------------------------------------------------------------- safety


def test_decompression_bomb_is_refused_from_the_header(tmp_path, no_pixel_decoding):
    path = tmp_path / "bomb.png"
    path.write_bytes(png_bytes(20000, 20000))

    with pytest.raises(BadImage) as refused:
        analyze_image(path)

    assert str(refused.value) == "image is 20000x20000 pixels (400 MP); the limit is 40 MP"


def test_image_over_our_limit_but_under_pillows_is_refused(tmp_path, no_pixel_decoding):
    path = tmp_path / "large.png"
    path.write_bytes(png_bytes(8000, 6000))

    with pytest.raises(BadImage, match=r"8000x6000 pixels \(48\.0 MP\); the limit is 40 MP"):
        analyze_image(path)


def test_megapixel_limit_comes_from_the_environment(tmp_path, monkeypatch):
    path = save(Image.new("RGB", (1000, 1000)), tmp_path / "one-mp.png")
    monkeypatch.setenv("C3_ANALYZE_MAX_MEGAPIXELS", "0.5")

    with pytest.raises(BadImage, match="the limit is 0.5 MP"):
        report_only(path)


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"<!DOCTYPE html><html><body>Not found</body></html>", "it starts like HTML"),
        (b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n", "PDF document"),
        (b"just some words in a text file\n", "plain text"),
        (b"", "it is empty"),
        (bytes(np.random.default_rng(7).integers(0, 256, 4096, dtype=np.uint8)), "no image format"),
    ],
    ids=["html", "pdf", "text", "empty", "random-bytes"],
)
def test_non_images_are_named(tmp_path, content, expected):
    path = tmp_path / "upload.jpg"
    path.write_bytes(content)

    with pytest.raises(BadImage, match="the file is not an image") as refused:
        report_only(path)

    assert expected in str(refused.value)


def test_truncated_jpeg_is_refused(tmp_path, astronaut):
    whole = save(Image.fromarray(astronaut), tmp_path / "whole.jpg", quality=90).read_bytes()
    path = tmp_path / "cut.jpg"
    path.write_bytes(whole[: len(whole) // 2])

    with pytest.raises(BadImage, match="the JPEG file is damaged or truncated"):
        report_only(path)


def test_should_stop_aborts_between_stages(tmp_path):
    path = save(Image.new("RGB", (64, 64)), tmp_path / "small.png")
    calls = []

    def stop_on_third_check():
        calls.append(1)
        return len(calls) >= 3

    with pytest.raises(Aborted, match="stopped"):
        report_only(path, should_stop=stop_on_third_check)
    assert len(calls) == 3
