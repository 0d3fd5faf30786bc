"""EXIF highlights: camera, date, orientation, exposure; GPS only as present/absent.

GPS coordinates are never read into the facts, so they cannot leak into a report.
"""

import math
from typing import Any

from PIL import ExifTags, Image

_MAX_TEXT_CHARS = 64

ORIENTATION_MEANINGS = {
    1: "normal",
    2: "mirrored horizontally",
    3: "rotated 180°",
    4: "mirrored vertically",
    5: "mirrored and rotated 90° counter-clockwise",
    6: "rotated 90° clockwise",
    7: "mirrored and rotated 90° clockwise",
    8: "rotated 90° counter-clockwise",
}


def exif_highlights(source: Image.Image | Image.Exif | None) -> dict[str, Any]:
    """A JSON-ready dict of the EXIF fields worth showing (of an image or its EXIF); {} when there is none.

    Keys (each only when present): camera_make, camera_model, date_taken,
    date_modified, orientation {value, meaning}, exposure_time_s, exposure
    (e.g. "1/125 s"), f_number, iso, focal_length_mm, focal_length_35mm,
    gps_present (always, when EXIF exists), unreadable (True when EXIF is corrupt).
    """
    try:
        exif = source.getexif() if isinstance(source, Image.Image) else source
        if not exif:
            return {}
        details = exif.get_ifd(ExifTags.IFD.Exif)
        gps = exif.get_ifd(ExifTags.IFD.GPSInfo)
    except Exception:  # noqa: BLE001 - corrupt EXIF must not fail the analysis
        return {"unreadable": True, "gps_present": False}
    facts: dict[str, Any] = {}
    _put_text(facts, "camera_make", exif.get(ExifTags.Base.Make))
    _put_text(facts, "camera_model", exif.get(ExifTags.Base.Model))
    _put_text(
        facts,
        "date_taken",
        details.get(ExifTags.Base.DateTimeOriginal) or details.get(ExifTags.Base.DateTimeDigitized),
    )
    _put_text(facts, "date_modified", exif.get(ExifTags.Base.DateTime))
    orientation = _as_int(exif.get(ExifTags.Base.Orientation))
    if orientation in ORIENTATION_MEANINGS:
        facts["orientation"] = {"value": orientation, "meaning": ORIENTATION_MEANINGS[orientation]}
    _put_exposure(facts, details)
    facts["gps_present"] = bool(gps) or ExifTags.IFD.GPSInfo in exif
    return facts


def _put_exposure(facts: dict[str, Any], details: Any) -> None:
    exposure = _as_float(details.get(ExifTags.Base.ExposureTime))
    if exposure and exposure > 0:
        facts["exposure_time_s"] = round(exposure, 6)
        facts["exposure"] = _exposure_text(exposure)
    f_number = _as_float(details.get(ExifTags.Base.FNumber))
    if f_number and f_number > 0:
        facts["f_number"] = round(f_number, 1)
    iso = details.get(ExifTags.Base.ISOSpeedRatings)
    if isinstance(iso, (tuple, list)):
        iso = iso[0] if iso else None
    iso = _as_int(iso)
    if iso and iso > 0:
        facts["iso"] = iso
    focal = _as_float(details.get(ExifTags.Base.FocalLength))
    if focal and focal > 0:
        facts["focal_length_mm"] = round(focal, 1)
    focal_35 = _as_int(details.get(ExifTags.Base.FocalLengthIn35mmFilm))
    if focal_35 and focal_35 > 0:
        facts["focal_length_35mm"] = focal_35


def _exposure_text(seconds: float) -> str:
    """'1/125 s' for short exposures, '2.5 s' for long ones."""
    if seconds >= 1:
        return f"{seconds:g} s"
    return f"1/{round(1 / seconds)} s"


def _put_text(facts: dict[str, Any], key: str, value: Any) -> None:
    text = _clean_text(value)
    if text:
        facts[key] = text


def _clean_text(value: Any) -> str:
    """Printable text, trimmed to 64 characters; '' for missing or binary values."""
    if isinstance(value, bytes):
        value = value.decode("utf-8", errors="replace")
    if not isinstance(value, str):
        return ""
    printable = "".join(ch for ch in value if ch.isprintable()).strip()
    return printable[:_MAX_TEXT_CHARS]


def _as_float(value: Any) -> float | None:
    """A finite float, or None for missing, non-numeric, NaN or infinite values."""
    try:
        number = float(value) if value is not None else None
    except (TypeError, ValueError, ZeroDivisionError):
        return None
    return number if number is not None and math.isfinite(number) else None


def _as_int(value: Any) -> int | None:
    number = _as_float(value)
    return int(number) if number is not None else None
