"""Errors of provider calls other than launching (see ``base.LaunchError`` for that)."""


class ProviderError(Exception):
    """A provider call (list, stop) failed, or the provider is misconfigured.

    The message says what failed and, where it helps, which setting to check.
    """
