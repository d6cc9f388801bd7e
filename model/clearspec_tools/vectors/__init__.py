"""clearspec_tools.vectors (see its cli module)."""
