"""Errors raised by the local portrait engine.

Every error a user can cause (bad image, bad audio, no face) carries a message
that tells them what to change; ``Aborted`` means the caller asked to stop.
"""


class PortraitError(Exception):
    """Base class of every error the portrait engine raises."""


class BadImage(PortraitError):
    """The image cannot be used: not an image, corrupt, too large or too small."""


class BadAudio(PortraitError):
    """The audio cannot be decoded or holds no sound samples."""


class NoFaceFound(PortraitError):
    """No frontal face was detected in the image."""

    def __init__(self, message: str = "no face found in the image; portrait needs a clearly visible frontal face"):
        super().__init__(message)


class Aborted(PortraitError):
    """The caller's ``should_stop()`` returned True; nothing was written."""


class EncoderFailed(PortraitError):
    """The bundled ffmpeg failed while encoding the video (not caused by the inputs)."""
