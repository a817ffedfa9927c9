"""Limits on hostile or broken input, read from the environment each time they are used.

A render is only a few bytes of header away from asking for hours of frames, gigapixel pictures or a disk full
of silence (a 1.5 KB MP4 of 3 frames can declare 10 hours), and a project.json can be nested or long enough to
stop the whole workspace from loading. Every limit here is checked before the work starts, and every refusal
names the file, the limit and the environment variable that changes it.

The values are read from the environment at call time (``Limits.from_env()``), never at import time, so a
code location, a test or ``vidasm build`` sees the environment it runs in. Sizes accept a binary suffix
(``512M``, ``32G``); ``0`` turns a limit off.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import re
import resource
import signal
import stat
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import (
    FFmpegOutOfMemoryError,
    InvalidMediaError,
    MediaLimitError,
    MediaNotFoundError,
    MediaPermissionError,
    SettingsError,
    VidasmError,
)

if TYPE_CHECKING:
    from .probe import MediaInfo
    from .rates import Rate

log = logging.getLogger("vidasm")

KIB = 1 << 10
MIB = 1 << 20
GIB = 1 << 30


@dataclass(frozen=True)
class Limits:
    """Every limit with its default; ``ENV`` names the environment variable that sets each."""

    project_json_bytes: int = 4 * MIB
    """``VIDASM_MAX_PROJECT_JSON_BYTES``: size of a project.json. A sequence entry takes about 100 bytes, so the
    default holds some 40 000 shots; a bigger file is a mistake (a log or a render saved under the name)."""
    project_json_depth: int = 32
    """``VIDASM_MAX_PROJECT_JSON_DEPTH``: nesting of objects and arrays. A valid project.json nests 4 deep
    (object, sequence, entry, track list); Python's own JSON parser gives up near 1000."""
    sequence_entries: int = 10_000
    """``VIDASM_MAX_SEQUENCE``: entries in project.json's ``sequence`` (shots in one cut)."""
    seconds_per_mb: float = 1_000_000.0
    """``VIDASM_MAX_SECONDS_PER_MB``: seconds of picture a render may declare per MB (10^6 bytes) of file, i.e. at
    least 1 byte a second. Every real picture costs bytes: measured with x264, a still grey 160x90 picture costs
    560 bytes a second at 24 fps and 25 bytes a second at 1 fps (an MP4 index alone takes some 8 bytes a frame),
    so the default leaves a 25-fold margin under the cheapest real render. The 10-hour render of 3 frames in
    1.5 KB declares 24 million seconds per MB."""
    frames: int = 500_000
    """``VIDASM_MAX_FRAMES``: timeline frames one shot may make (5.8 hours at 24 fps, 2.3 hours at 60)."""
    pixels: int = 8192 * 8192
    """``VIDASM_MAX_PIXELS``: pixels in one picture of a render (width x height; 8K DCI is 35 million)."""
    output_bytes: int = 64 * GIB
    """``VIDASM_MAX_OUTPUT_BYTES``: size of any file FFmpeg writes (RLIMIT_FSIZE of the FFmpeg process; two
    hours of 1080p at the conform's settings is a few GB, of PCM audio 2 GB)."""
    ffmpeg_memory_bytes: int = field(default_factory=lambda: default_ffmpeg_memory())
    """``VIDASM_MAX_FFMPEG_MEMORY``: address space of each FFmpeg process (RLIMIT_AS); default half the machine's
    memory, at least 4 GB. Virtual, not resident: x264 and the decoders reserve thread stacks they never fill, so
    this sits well above what FFmpeg uses (measured with the bundled 9.0.2 on 2 cores: a 1080p conform peaks at
    1.4 GB virtual, 0.5 GB resident; 4K at 2.6 GB virtual, 1.7 GB resident) and under what takes a machine
    down."""
    ffmpeg_timeout_seconds: float = 3600.0
    """``VIDASM_FFMPEG_TIMEOUT``: seconds one FFmpeg command may run before it is killed (the FFmpeg resource's
    ``timeout_seconds`` wins when set)."""

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Limits:
        """The limits in force now: each ``ENV`` variable that is set, else the default."""
        env = os.environ if environ is None else environ
        values: dict[str, float | int] = {}
        for f in fields(cls):
            raw = env.get(ENV[f.name], "").strip()
            if raw:
                values[f.name] = _parse(ENV[f.name], raw, float if f.type == "float" else int)
        return cls(**values)  # type: ignore[arg-type]

    def enabled(self, name: str) -> bool:
        """A limit of 0 is off."""
        return bool(getattr(self, name))


