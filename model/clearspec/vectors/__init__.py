"""clearspec.vectors (see its cli module)."""
