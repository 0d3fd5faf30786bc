"""Exceptions of the local speech engine (re-exported by `engine`)."""


class CloneNotSupported(ValueError):
    """Voice cloning was asked for; the CPU engine cannot do it."""


class Aborted(Exception):
    """`should_stop()` returned true between two sentences."""


class BackendUnavailable(RuntimeError):
    """One synthesis backend (piper or espeak-ng) cannot be loaded; the message says why."""


class SpeechUnavailable(RuntimeError):
    """No synthesis backend at all can be loaded on this machine."""
