"""Presenting the model: drawings, exports for other tools, tag lint and the image catalogue."""
