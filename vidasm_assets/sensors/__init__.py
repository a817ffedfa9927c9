from .renders import build_render_sensor

__all__ = ["build_render_sensor"]
