"""C3 Render core: settings, plugin registry, job store, pipeline, storage, webhooks, metrics."""

__version__ = "0.1.0"