ENV: dict[str, str] = {
    "project_json_bytes": "VIDASM_MAX_PROJECT_JSON_BYTES",
    "project_json_depth": "VIDASM_MAX_PROJECT_JSON_DEPTH",
    "sequence_entries": "VIDASM_MAX_SEQUENCE",
    "seconds_per_mb": "VIDASM_MAX_SECONDS_PER_MB",
    "frames": "VIDASM_MAX_FRAMES",
    "pixels": "VIDASM_MAX_PIXELS",
    "output_bytes": "VIDASM_MAX_OUTPUT_BYTES",
    "ffmpeg_memory_bytes": "VIDASM_MAX_FFMPEG_MEMORY",
    "ffmpeg_timeout_seconds": "VIDASM_FFMPEG_TIMEOUT",
}

_SIZE = re.compile(r"(\d+(?:\.\d+)?)\s*([KMGT]?)(?:i?B)?", re.I | re.ASCII)
_UNITS = {"": 1, "K": KIB, "M": MIB, "G": GIB, "T": GIB << 10}


def _parse(var: str, raw: str, kind: type) -> float | int:
    """A number, with an optional binary size suffix (``K``, ``M``, ``G``, ``T``, optionally ``B``/``iB``)."""
    m = _SIZE.fullmatch(raw)
    if not m:
        raise SettingsError(f"{var}={raw!r} is not a number (sizes may end in K, M, G or T)")
    value = float(m[1]) * _UNITS[m[2].upper()]
    if kind is int:
        return int(value)
    return value


def human_bytes(n: float) -> str:
    """``4.0 MiB``: a size for messages (binary units)."""
    for unit, size in (("GiB", GIB), ("MiB", MIB), ("KiB", KIB)):
        if n >= size:
            return f"{n / size:.1f} {unit}"
    return f"{int(n)} bytes"


# --------------------------------------------------------------------------- renders


def check_render(info: MediaInfo, rate: Rate, frames: int, limits: Limits | None = None) -> None:
    """Refuse a render whose header asks for more than any real render would: too many pixels in a picture,
    more declared seconds than its bytes can hold, more timeline frames than a shot may have. Checked on the
    header before FFmpeg decodes a frame (``build.shot_frames``), so a bomb costs nothing."""
    lim = limits or Limits.from_env()
    v = info.video
    if v is None:
        return
    path = info.path
    pixels = v.width * v.height
    if lim.pixels and pixels > lim.pixels:
        raise MediaLimitError(
            f"{path}: {v.width}x{v.height} is {pixels:,} pixels a picture, over the limit of {lim.pixels:,} "
            f"({ENV['pixels']}; raise it if this render is real)",
            path=path,
        )
    seconds = float(v.duration)
    if lim.seconds_per_mb and info.size > 0:
        per_mb = seconds / (info.size / 1e6)
        if per_mb > lim.seconds_per_mb:
            raise MediaLimitError(
                f"{path}: declares {seconds:,.0f} s of picture in {human_bytes(info.size)} ({per_mb:,.0f} s per MB, "
                f"limit {lim.seconds_per_mb:,.0f}: {ENV['seconds_per_mb']}): a damaged header or a decompression "
                "bomb, not a render",
                path=path,
            )
    if lim.frames and frames > lim.frames:
        raise MediaLimitError(
            f"{path}: {seconds:,.0f} s is {frames:,} frames at {rate} fps, over the limit of {lim.frames:,} frames a "
            f"shot ({ENV['frames']})",
            path=path,
        )


# --------------------------------------------------------------------------- project.json


def read_project_file(path: Path, limits: Limits | None = None) -> str:
    """project.json's text, refused by name when it is not a readable regular file, larger than the limit or not
    UTF-8. The file is checked before it is opened: a FIFO would block the reader forever. A leading UTF-8 byte
    order mark (Windows PowerShell 5's ``-Encoding UTF8``, Notepad before 2019) is dropped: RFC 8259 lets a parser
    ignore it, and Python's ``json`` refuses it."""
    from .errors import ProjectConfigError

    lim = limits or Limits.from_env()
    st = regular_file(path, ProjectConfigError, ProjectConfigError, "a file")
    if lim.project_json_bytes and st.st_size > lim.project_json_bytes:
        raise ProjectConfigError(
            f"{path}: {human_bytes(st.st_size)} is over the project.json size limit of "
            f"{human_bytes(lim.project_json_bytes)} ({ENV['project_json_bytes']})",
            path=path,
        )
    try:
        with open(path, "rb") as fh:
            data = fh.read(lim.project_json_bytes + 1 if lim.project_json_bytes else -1)
    except OSError as exc:
        raise ProjectConfigError(f"{path}: cannot be read ({exc.strerror or exc})", path=path) from exc
    if lim.project_json_bytes and len(data) > lim.project_json_bytes:  # grew since the stat
        raise ProjectConfigError(
            f"{path}: over the project.json size limit of {human_bytes(lim.project_json_bytes)} "
            f"({ENV['project_json_bytes']})",
            path=path,
        )
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise ProjectConfigError(
            f"{path}: not UTF-8 text (byte 0x{data[exc.start]:02x} at offset {exc.start}, line {line}); save it as "
            "UTF-8",
            path=path,
        ) from exc


