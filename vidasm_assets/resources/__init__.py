from .ffmpeg import FFmpegResource, StepMeter
from .workspace import WorkspaceResource

__all__ = ["FFmpegResource", "StepMeter", "WorkspaceResource"]
