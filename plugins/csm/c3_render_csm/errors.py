"""Exceptions of the local speech engine (re-exported by `engine`).

Every SpeechError carries a message meant for the person who asked for the speech
(or the operator, for missing packages); Aborted is a normal stop, not a failure.
"""


class SpeechError(Exception):
    """A failure whose message says what to change."""


class InvalidSpeechRequest(SpeechError, ValueError):
    """The sentences or options cannot be spoken as given."""


class CloneNotSupported(InvalidSpeechRequest):
    """Voice cloning was asked for; the CPU engine cannot do it."""


class BackendUnavailable(SpeechError, RuntimeError):
    """One synthesis backend (piper or espeak-ng) cannot be loaded; the message says why."""


class SpeechUnavailable(SpeechError, RuntimeError):
    """No synthesis backend at all can be loaded on this machine."""


class SynthesisFailed(SpeechError, RuntimeError):
    """A backend or the MP3 encoder failed on input it had accepted."""


class Aborted(Exception):
    """`should_stop()` returned true between two sentences."""