def file_kind(mode: int) -> str:
    """``file``, ``folder``, ``FIFO (named pipe)``...: what a path is, for messages."""
    if stat.S_ISREG(mode):
        return "file"
    if stat.S_ISDIR(mode):
        return "folder"
    if stat.S_ISFIFO(mode):
        return "FIFO (named pipe)"
    if stat.S_ISSOCK(mode):
        return "socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "device"
    return "special file"


def json_depth(value: Any, stop: int = 0) -> int:
    """The deepest nesting of objects and arrays in parsed JSON, counted without recursion (stops early once past
    ``stop`` when given)."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict):
            children: Any = node.values()
        elif isinstance(node, list):
            children = node
        else:
            continue
        deepest = max(deepest, depth)
        if stop and deepest > stop:
            break
        stack.extend((child, depth + 1) for child in children if isinstance(child, (dict, list)))
    return deepest


def parse_project_json(path: Path, text: str, limits: Limits | None = None) -> Any:
    """project.json parsed, with at most ``VIDASM_MAX_SEQUENCE`` sequence entries and nested at most
    ``VIDASM_MAX_PROJECT_JSON_DEPTH`` deep. Python's parser refuses nesting near its recursion limit (about 1000
    levels) by itself, with a RecursionError: said as the same depth limit."""
    from .errors import ProjectConfigError

    lim = limits or Limits.from_env()
    limit = lim.project_json_depth
    too_deep = (
        f"{path}: nested more than {limit} levels deep, over the limit ({ENV['project_json_depth']}={limit}; a "
        "project.json needs 4)"
    )
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ProjectConfigError(f"{path}: not valid JSON ({exc})", path=path) from exc
    except RecursionError as exc:
        why = too_deep if limit else f"{path}: nested deeper than Python's JSON parser reads (about 1000 levels)"
        raise ProjectConfigError(why, path=path) from exc
    check_sequence_length(path, raw, lim)
    # fewer brackets than the limit cannot nest deeper than it: no walk
    if limit and text.count("[") + text.count("{") > limit and json_depth(raw, stop=limit) > limit:
        raise ProjectConfigError(too_deep, path=path)
    return raw


def check_sequence_length(path: Path, raw: object, limits: Limits | None = None) -> None:
    """At most ``VIDASM_MAX_SEQUENCE`` sequence entries (checked before validating them one by one)."""
    from .errors import ProjectConfigError

    lim = limits or Limits.from_env()
    seq = raw.get("sequence") if isinstance(raw, dict) else None
    if lim.sequence_entries and isinstance(seq, list) and len(seq) > lim.sequence_entries:
        raise ProjectConfigError(
            f"{path}: field 'sequence': {len(seq):,} entries, over the limit of {lim.sequence_entries:,} "
            f"({ENV['sequence_entries']})",
            path=path,
        )


# --------------------------------------------------------------------------- FFmpeg processes


LOADER_OUT_OF_MEMORY = ("failed to map segment", "cannot map zero-fill pages", "cannot allocate memory")
"""What glibc's dynamic loader says when a shared library of FFmpeg does not fit under RLIMIT_AS (``error while
loading shared libraries: <lib>: ...``; both mapping messages seen with Debian 12's FFmpeg 5.1, whose many
libraries are mapped before ``main``)."""


@dataclass(frozen=True)
class ChildLimits:
    """What was applied to one FFmpeg process (0: not applied), to explain how it died."""

    memory_bytes: int = 0
    output_bytes: int = 0
    inherited: frozenset[str] = frozenset()  # limits that were already lower in the parent (not vidasm's setting)

    def explain(self, returncode: int, error: VidasmError, path: str | Path | None) -> VidasmError:
        """The runner's error, said in terms of the limit that caused it when one did."""
        what = f"{path}: " if path else ""
        if self.output_bytes and returncode == -signal.SIGXFSZ:  # the kernel's answer to a write past RLIMIT_FSIZE
            source = "RLIMIT_FSIZE, set outside vidasm" if "output_bytes" in self.inherited else ENV["output_bytes"]
            return MediaLimitError(
                f"{what}FFmpeg's output reached the file size limit of {human_bytes(self.output_bytes)} and FFmpeg "
                f"was stopped ({source})",
                path=path,
                stderr=error.stderr_tail,
            )
        crashed = returncode in (-signal.SIGSEGV, -signal.SIGABRT, -signal.SIGBUS)  # an unchecked failed allocation
        unmapped = any(words in error.stderr_tail for words in LOADER_OUT_OF_MEMORY)  # before FFmpeg's main()
        if self.memory_bytes and (isinstance(error, FFmpegOutOfMemoryError) or crashed or unmapped):
            how = f"died (signal {-returncode})" if returncode < 0 else f"failed (exit {returncode})"
            source = (
                "RLIMIT_AS, set outside vidasm"
                if "memory_bytes" in self.inherited
                else f"{ENV['ffmpeg_memory_bytes']} raises the ceiling if this input is real"
            )
            return FFmpegOutOfMemoryError(
                f"{what}FFmpeg {how} under its memory ceiling of {human_bytes(self.memory_bytes)}: most likely out of "
                f"memory ({source})",
                path=path,
                stderr=error.stderr_tail,
            )
        return error


