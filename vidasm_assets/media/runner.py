"""One command runner for FFmpeg: logs the command, streams progress, enforces a timeout, raises typed
errors, and never leaves a half-written output under a real name."""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import shlex
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, Protocol

from .errors import Blame, FFmpegTimeoutError, ToolNotFoundError, VidasmError, classify_failure
from .ffmpeg_tool import FFmpeg, known_version, select_ffmpeg
from .limits import limit_child
from .parsers import parse_progress, progress_seconds

log = logging.getLogger("vidasm")

MAX_STDERR = 4 << 20


class Run(Protocol):
    """Runs FFmpeg with ``args`` (everything after the executable: the bound FFmpeg supplies it) and returns its
    stderr; ``path`` is the file a failure names, ``total_seconds`` the output length progress is measured by."""

    def __call__(self, args: list[str], *, path: Path | str | None = ..., total_seconds: float | None = ...) -> str: ...


def bind(tool: FFmpeg | str | None = None, *, timeout: float | None = None) -> Run:
    """A plain ``Run`` for the given FFmpeg (default: ``select_ffmpeg()``), logging to the ``vidasm`` logger."""
    exe = tool if isinstance(tool, str) else (tool or select_ffmpeg()).exe

    def run(args: list[str], *, path: Path | str | None = None, total_seconds: float | None = None) -> str:
        return run_ffmpeg([exe, *args], path=path, timeout=timeout, total_seconds=total_seconds)

    return run


def find_ffmpeg(configured: str | None = None) -> str:
    """The FFmpeg binary to run: resource config, FFMPEG_PATH, PATH, then imageio-ffmpeg's, whichever first can do
    the job (``ffmpeg_tool.select_ffmpeg``; probed once per process)."""
    return select_ffmpeg(configured).exe


def ffmpeg_version(ffmpeg: str) -> str:
    """``ffmpeg -version``'s first line."""
    out = subprocess.run([ffmpeg, "-hide_banner", "-version"], capture_output=True, text=True, check=False)
    first = (out.stdout or "").splitlines()[:1]
    return first[0] if first else "unknown"


_PR_SET_PDEATHSIG = 1  # linux/prctl.h
_PRCTL = ctypes.CDLL(None, use_errno=True).prctl if sys.platform.startswith("linux") else None
"""Resolved in the parent: the child between fork and exec must not import or take locks."""


def die_with_parent() -> None:
    """In the FFmpeg child before exec, or in a build's worker process (Linux): SIGKILL it when the process that
    started it dies, even by ``kill -9``; FFmpeg's own children share its process group, which a cancelled run
    kills. Elsewhere (macOS) only the process-group kill on cancel applies."""
    if _PRCTL is None:
        return
    parent = os.getppid()
    _PRCTL(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != parent:  # the parent died before the request took effect
        os._exit(1)


def _kill_group(proc: subprocess.Popen[str]) -> None:
    if proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    with contextlib.suppress(Exception):
        proc.wait(timeout=10)


class _StderrTail:
    """Reads a child's stderr on a thread, keeping at most ``MAX_STDERR`` characters."""

    def __init__(self, stream: IO[str]) -> None:
        self.chunks: list[str] = []
        self.size = 0
        self.thread = threading.Thread(target=self._drain, args=(stream,), daemon=True)
        self.thread.start()

    def _drain(self, stream: IO[str]) -> None:
        for line in stream:
            if self.size < MAX_STDERR:
                self.chunks.append(line)
                self.size += len(line)

    def text(self) -> str:
        self.thread.join(timeout=10)
        return "".join(self.chunks)


def _follow_progress(
    stdout: IO[str], total_seconds: float | None, on_progress: Callable[[float, float | None], None] | None
) -> None:
    """Read ``-progress pipe:1`` blocks until FFmpeg closes stdout, reporting the output time reached."""
    block: list[str] = []
    for line in stdout:
        block.append(line)
        if not line.startswith("progress="):
            continue
        info = parse_progress(block)
        block = []
        done_s = progress_seconds(info) or 0.0
        if info.get("progress") == "end" and total_seconds:
            done_s = total_seconds
        if on_progress is not None:
            on_progress(done_s, total_seconds)


def _spawn(argv: list[str]) -> subprocess.Popen[str]:
    try:
        return subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            errors="replace",
            start_new_session=True,
            preexec_fn=die_with_parent,  # one prctl call: no imports, no locks
        )
    except FileNotFoundError as exc:
        raise ToolNotFoundError(f"cannot run {argv[0]}: not found", path=argv[0]) from exc


def run_ffmpeg(
    argv: list[str],
    *,
    path: str | Path | None = None,
    timeout: float | None = None,
    total_seconds: float | None = None,
    on_progress: Callable[[float, float | None], None] | None = None,
    logger: logging.Logger | None = None,
) -> str:
    """Run FFmpeg and return its stderr; raise a classified VidasmError naming ``path`` on failure.

    ``on_progress(seconds done, total seconds)`` is called for each ``-progress`` block FFmpeg prints.

    The child gets its own process group so a timeout or a cancelled run (any exception raised in this
    thread, including Dagster's interrupt) kills it and whatever it spawned; it dies with this process too
    (parent-death signal), and runs under the memory and output-size ceilings of ``limits``.
    """
    lg = logger or log
    lg.debug("$ %s", shlex.join(argv))
    started = time.monotonic()
    proc = _spawn(argv)
    ceilings = limit_child(proc.pid)  # memory and output-size ceilings (limits.py)
    assert proc.stderr is not None and proc.stdout is not None
    stderr_tail = _StderrTail(proc.stderr)
    timed_out = threading.Event()

    def on_timeout() -> None:
        timed_out.set()
        _kill_group(proc)

    timer = threading.Timer(timeout, on_timeout) if timeout else None
    if timer:
        timer.daemon = True
        timer.start()
    try:
        _follow_progress(proc.stdout, total_seconds, on_progress)
        proc.wait()
    except BaseException:
        _kill_group(proc)
        raise
    finally:
        if timer:
            timer.cancel()
    stderr = stderr_tail.text()
    if timed_out.is_set():
        raise FFmpegTimeoutError(
            f"{path or argv[0]}: FFmpeg timed out after {timeout:g} s and was killed", path=path, stderr=stderr
        )
    if proc.returncode != 0:
        raise ceilings.explain(proc.returncode, failure_error(argv, proc.returncode, stderr, path), path)
    lg.debug("ffmpeg finished in %.2f s", time.monotonic() - started)
    return stderr


def failure_error(argv: list[str], returncode: int, stderr: str, path: str | Path | None) -> VidasmError:
    """A typed error whose first line says who is at fault (input, output, FFmpeg build) and FFmpeg's own words."""
    cause = classify_failure(stderr, returncode)
    what = f"{path}: " if path else ""
    exe = argv[0]
    if cause.blame is Blame.FFMPEG_BUILD:
        version = known_version(exe)
        build = f"{exe}" + (f" (FFmpeg {version})" if version else "")
        hint = f"[{build}; set FFMPEG_PATH to another FFmpeg]"
        text = f"{what}FFmpeg failed (exit {returncode}): {cause.summary()} {hint}"
    else:
        text = f"{what}FFmpeg failed (exit {returncode}): {cause.summary()}"
    return cause.cls(text, path=path, stderr=stderr)
