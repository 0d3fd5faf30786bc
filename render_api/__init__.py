"""C3 Render HTTP API (Falcon, WSGI)."""
