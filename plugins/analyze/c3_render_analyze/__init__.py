"""C3 Render plugin: image analysis."""
