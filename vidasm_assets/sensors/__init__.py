from .renders import build_render_sensor, default_watch_seconds

__all__ = ["build_render_sensor", "default_watch_seconds"]
