"""The WSGI entry point gunicorn serves: ``render_api.wsgi:app``."""

import logging

from render_core.logs import configure_logging
from render_core.registry import load_registry
from render_core.runtime import Runtime
from render_core.settings import Settings

from .app import create_app

configure_logging()
app = create_app(Runtime(Settings.from_env(), load_registry()))
logging.getLogger(__name__).info("C3 Render API ready")