def limit_child(pid: int, limits: Limits | None = None) -> ChildLimits:
    """Cap a just-started FFmpeg's address space (RLIMIT_AS) and file size (RLIMIT_FSIZE) with ``prlimit``.

    Set on the child from the parent right after it started (``preexec_fn`` is not safe in a threaded parent such
    as a Dagster run worker). A limit is only ever lowered, never raised above what the process inherited: a test
    or an administrator's tighter cap stays in force. Failures (a platform without prlimit) are logged, not
    raised: the build then runs without the ceiling, as before.
    """
    try:
        lim = limits or Limits.from_env()
    except SettingsError:  # the caller has not taken charge of the child yet: stop it rather than orphan it
        with contextlib.suppress(OSError):
            os.killpg(pid, signal.SIGKILL)
        raise
    applied: dict[str, int] = {}
    inherited: set[str] = set()
    for name, which in (("memory_bytes", resource.RLIMIT_AS), ("output_bytes", resource.RLIMIT_FSIZE)):
        want = getattr(lim, f"ffmpeg_{name}" if name == "memory_bytes" else name)
        try:
            soft, hard = resource.prlimit(pid, which)
            if not want:
                if soft != resource.RLIM_INFINITY:  # off in vidasm, but a ceiling all the same
                    applied[name] = soft
                    inherited.add(name)
                continue
            new_soft, new_hard = _lower(soft, want), _lower(hard, want)
            new_soft = min(new_soft, new_hard)
            resource.prlimit(pid, which, (new_soft, new_hard))
            applied[name] = new_soft
            if new_soft < want:
                inherited.add(name)
        except (OSError, ValueError, AttributeError) as exc:
            log.debug("cannot limit FFmpeg process %s (%s): %s", pid, name, exc)
    return ChildLimits(**applied, inherited=frozenset(inherited))


def default_ffmpeg_memory() -> int:
    """Half the machine's physical memory, at least 4 GB (``VIDASM_MAX_FFMPEG_MEMORY``'s default)."""
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        total = 0
    return max(4 * GIB, total // 2)


def _lower(current: int, want: int) -> int:
    return want if current == resource.RLIM_INFINITY or current < 0 else min(current, want)


def ffmpeg_timeout(configured: float | None = None) -> float | None:
    """Seconds an FFmpeg command may run: the resource's ``timeout_seconds`` when set, else
    ``VIDASM_FFMPEG_TIMEOUT`` (default 3600); 0 means none."""
    value = configured if configured is not None else Limits.from_env().ffmpeg_timeout_seconds
    return value if value and math.isfinite(value) and value > 0 else None


def check_readable(path: Path) -> None:
    """A render must be a regular file this process may read: said by name before anything opens it (opening a
    FIFO would block the build forever)."""
    regular_file(path, MediaNotFoundError, InvalidMediaError, "a render file")
    if not os.access(path, os.R_OK):
        raise MediaPermissionError(f"{path}: cannot be read (permission denied)", path=path)


def regular_file(path: Path, missing: type[VidasmError], not_a_file: type[VidasmError], what: str) -> os.stat_result:
    """``path``'s stat when it is a regular file; otherwise a ``missing`` error (not found, a dangling symlink,
    unreadable: ``MediaPermissionError`` for permission) or a ``not_a_file`` one (a FIFO, a folder...), by name."""
    try:
        st = path.stat()
    except FileNotFoundError as exc:
        target = f" (a symlink to {os.readlink(path)}, which does not exist)" if path.is_symlink() else ""
        raise missing(f"{path}: file not found{target}", path=path) from exc
    except PermissionError as exc:
        raise MediaPermissionError(f"{path}: cannot be read (permission denied)", path=path) from exc
    except OSError as exc:
        raise missing(f"{path}: cannot be read ({exc.strerror or exc})", path=path) from exc
    kind = file_kind(st.st_mode)
    if kind != "file":
        raise not_a_file(f"{path}: is a {kind}, not {what}", path=path)
    return st
