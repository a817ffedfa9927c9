from .ffmpeg import FFmpegResource
from .workspace import WorkspaceResource

__all__ = ["FFmpegResource", "WorkspaceResource"]
