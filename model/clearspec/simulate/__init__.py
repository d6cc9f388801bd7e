"""clearspec.simulate (see its cli module)."""
