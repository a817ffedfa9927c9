"""The VidasmError family.

Each error names the file it concerns and, when FFmpeg failed, the tail of its stderr. Where a builtin
exception means the same thing, the error is also that builtin (as PyAV does), so ``except
FileNotFoundError`` keeps working for callers who do not know vidasm.
"""

from __future__ import annotations

import re
from pathlib import Path


class VidasmError(Exception):
    """Base of every error vidasm raises on purpose."""

    def __init__(self, message: str, *, path: str | Path | None = None, stderr: str = "") -> None:
        self.message = message
        self.path = str(path) if path is not None else None
        self.stderr_tail = stderr_tail(stderr)
        text = message
        if self.path and self.path not in message:
            text = f"{message} [{self.path}]"
        if self.stderr_tail:
            text = f"{text}\nFFmpeg said:\n{self.stderr_tail}"
        super().__init__(text)
        # OSError subclasses keep their own args; make str() carry our text everywhere.
        self.args = (text,)

    def __str__(self) -> str:
        return self.args[0]


class ProjectConfigError(VidasmError, ValueError):
    """project.json (or a name in the workspace) is invalid."""


class MediaNotFoundError(VidasmError, FileNotFoundError):
    """A render or intermediate that should exist does not."""


class InvalidMediaError(VidasmError, ValueError):
    """The file exists but is not usable media (truncated, not a video, no picture...)."""


class UnsupportedMediaError(InvalidMediaError):
    """Valid media that vidasm refuses by policy (e.g. HDR without the opt-in)."""


class SourceTimecodeError(InvalidMediaError):
    """A render's start timecode tag is not a timecode at the render's own rate (so no source in can be written)."""


class CodecNotFoundError(VidasmError, LookupError):
    """FFmpeg lacks a decoder, encoder or filter the command needs."""


class MediaPermissionError(VidasmError, PermissionError):
    """FFmpeg could not read or write a file."""


class FFmpegOutOfMemoryError(VidasmError, MemoryError):
    """FFmpeg ran out of memory."""


class FFmpegTimeoutError(VidasmError, TimeoutError):
    """FFmpeg ran longer than its timeout and was killed."""


class FFmpegError(VidasmError, RuntimeError):
    """FFmpeg failed for a reason not classified more precisely."""


class ToolNotFoundError(VidasmError, FileNotFoundError):
    """No FFmpeg binary could be found."""


def stderr_tail(stderr: str, lines: int = 12) -> str:
    kept = [ln for ln in stderr.strip().splitlines() if ln.strip()]
    return "\n".join(kept[-lines:])


_CLASSIFIERS: list[tuple[re.Pattern[str], type[VidasmError]]] = [
    (re.compile(r"No such file or directory", re.I), MediaNotFoundError),
    (
        re.compile(r"Permission denied|Operation not permitted|Read-only file system", re.I),
        MediaPermissionError,
    ),
    (re.compile(r"Cannot allocate memory|Out of memory|ENOMEM", re.I), FFmpegOutOfMemoryError),
    (
        re.compile(
            r"Unknown encoder|Encoder not found|Unknown decoder|Decoder .*not found|"
            r"No such filter|Unrecognized option|Codec .* not (?:currently )?supported|"
            r"Encoder \S+ not found|codec not currently supported",
            re.I,
        ),
        CodecNotFoundError,
    ),
    (
        re.compile(
            r"Invalid data found when processing input|moov atom not found|"
            r"does not contain any stream|Invalid argument|could not find codec parameters|"
            r"Error opening input|End of file|Output file does not contain any stream|"
            r"matches no streams|Stream map .* matches no streams",
            re.I,
        ),
        InvalidMediaError,
    ),
]


def classify_ffmpeg_failure(stderr: str) -> type[VidasmError]:
    """Pick the error class that matches FFmpeg's stderr; first match in priority order wins."""
    for pattern, cls in _CLASSIFIERS:
        if pattern.search(stderr):
            return cls
    return FFmpegError
