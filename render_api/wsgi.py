"""The WSGI entry point gunicorn serves: ``render_api.wsgi:app``."""

import logging

from render_core.config.settings import Settings
from render_core.obs.logs import configure_logging
from render_core.sdk.registry import load_registry

from .app import create_app
from .services import ApiServices

settings = Settings.from_env()
configure_logging(settings.log_level)
app = create_app(ApiServices(settings, load_registry(settings.render_plugins, trace_hooks=settings.trace_hooks)))
logging.getLogger(__name__).info("C3 Render API ready")
