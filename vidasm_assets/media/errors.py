"""The VidasmError family.

Each error names the file it concerns and, when FFmpeg failed, the tail of its stderr. Where a builtin
exception means the same thing, the error is also that builtin (as PyAV does), so ``except
FileNotFoundError`` keeps working for callers who do not know vidasm.
"""

from __future__ import annotations

import errno
import re
import signal
from dataclasses import dataclass
from enum import Enum
from pathlib import Path


class VidasmError(Exception):
    """Base of every error vidasm raises on purpose."""

    def __init__(
        self, message: str, *, path: str | Path | None = None, stderr: str = "", shot: str | None = None
    ) -> None:
        if shot and not message.startswith(f"shot {shot}:"):
            message = f"shot {shot}: {message}"
        self.message = message
        self.shot = shot  # the shot it concerns, when one does
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

    def for_shot(self, shot: str) -> VidasmError:
        """The same error (same class, file and FFmpeg output) said of ``shot``."""
        if self.shot == shot:
            return self
        err = type(self)(self.message, path=self.path, shot=shot)
        err.stderr_tail = self.stderr_tail
        return err


class ProjectConfigError(VidasmError, ValueError):
    """project.json (or a name in the workspace) is invalid."""


class UnsafePathError(ProjectConfigError):
    """A path vidasm will not use: it resolves outside the workspace, or holds a line break FFmpeg would misread."""


class SettingsError(VidasmError, ValueError):
    """An environment setting (``VIDASM_*``) that is not a valid value."""


class MediaNotFoundError(VidasmError, FileNotFoundError):
    """A render or intermediate that should exist does not."""


class InvalidMediaError(VidasmError, ValueError):
    """The file exists but is not usable media (truncated, not a video, no picture...)."""


class UnsupportedMediaError(InvalidMediaError):
    """Valid media that vidasm refuses by policy (e.g. HDR without the opt-in)."""


class MediaLimitError(InvalidMediaError):
    """A render or output past one of vidasm's limits (``limits.py``): a decompression bomb, a damaged header, an
    output growing without end. The message names the file, the limit and the variable that changes it."""


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


class FFmpegBuildError(CodecNotFoundError):
    """The FFmpeg binary lacks something vidasm uses (an encoder, a filter, a filter or muxer option)."""


class StorageUnreachableError(VidasmError, ConnectionError):
    """The Dagster instance's database (PostgreSQL) cannot be reached or is not configured."""


class ListenError(VidasmError, OSError):
    """A server of vidasm's (``vidasm metrics``) cannot listen on its address: the port is taken, the host is not
    this machine's, or the port needs privileges."""


class OutputWriteError(VidasmError, OSError):
    """An output could not be written: the disk is full, the folder is read-only, a quota was hit."""


def stderr_tail(stderr: str, lines: int = 12) -> str:
    kept = [ln for ln in stderr.strip().splitlines() if ln.strip()]
    return "\n".join(kept[-lines:])


class Blame(str, Enum):
    """Who is at fault when FFmpeg fails: what the user has to fix."""

    INPUT = "the input"
    OUTPUT = "the output"
    FFMPEG_BUILD = "the FFmpeg build"
    SETTINGS = "the preset"  # a codec/container/pixel-format combination the muxer or encoder refuses
    RESOURCES = "the machine's resources"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class FailureCause:
    """What an FFmpeg failure means: the error class, who is at fault, and the stderr lines that say why."""

    cls: type[VidasmError]
    blame: Blame
    reason: str
    lines: tuple[str, ...] = ()

    def summary(self) -> str:
        """``<blame>: <reason>: <first line that matters>`` on one line."""
        text = f"{self.blame.value} is at fault: {self.reason}"
        return f"{text}: {self.lines[0]}" if self.lines else text


# (pattern, error class, blame, reason); first match in this order wins.
_CLASSIFIERS: list[tuple[re.Pattern[str], type[VidasmError], Blame, str]] = [
    (re.compile(r"No space left on device|Disk quota exceeded|File too large", re.I), OutputWriteError,
     Blame.OUTPUT, "the disk is full"),
    (re.compile(r"Read-only file system", re.I), OutputWriteError, Blame.OUTPUT, "the folder is read-only"),
    (re.compile(r"Cannot allocate memory|Out of memory|ENOMEM", re.I), FFmpegOutOfMemoryError, Blame.RESOURCES,
     "out of memory"),
    (re.compile(r"Could not write header|Error initializing output stream|only supported in|not supported in "
                r"container|Could not find tag for codec|Specified pixel format \S+ is invalid or not supported|"
                r"Incompatible pixel format", re.I),
     FFmpegError, Blame.SETTINGS, "the encoder or container refuses its settings"),
    (re.compile(r"Option '?\S+'? not found|Unrecognized option|No such filter|Unknown encoder|Encoder \S* ?not "
                r"found|Filter not found|Unknown filter|Error applying option|Option not found|"
                r"Invalid option|Unknown option", re.I),
     FFmpegBuildError, Blame.FFMPEG_BUILD, "it lacks an option, filter or encoder vidasm uses"),
    (re.compile(r"Decoder \(codec \S+\) not found|Unknown decoder|Decoder .*not found|"
                r"Codec .* not (?:currently )?supported|codec not currently supported", re.I),
     CodecNotFoundError, Blame.FFMPEG_BUILD, "it cannot decode this input's codec"),
    (re.compile(r"No such file or directory", re.I), MediaNotFoundError, Blame.INPUT, "a file is missing"),
    (re.compile(r"Permission denied|Operation not permitted", re.I), MediaPermissionError, Blame.INPUT,
     "permission denied"),
    (re.compile(r"Invalid data found when processing input|moov atom not found|does not contain any stream|"
                r"could not find codec parameters|Error opening input|End of file|"
                r"Output file does not contain any stream|matches no streams|Stream map .* matches no streams|"
                r"Invalid argument|error while decoding|corrupt", re.I),
     InvalidMediaError, Blame.INPUT, "the input is not media FFmpeg can use"),
]  # fmt: skip

