"""One command runner for FFmpeg: logs the command, streams progress, enforces a timeout, raises typed
errors, and never leaves a half-written output under a real name."""

from __future__ import annotations

import contextlib
import logging
import os
import shlex
import signal
import subprocess
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

from .errors import Blame, FFmpegTimeoutError, ToolNotFoundError, VidasmError, classify_failure
from .ffmpeg_tool import known_version, select_ffmpeg
from .limits import limit_child
from .parsers import ProgressSteps, parse_progress, progress_seconds

log = logging.getLogger("vidasm")

MAX_STDERR = 4 << 20


def find_ffmpeg(configured: str | None = None) -> str:
    """The FFmpeg binary to run: resource config, FFMPEG_PATH, PATH, then imageio-ffmpeg's, whichever first can do
    the job (``ffmpeg_tool.select_ffmpeg``; probed once per process)."""
    return select_ffmpeg(configured).exe


def ffmpeg_version(ffmpeg: str) -> str:
    """``ffmpeg -version``'s first line."""
    out = subprocess.run([ffmpeg, "-hide_banner", "-version"], capture_output=True, text=True, check=False)
    first = (out.stdout or "").splitlines()[:1]
    return first[0] if first else "unknown"


def _kill_group(proc: subprocess.Popen[str]) -> None:
    if proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    with contextlib.suppress(Exception):
        proc.wait(timeout=10)


def run_ffmpeg(
    argv: list[str],
    *,
    path: str | Path | None = None,
    timeout: float | None = None,
    total_seconds: float | None = None,
    on_progress: Callable[[int], None] | None = None,
    logger: logging.Logger | None = None,
) -> str:
    """Run FFmpeg and return its stderr; raise a classified VidasmError naming ``path`` on failure.

    The child gets its own process group so a timeout or a cancelled run (any exception raised in this
    thread, including Dagster's interrupt) kills it and whatever it spawned.
    """
    lg = logger or log
    lg.info("$ %s", shlex.join(argv))
    started = time.monotonic()
    try:
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            errors="replace",
            start_new_session=True,
        )
    except FileNotFoundError as exc:
        raise ToolNotFoundError(f"cannot run {argv[0]}: not found", path=argv[0]) from exc
    ceilings = limit_child(proc.pid)  # memory and output-size ceilings (limits.py)

    chunks: list[str] = []
    size = 0

    def drain_stderr() -> None:
        nonlocal size
        assert proc.stderr is not None
        for line in proc.stderr:
            if size < MAX_STDERR:
                chunks.append(line)
                size += len(line)

    reader = threading.Thread(target=drain_stderr, daemon=True)
    reader.start()
    timed_out = threading.Event()

    def on_timeout() -> None:
        timed_out.set()
        _kill_group(proc)

    timer = threading.Timer(timeout, on_timeout) if timeout else None
    if timer:
        timer.daemon = True
        timer.start()
    steps = ProgressSteps(total_seconds)
    block: list[str] = []
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            block.append(line)
            if line.startswith("progress="):
                info = parse_progress(block)
                block = []
                pct = steps.update(progress_seconds(info), done=info.get("progress") == "end")
                if pct is not None and on_progress is not None:
                    on_progress(pct)
        proc.wait()
    except BaseException:
        _kill_group(proc)
        raise
    finally:
        if timer:
            timer.cancel()
        reader.join(timeout=10)
    stderr = "".join(chunks)
    elapsed = time.monotonic() - started
    if timed_out.is_set():
        raise FFmpegTimeoutError(
            f"{path or argv[0]}: FFmpeg timed out after {timeout:g} s and was killed",
            path=path,
            stderr=stderr,
        )
    if proc.returncode != 0:
        raise ceilings.explain(proc.returncode, failure_error(argv, proc.returncode, stderr, path), path)
    lg.debug("ffmpeg finished in %.2f s", elapsed)
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


def temp_name(dest: Path) -> Path:
    """A hidden sibling with the same extension (so FFmpeg picks the muxer) that no scan mistakes for output."""
    return dest.with_name(f".{dest.stem}.partial-{uuid.uuid4().hex[:8]}{dest.suffix}")


@contextlib.contextmanager
def atomic_output(dest: Path) -> Iterator[Path]:
    """Yield a temp path beside ``dest``; rename it into place only if the block succeeds and wrote data."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_name(dest)
    try:
        yield tmp
        if not tmp.exists() or tmp.stat().st_size == 0:
            raise VidasmError(f"{dest}: the command wrote nothing", path=dest)
        os.replace(tmp, dest)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


def write_text_atomic(dest: Path, text: str) -> None:
    with atomic_output(dest) as tmp:
        tmp.write_text(text, encoding="utf-8")
