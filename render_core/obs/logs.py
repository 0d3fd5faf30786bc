"""Logging set-up shared by the API, the worker and the CLI."""

import logging

FORMAT = "%(asctime)s %(levelname)s %(name)s[%(process)d]: %(message)s"


def configure_logging(level: str = "INFO") -> None:
    """Log to stderr at ``level`` (``settings.log_level``, LOG_LEVEL); a process that already
    has a handler (a Dramatiq worker process) keeps it and only takes the level."""
    logging.basicConfig(level=level.upper(), format=FORMAT)
    logging.getLogger().setLevel(level.upper())
