"""Exceptions raised by the image-analysis engine."""


class AnalyzeError(Exception):
    """Base class of every error the analysis engine raises on purpose."""


class BadImage(AnalyzeError):
    """The input is not an image we can analyse; the message tells the user why."""


class Aborted(AnalyzeError):
    """The caller's should_stop() asked the analysis to stop between stages."""


class EngineSetupError(AnalyzeError):
    """A model file or setting is missing or invalid: an operator must fix it."""