# FFmpeg exits with its AVERROR(errno) truncated to 8 bits: 256 - errno (libavutil/error.h).
EXIT_CODES: dict[int, tuple[type[VidasmError], Blame, str]] = {
    256 - errno.ENOSPC: (OutputWriteError, Blame.OUTPUT, "the disk is full (ENOSPC)"),
    256 - errno.EDQUOT: (OutputWriteError, Blame.OUTPUT, "disk quota exceeded (EDQUOT)"),
    256 - errno.EROFS: (OutputWriteError, Blame.OUTPUT, "the folder is read-only (EROFS)"),
    256 - errno.ENOMEM: (FFmpegOutOfMemoryError, Blame.RESOURCES, "out of memory (ENOMEM)"),
    256 - errno.ENOENT: (MediaNotFoundError, Blame.INPUT, "a file is missing (ENOENT)"),
    256 - errno.EACCES: (MediaPermissionError, Blame.INPUT, "permission denied (EACCES)"),
}
_NOTEWORTHY = re.compile(
    r"error|invalid|not found|no such|cannot|can't|could not|unable|failed|unrecognized|unknown|denied|"
    r"no space|read-only|out of memory|corrupt|truncat|missing",
    re.I,
)
_NOISE = re.compile(r"^(Conversion failed!|Error while filtering: |Exiting normally|frame=|size=|video:)", re.I)


def cause_lines(stderr: str, limit: int = 3) -> tuple[str, ...]:
    """The stderr lines that say what went wrong (deduplicated, in order), without FFmpeg's generic trailers."""
    seen: list[str] = []
    for raw in stderr.splitlines():
        line = raw.strip()
        if not line or _NOISE.match(line) or not _NOTEWORTHY.search(line) or line in seen:
            continue
        seen.append(line)
    if not seen:
        tail = [ln.strip() for ln in stderr.strip().splitlines() if ln.strip() and not _NOISE.match(ln.strip())]
        seen = tail[-1:]
    return tuple(seen[:limit])


def classify_failure(stderr: str, returncode: int | None = None) -> FailureCause:
    """Why FFmpeg failed, from its stderr and exit status: class, blame, reason and the lines that matter."""
    lines = cause_lines(stderr)
    for pattern, cls, blame, reason in _CLASSIFIERS:
        m = pattern.search(stderr)
        if m:
            found = [ln.strip() for ln in stderr.splitlines() if m.group(0) in ln]
            hit = next((ln for ln in found if not _NOISE.match(ln)), found[0] if found else "")
            ordered = (hit, *[ln for ln in lines if ln != hit]) if hit else lines
            blame = _output_or_input(blame, hit)
            return FailureCause(cls, blame, reason, tuple(ordered[:3]))
    if returncode is not None and returncode in EXIT_CODES:
        cls, blame, reason = EXIT_CODES[returncode]
        return FailureCause(cls, blame, reason, lines)
    if returncode is not None and returncode < 0:
        sig = -returncode
        if sig in (signal.SIGSEGV, signal.SIGBUS, signal.SIGILL, signal.SIGABRT):
            return FailureCause(FFmpegError, Blame.FFMPEG_BUILD, f"FFmpeg crashed (signal {sig})", lines)
        return FailureCause(FFmpegError, Blame.RESOURCES, f"FFmpeg was killed (signal {sig})", lines)
    return FailureCause(FFmpegError, Blame.UNKNOWN, "FFmpeg reported an error", lines)


_PARTIAL = re.compile(r"\.partial-[A-Za-z0-9]+-\d+-[0-9a-f]{8}")


def _output_or_input(blame: Blame, line: str) -> Blame:
    """A permission or missing-file error on one of vidasm's temp outputs is the output's fault, not the input's."""
    if blame is Blame.INPUT and _PARTIAL.search(line):
        return Blame.OUTPUT
    return blame


def classify_ffmpeg_failure(stderr: str) -> type[VidasmError]:
    """The error class that matches FFmpeg's stderr (``classify_failure`` gives the blame and lines too)."""
    return classify_failure(stderr).cls


class RangeError(InvalidMediaError):
    """A sequence entry's ``in``/``out`` does not fit the render: after its end, out not after in, a timecode
    before the render's start or at another frame rate."""
