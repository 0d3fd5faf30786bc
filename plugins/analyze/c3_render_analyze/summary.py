"""The human-readable report, built only from the facts dict (nothing else is known)."""

from typing import Any

from .colours import main_colour_names

_SUMMARY_TEXT_CHARS = 60
_ANIMATION_FORMATS = ("GIF", "PNG", "WEBP", "FLI")  # other multi-frame files are pages/shots


def summary_line(facts: dict[str, Any]) -> str:
    """One plain-English sentence, e.g. 'A 1024x768 JPEG photo, bright, mostly blue
    and white, with 1 face and text reading "HELLO WORLD".'"""
    clauses = [_subject(facts)] + _descriptors(facts)
    found, nothing_found = _findings(facts)
    sentence = ", ".join(clauses)
    if found:
        sentence += ", with " + " and ".join(found)
        if nothing_found:
            sentence += " but " + nothing_found
    elif nothing_found:
        sentence += ", " + nothing_found
    return sentence + "."


def report_text(facts: dict[str, Any]) -> str:
    """The full report: the summary line, then one line per group of facts."""
    lines = [summary_line(facts), _image_line(facts), _transparency_line(facts)]
    if facts["animated"]:
        lines.append(f"Frames: {facts['frames']} (the first frame was analysed).")
    lines += [_colours_line(facts), _tone_line(facts), _sharpness_line(facts), _exif_line(facts)]
    lines += _faces_lines(facts) + _text_lines(facts)
    if facts.get("faces") or facts.get("text"):
        space = facts["upright_size"]
        lines.append(
            f"Boxes are x, y, width, height in pixels of the upright image "
            f"({space['width']}x{space['height']}), origin top left."
        )
    return "\n".join(line for line in lines if line)


def _subject(facts: dict[str, Any]) -> str:
    size = f"{facts['width']}x{facts['height']}"
    exif = facts.get("exif") or {}
    if facts["animated"]:
        kind = "animated" if facts["format"] in _ANIMATION_FORMATS else "multi-frame"
        return f"A {size} {kind} {facts['format']} with {facts['frames']} frames"
    noun = "photo" if exif.get("camera_make") or exif.get("camera_model") else "image"
    return f"A {size} {facts['format']} {noun}"


def _descriptors(facts: dict[str, Any]) -> list[str]:
    if facts.get("brightness") is None:
        return ["fully transparent"]
    brightness = facts["brightness"]["word"]
    words = ["medium brightness" if brightness == "medium" else brightness]
    sharpness = facts["sharpness"]["word"]
    if sharpness in ("blurry", "uniform"):
        words.append({"uniform": "plain (one flat tone)"}.get(sharpness, sharpness))
    names = main_colour_names(facts["colours"])
    if names:
        words.append("mostly " + _join_words(names))
    if facts.get("transparent_percent", 0) >= 1:
        words.append("partly transparent")
    return words


def _findings(facts: dict[str, Any]) -> tuple[list[str], str]:
    """What was found ('1 face', 'text reading ...') and a phrase for what was not."""
    faces, text = facts.get("faces"), facts.get("text")
    found, missing = [], []
    if faces is not None:
        if faces["count"]:
            found.append(_count(faces["count"], "face"))
        else:
            missing.append("faces")
    if text is not None:
        if text["lines"]:
            joined = " ".join(line["text"] for line in text["lines"])
            found.append(f'text reading "{_shorten(joined)}"')
        else:
            missing.append("readable text")
    nothing_found = f"no {' or '.join(missing)} found" if missing else ""
    return found, nothing_found


def _image_line(facts: dict[str, Any]) -> str:
    ratio = facts["aspect_ratio"]
    return (
        f"Image: {facts['format']}, {facts['width']}x{facts['height']} pixels "
        f"({facts['megapixels']:g} MP), aspect ratio {ratio['label']} ({ratio['value']:g}), "
        f"colour mode {facts['mode']}."
    )


def _transparency_line(facts: dict[str, Any]) -> str:
    if not facts["has_alpha"]:
        return "Transparency: none."
    share = facts.get("transparent_percent")
    if share is None:
        return "Transparency: the image declares transparency."
    return (
        f"Transparency: the image has transparency; {share:g}% of pixels are "
        "transparent (alpha under 50%)."
    )


def _colours_line(facts: dict[str, Any]) -> str:
    if not facts["colours"]:
        return "Colours: none (no opaque pixels)."
    listed = ", ".join(
        f"{c['name']} {c['hex']} ({c['share_percent']:g}%)" for c in facts["colours"]
    )
    return f"Colours: {listed}."


