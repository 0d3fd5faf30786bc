"""Name what a file that is not a readable image looks like, from its first bytes."""

import codecs

# (prefix, offset, description); checked in order, case-sensitive.
_MAGIC: tuple[tuple[bytes, int, str], ...] = (
    (b"%PDF", 0, "a PDF document"),
    (b"PK\x03\x04", 0, "a ZIP archive (or an Office document)"),
    (b"\x1f\x8b", 0, "gzip-compressed data"),
    (b"7z\xbc\xaf\x27\x1c", 0, "a 7-Zip archive"),
    (b"Rar!", 0, "a RAR archive"),
    (b"ID3", 0, "an MP3 audio file"),
    (b"OggS", 0, "an Ogg audio/video file"),
    (b"fLaC", 0, "a FLAC audio file"),
    (b"ftyp", 4, "an MP4/MOV/HEIF container (not a format this engine decodes)"),
    (b"\x1a\x45\xdf\xa3", 0, "a Matroska/WebM video"),
    (b"\x7fELF", 0, "a Linux executable"),
    (b"MZ", 0, "a Windows executable"),
)

_TEXT_MARKERS: tuple[tuple[str, str], ...] = (
    ("<!doctype html", "HTML"),
    ("<html", "HTML"),
    ("<head", "HTML"),
    ("<body", "HTML"),
    ("<svg", "SVG (a vector image; send a PNG or JPEG instead)"),
    ("<?xml", "XML"),
    ("{", "JSON"),
    ("[", "JSON"),
)


def describe_start(head: bytes) -> str:
    """A phrase such as 'it starts like HTML' for the first bytes (~64) of a file."""
    if not head:
        return "it is empty"
    for magic, offset, description in _MAGIC:
        if head[offset : offset + len(magic)] == magic:
            return f"it looks like {description}"
    text = _as_text(head)
    if text is None:
        return "its first bytes match no image format"
    lowered = text.lstrip("\ufeff \t\r\n").lower()
    if lowered.startswith("<?xml") and "<svg" in lowered:
        return "it starts like SVG (a vector image; send a PNG or JPEG instead)"
    for marker, kind in _TEXT_MARKERS:
        if lowered.startswith(marker):
            return f"it starts like {kind}"
    return "it looks like plain text"


def _as_text(head: bytes) -> str | None:
    """The bytes as text when they look like text (UTF-8, no control bytes), else None."""
    try:
        # Not final: the sample may end in the middle of a multi-byte character.
        text = codecs.getincrementaldecoder("utf-8")().decode(head, final=False)
    except UnicodeDecodeError:
        return None
    if any(ord(ch) < 32 and ch not in "\t\r\n\f" for ch in text):
        return None
    return text
