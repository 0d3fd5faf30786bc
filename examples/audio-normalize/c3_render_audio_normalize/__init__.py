"""C3 Render task plugin: EBU R128 loudness normalization (``POST /audio-normalize``)."""
