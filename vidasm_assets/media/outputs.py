"""Writing outputs so that a crash at any instant never counts as built.

Every output is written to a hidden temp name beside it and renamed into place only when complete (a rename is
atomic on one file system). Each output also has a *stamp*: the data version it was built from, with the
output's size and mtime, in ``05_Cache/stamps/``. A build clears the stamp before it renames anything and writes
it after, so:

- killed before the rename: the previous output and its stamp stay (still fresh if still wanted);
- killed between the rename and the stamp, or before Dagster recorded the run: no stamp, so the output is
  stale, never trusted ("fresh" means the file on disk is the one recorded);
- an output changed or replaced by hand: its size or mtime no longer match the stamp, so it is stale.

Temp names carry the writer's host and pid (``.<stem>.partial-<host>-<pid>-<rand><ext>``), so the next build can
tell the partial files of dead writers from those of live ones and remove them.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from .errors import VidasmError

_HOST = re.sub(r"[^A-Za-z0-9]", "", socket.gethostname())[:24] or "host"
PARTIAL_RE = re.compile(r"^\.(?P<stem>.+)\.partial-(?P<host>[A-Za-z0-9]+)-(?P<pid>\d+)-[0-9a-f]{8}(?P<rest>.*)$")
"""A partial file: the hidden temp name of an output being written (and files derived from it, e.g. lists)."""
FOREIGN_PARTIAL_AGE_S = 24 * 3600
"""Partial files written on another host are removed only once this old (that host's pids cannot be checked)."""


def temp_name(dest: Path) -> Path:
    """A hidden sibling with the same extension (so FFmpeg picks the muxer) that no scan mistakes for output."""
    return dest.with_name(f".{dest.stem}.partial-{_HOST}-{os.getpid()}-{uuid.uuid4().hex[:8]}{dest.suffix}")


@contextlib.contextmanager
def atomic_output(dest: Path) -> Iterator[Path]:
    """Yield a temp path beside ``dest``; rename it into place only if the block succeeds and wrote data.

    Raises ``VidasmError`` naming ``dest`` when the block wrote nothing; whatever the block raises otherwise
    propagates, and the temp file is removed either way. The partial files and folders of dead writers in
    ``dest``'s folder are removed first (``remove_stale_partials``): a step killed under the daemon or on a render
    node, where nobody runs ``vidasm build``, leaves none behind past the next write there.
    """
    dest.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_partials([dest.parent])
    tmp = temp_name(dest)
    try:
        yield tmp
        if not tmp.exists() or tmp.stat().st_size == 0:
            raise VidasmError(f"{dest}: the command wrote nothing", path=dest)
        stamp = _stamp_of(dest)
        if stamp is not None:  # the old stamp goes just before the new file replaces the old one (``stamped``)
            stamp.unlink(missing_ok=True)
        os.replace(tmp, dest)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


def write_text_atomic(dest: Path, text: str) -> None:
    with atomic_output(dest) as tmp:
        tmp.write_text(text, encoding="utf-8")


# ---------------------------------------------------------------- stamps


@dataclass(frozen=True)
class Stamp:
    """Where an output's stamp lives (``path``) and the data version it is being built at."""

    path: Path
    output: Path
    version: str


def stamp_file(cache_dir: Path, project_root: Path, output: Path) -> Path:
    """``05_Cache/stamps/<output's path under the project>.json`` (the ``05_Cache/`` prefix left out)."""
    rel = Path(os.path.relpath(output, project_root))
    if rel.parts and rel.parts[0] == cache_dir.name:
        rel = Path(*rel.parts[1:])
    return cache_dir / "stamps" / rel.with_name(rel.name + ".json")


def read_stamp(stamp_path: Path) -> dict[str, object] | None:
    try:
        data = json.loads(stamp_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def stamped_version(stamp_path: Path, output: Path) -> str | None:
    """The version the output on disk was built from, or None when unknown (no stamp, or the file was changed,
    replaced or removed since: its size or mtime differ from the stamp's)."""
    data = read_stamp(stamp_path)
    try:
        st = output.stat()
    except OSError:
        return None
    if not data or data.get("size") != st.st_size or data.get("mtime_ns") != st.st_mtime_ns:
        return None
    version = data.get("version")
    return str(version) if version else None


_STAMPS_OF: dict[str, Path] = {}  # output (absolute) -> its stamp, while a ``stamped`` block may rewrite it
_STAMPS_LOCK = threading.Lock()


def _stamp_of(output: Path) -> Path | None:
    with _STAMPS_LOCK:
        return _STAMPS_OF.get(os.path.abspath(output))


@contextlib.contextmanager
def stamped(stamps: list[Stamp]) -> Iterator[None]:
    """Around a step that (re)writes outputs: each output's old stamp is removed just before its new file is
    renamed into place (``atomic_output``), and the outputs are stamped with the version after the block.

    A step that fails or is killed before an output's rename leaves that output and its stamp as they were, so an
    output still at the wanted version stays built (a killed ``--all`` threw away every output it had started
    on); killed after the rename, the output has no stamp and is never taken for built, even where the file
    system's timestamps are too coarse to tell the new file from the old one by size and mtime.
    """
    keys = {os.path.abspath(s.output): s.path for s in stamps}
    with _STAMPS_LOCK:
        _STAMPS_OF.update(keys)
    try:
        yield
    finally:
        with _STAMPS_LOCK:
            for k in keys:
                _STAMPS_OF.pop(k, None)
    for s in stamps:
        st = s.output.stat()
        data = {"version": s.version, "size": st.st_size, "mtime_ns": st.st_mtime_ns, "at": round(time.time(), 3)}
        s.path.parent.mkdir(parents=True, exist_ok=True)
        write_text_atomic(s.path, json.dumps(data))


# ---------------------------------------------------------------- partial files of dead writers


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie has finished writing
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] != "Z"
    except OSError:
        return True


def stale_partials(folder: Path, now: float | None = None) -> list[Path]:
    """Partial files in ``folder`` whose writer is gone: a dead process on this host, or on another host and
    older than ``FOREIGN_PARTIAL_AGE_S``. Partial files of the old naming (no host and pid) count as dead. Partial
    folders count too (``assembly.scratch_folder``'s pieces of a killed build: they can hold video); a symlink is
    never followed nor removed (no writer makes one)."""
    now = time.time() if now is None else now
    out: list[Path] = []
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return out
    for entry in entries:
        if not entry.name.startswith(".") or ".partial-" not in entry.name:
            continue
        if not (entry.is_file(follow_symlinks=False) or entry.is_dir(follow_symlinks=False)):
            continue
        m = PARTIAL_RE.match(entry.name)
        if m is None:
            out.append(Path(entry.path))
        elif m["host"] == _HOST:
            if not _alive(int(m["pid"])):
                out.append(Path(entry.path))
        else:
            with contextlib.suppress(OSError):
                if now - entry.stat().st_mtime > FOREIGN_PARTIAL_AGE_S:
                    out.append(Path(entry.path))
    return out


def remove_stale_partials(folders: list[Path]) -> list[Path]:
    """Remove the partial files of dead writers in ``folders``; returns what was removed."""
    removed = []
    for folder in folders:
        for p in stale_partials(folder):
            with contextlib.suppress(FileNotFoundError):
                if p.is_dir() and not p.is_symlink():
                    shutil.rmtree(p)
                else:
                    p.unlink()
                removed.append(p)
    return removed
