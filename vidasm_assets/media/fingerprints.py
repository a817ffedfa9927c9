"""Content fingerprints of renders, cached in ``05_Cache/fingerprints.json`` by (path, size, mtime): a file is read
in full only when it changed. The fingerprint of the selected take is the render's data version."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

from .errors import InvalidMediaError, MediaNotFoundError, MediaPermissionError
from .limits import regular_file
from .outputs import write_text_atomic
from .project import Project, Take


def file_digest(path: Path, chunk: int = 1 << 20) -> str:
    h = hashlib.blake2b(digest_size=16)
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


class FingerprintCache:
    """Content fingerprints keyed by (path, size, mtime): a full read only when a file changed.

    ``updated`` holds the paths whose entry was (re)computed since the cache was loaded: what a save writes."""

    def __init__(self, entries: dict[str, list[Any]] | None = None) -> None:
        self.entries: dict[str, list[Any]] = dict(entries or {})
        self.updated: set[str] = set()

    def fingerprint(self, path: Path) -> str:
        st = path.stat()
        key = str(path)
        hit = self.entries.get(key)
        if hit and hit[0] == st.st_size and hit[1] == st.st_mtime_ns:
            return str(hit[2])
        digest = file_digest(path)
        self.entries[key] = [st.st_size, st.st_mtime_ns, digest]
        self.updated.add(key)
        return digest


def fingerprint_cache_path(project: Project) -> Path:
    return project.cache_dir / "fingerprints.json"


def _read_fingerprints(path: Path) -> dict[str, list[Any]]:
    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):  # missing or damaged: it is only a cache
        return {}
    return data if isinstance(data, dict) else {}


def load_fingerprints(project: Project) -> FingerprintCache:
    return FingerprintCache(_read_fingerprints(fingerprint_cache_path(project)))


def save_fingerprints(project: Project, cache: FingerprintCache) -> bool:
    """Write the entries this cache (re)computed, merged into what the file holds now; returns whether it wrote.

    Nothing is written when no entry changed, so a build or sensor tick with nothing to do leaves the project
    folder untouched, and one project's work never rewrites another's cache (issue 9, item 18). Merging into the
    file's current content (not overwriting it with what was loaded earlier) keeps what a concurrent writer (the
    sensor, a run worker, the CLI) added meanwhile."""
    if not cache.updated:
        return False
    path = fingerprint_cache_path(project)
    on_disk = _read_fingerprints(path)
    merged = {**on_disk, **{k: cache.entries[k] for k in cache.updated if k in cache.entries}}
    cache.updated.clear()
    if merged == on_disk:
        return False
    try:
        write_text_atomic(path, json.dumps(merged))
    except OSError:  # a lost cache only costs a re-read next time
        return False
    return True


def render_fingerprint(take: Take, cache: FingerprintCache | None = None) -> str:
    """Content fingerprint of the selected take: the render's data version."""
    if not take.path.is_file():
        raise MediaNotFoundError(f"{take.path}: selected take vanished", path=take.path)
    try:
        return (cache or FingerprintCache()).fingerprint(take.path)
    except PermissionError as exc:
        raise MediaPermissionError(f"{take.path}: cannot be read (permission denied)", path=take.path) from exc
    except OSError as exc:
        raise MediaNotFoundError(f"{take.path}: cannot be read ({exc.strerror or exc})", path=take.path) from exc


def music_fingerprint(path: Path, cache: FingerprintCache | None = None) -> str:
    """Content fingerprint of a music track (part of the music's data version, ``music.music_values``): checked to
    be a regular, readable file first (a FIFO never blocks), a missing or unreadable one a typed error naming it."""
    regular_file(path, MediaNotFoundError, InvalidMediaError, "a music track")
    if not os.access(path, os.R_OK):
        raise MediaPermissionError(f"{path}: music track cannot be read (permission denied)", path=path)
    try:
        return (cache or FingerprintCache()).fingerprint(path)
    except PermissionError as exc:
        raise MediaPermissionError(f"{path}: music track cannot be read (permission denied)", path=path) from exc
    except OSError as exc:
        raise MediaNotFoundError(f"{path}: music track cannot be read ({exc.strerror or exc})", path=path) from exc