def _tone_line(facts: dict[str, Any]) -> str:
    if facts.get("brightness") is None:
        return ""
    brightness, contrast = facts["brightness"], facts["contrast"]
    return (
        f"Brightness: {brightness['mean']:g}/255 ({brightness['word']}). "
        f"Contrast: standard deviation {contrast['std_dev']:g} ({contrast['word']})."
    )


def _sharpness_line(facts: dict[str, Any]) -> str:
    sharpness = facts.get("sharpness")
    if sharpness is None:
        return ""
    if sharpness["word"] == "uniform":
        return "Sharpness: not measurable (the image is one flat tone, without edges)."
    return (
        f"Sharpness: Laplacian variance {sharpness['laplacian_variance']:g} "
        f"({sharpness['word']}; under {sharpness['blurry_below']} is blurry, "
        f"{sharpness['sharp_from']} and over is sharp)."
    )


def _exif_line(facts: dict[str, Any]) -> str:
    exif = facts.get("exif") or {}
    if not exif:
        return "EXIF: none."
    if exif.get("unreadable"):
        return "EXIF: present but unreadable."
    parts = []
    camera = _camera(exif)
    if camera:
        parts.append(f"camera {camera}")
    if "date_taken" in exif:
        parts.append(f"taken {exif['date_taken']}")
    elif "date_modified" in exif:
        parts.append(f"file date {exif['date_modified']}")
    if "orientation" in exif:
        parts.append(f"orientation {exif['orientation']['meaning']}")
    settings = _exposure_settings(exif)
    if settings:
        parts.append(settings)
    parts.append(
        "GPS location present (coordinates not shown)" if exif.get("gps_present") else "no GPS"
    )
    return "EXIF: " + "; ".join(parts) + "."


def _camera(exif: dict[str, Any]) -> str:
    make, model = exif.get("camera_make", ""), exif.get("camera_model", "")
    if make and model.lower().startswith(make.lower()):
        return model
    return " ".join(part for part in (make, model) if part)


def _exposure_settings(exif: dict[str, Any]) -> str:
    parts = []
    if "exposure" in exif:
        parts.append(f"exposure {exif['exposure']}")
    if "f_number" in exif:
        parts.append(f"f/{exif['f_number']:g}")
    if "iso" in exif:
        parts.append(f"ISO {exif['iso']}")
    if "focal_length_mm" in exif:
        focal = f"focal length {exif['focal_length_mm']:g} mm"
        if "focal_length_35mm" in exif:
            focal += f" ({exif['focal_length_35mm']} mm in 35 mm terms)"
        parts.append(focal)
    return ", ".join(parts)


def _faces_lines(facts: dict[str, Any]) -> list[str]:
    faces = facts.get("faces")
    if faces is None:
        return ["Faces: not checked."]
    if not faces["count"]:
        return [f"Faces ({faces['detector']}): none found."]
    boxes = "; ".join(_box_text(box) for box in faces["boxes"])
    return [f"Faces ({faces['detector']}): {_count(faces['count'], 'face')} at {boxes}."]


def _text_lines(facts: dict[str, Any]) -> list[str]:
    text = facts.get("text")
    if text is None:
        return ["Text: not checked."]
    heading = f"Text ({text['reader']}; confidence at least {text['min_confidence']:g})"
    lines = [f"{heading}: {_count(len(text['lines']), 'line')} found."]
    lines += [
        f'  "{line["text"]}" (confidence {line["confidence"]:.2f}, {_box_text(line["box"])})'
        for line in text["lines"]
    ]
    if text["low_confidence_lines"]:
        left_out = _count(text["low_confidence_lines"], "more line")
        lines.append(f"  {left_out} below the confidence threshold left out.")
    return lines


def _box_text(box: dict[str, int]) -> str:
    return f"x={box['x']} y={box['y']} w={box['w']} h={box['h']}"


def _count(number: int, noun: str) -> str:
    """'no faces', '1 face', '2 faces'."""
    if number == 0:
        return f"no {noun}s"
    return f"{number} {noun}" + ("" if number == 1 else "s")


def _join_words(words: list[str]) -> str:
    if len(words) == 1:
        return words[0]
    return ", ".join(words[:-1]) + " and " + words[-1]


def _shorten(text: str) -> str:
    if len(text) <= _SUMMARY_TEXT_CHARS:
        return text
    return text[: _SUMMARY_TEXT_CHARS - 1].rstrip() + "…"
