"""A small Python client of the C3 Render HTTP API (``requests`` only), used by the ``c3-render`` CLI.

    from render_core.client import RenderClient
    client = RenderClient("http://127.0.0.1:5000", key="...")
    job = client.submit("whisper", {"audio_url": client.upload("talk.wav")}, wait=30)
    job = client.wait(job["id"])
    print(job["result"])
"""

from .api import TERMINAL, RenderClient
from .errors import ApiError, ClientError, Unreachable

__all__ = ["RenderClient", "ApiError", "ClientError", "Unreachable", "TERMINAL"]
