"""What changed in 03_Renders since the last look: the pure half of the file sensor.

The cursor keeps one small record per shot (selected take, size, mtime, content fingerprint), so a tick only
stats files and hashes the ones whose size or mtime moved. A file counts only once it has been still for
the settle time, so renders that are still being written are never picked up.

Between two looks, ``wait_for_change`` watches the folders with stats alone (``watch_signature``), so a sensor
tick that found nothing can keep watching for the rest of the daemon's loop and answer within a poll of a render
landing (``sensors/renders.py``).
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import VidasmError
from .fingerprints import FingerprintCache, load_fingerprints, save_fingerprints
from .probe import unfinished_mp4
from .project import MUSIC_DIR, PRESETS_FILE, PROJECT_FILE, RENDERS_DIR, Project, discover_projects


@dataclass
class ShotState:
    take: str
    size: int
    mtime_ns: int
    fp: str

    def to_list(self) -> list[Any]:
        return [self.take, self.size, self.mtime_ns, self.fp]


@dataclass
class WatchCursor:
    """Per project: shot -> state, facet -> spec version; plus files seen but not yet settled, when a
    code-location reload was last asked for each project folder the code location does not know yet, and the
    render observations left to the runs that build them (``sensors/renders.hand_to_runs``)."""

    shots: dict[str, dict[str, ShotState]] = field(default_factory=dict)
    specs: dict[str, dict[str, str]] = field(default_factory=dict)
    pending: dict[str, list[int | float]] = field(default_factory=dict)
    reloads: dict[str, float] = field(default_factory=dict)
    owed: dict[str, list] = field(default_factory=dict)  # "project/shot" -> [render version its run observes, time]
    held: dict[str, float] = field(default_factory=dict)  # project -> since when its changes wait (``_hold``)

    def to_json(self) -> str:
        return json.dumps(
            {
                "v": 1,
                "shots": {p: {s: st.to_list() for s, st in shots.items()} for p, shots in self.shots.items()},
                "specs": self.specs,
                "pending": self.pending,
                **({"reloads": self.reloads} if self.reloads else {}),
                **({"owed": self.owed} if self.owed else {}),
                **({"held": self.held} if self.held else {}),
            },
            separators=(",", ":"),
        )

    @classmethod
    def from_json(cls, text: str | None) -> WatchCursor:
        if not text:
            return cls()
        try:
            d = json.loads(text)
        except json.JSONDecodeError:
            return cls()
        return cls(
            shots={p: {s: ShotState(*st) for s, st in shots.items()} for p, shots in d.get("shots", {}).items()},
            specs=d.get("specs", {}),
            pending=d.get("pending", {}),
            reloads=d.get("reloads", {}),
            owed=d.get("owed", {}),
            held=d.get("held", {}),
        )


@dataclass
class ProjectChanges:
    project: str
    added: list[str] = field(default_factory=list)  # new shot partitions
    removed: list[str] = field(default_factory=list)  # shots gone from the project
    changed: dict[str, str] = field(default_factory=dict)  # shot -> new render data version
    specs: dict[str, str] = field(default_factory=dict)  # facet -> new spec version
    versions: dict[str, str] = field(default_factory=dict)  # facet -> current spec version
    fingerprints: dict[str, str] = field(default_factory=dict)  # shot -> current render data version
    takes: dict[str, str] = field(default_factory=dict)  # shot -> the selected take's label (v003)
    shots: list[str] = field(default_factory=list)  # every shot of the project now (its sequence)
    first_look: bool = False  # not in the cursor yet: compare everything with the instance once
    waiting: list[str] = field(default_factory=list)  # renders not settled yet
    held: bool = False  # the project's changes wait for them (``_hold``): nothing is asked for this tick
    errors: list[str] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not (self.added or self.removed or self.changed or self.specs or self.first_look)


@dataclass
class ScanResult:
    cursor: WatchCursor
    changes: list[ProjectChanges]
    unknown_projects: list[str]
    broken_projects: dict[str, str]
    deferred: int = 0  # shots left for the next tick because the hashing budget ran out
    projects: dict[str, Project] = field(default_factory=dict)  # as this scan loaded them (project.json, presets)


def scan_workspace(
    root: Path,
    cursor: WatchCursor,
    *,
    known_projects: set[str],
    spec_versions: dict[str, Any],
    now: float | None = None,
    settle_seconds: float = 10.0,
    hash_budget_seconds: float = 30.0,
) -> ScanResult:
    """Compare the workspace with the cursor; ``spec_versions`` maps facet name -> fn(Project) -> version."""
    now = time.time() if now is None else now
    started = time.monotonic()
    ws = discover_projects(root)
    unknown = sorted(set(ws.projects) - known_projects)
    reloads = {p: t for p, t in cursor.reloads.items() if p in unknown}  # forgotten once the location knows it
    new = WatchCursor(shots={}, specs=dict(cursor.specs), pending={}, reloads=reloads, owed=dict(cursor.owed),
                      held={})  # fmt: skip
    result = ScanResult(new, [], unknown, {k: str(v) for k, v in ws.errors.items()}, projects=dict(ws.projects))
    for name in ws.errors:  # keep what we knew; a broken project.json changes nothing until fixed
        if name in cursor.shots:
            new.shots[name] = cursor.shots[name]
    for name, project in ws.projects.items():
        if name not in known_projects:
            continue
        try:  # each project inside its own boundary: an unreadable folder never stops the tick
            look = _Look(cursor, new, now, settle_seconds, lambda: time.monotonic() - started > hash_budget_seconds)
            result.changes.append(_scan_project(project, look, spec_versions))
            result.deferred += look.deferred
        except (VidasmError, OSError) as exc:
            result.broken_projects[name] = str(exc).splitlines()[0]
            if name in cursor.shots:
                new.shots[name] = cursor.shots[name]
    return result


@dataclass
class _Look:
    """One tick's look at the files: the old cursor, the new one being made, the clock and the hashing budget."""

    cursor: WatchCursor
    new: WatchCursor
    now: float
    settle_seconds: float
    over_budget: Callable[[], bool]
    deferred: int = 0


def _scan_project(project: Project, look: _Look, spec_versions: dict[str, Any]) -> ProjectChanges:
    name = project.name
    ch = ProjectChanges(name, first_look=name not in look.cursor.shots)
    old = look.cursor.shots.get(name, {})
    kept: dict[str, ShotState] = {}
    cache = load_fingerprints(project)
    ch.shots = project.shots()
    for shot in ch.shots:
        prev = old.get(shot)
        state = _look_at_shot(project, shot, prev, cache, look, ch)
        if state is not None:
            kept[shot] = state
            if prev is None:
                ch.added.append(shot)
            if prev is None or prev.fp != state.fp:
                ch.changed[shot] = state.fp
        elif prev is not None:  # unreadable, unsettled or not hashed yet: what we knew stands
            kept[shot] = prev
    ch.removed = sorted(set(old) - set(ch.shots))
    look.new.shots[name] = kept
    before = look.cursor.specs.get(name, {})
    versions = {}
    for facet, fn in spec_versions.items():
        young = _young_tracks(project, look) if facet == MUSIC_FACET else []
        if young:  # a track still being copied in: the music is what it was until it has settled
            versions[facet] = before.get(facet, "")
            ch.waiting += young
        else:
            versions[facet] = fn(project)
    ch.specs = {f: v for f, v in versions.items() if before.get(f) != v}
    ch.versions = versions
    ch.fingerprints = {s: st.fp for s, st in kept.items()}
    ch.takes = {s: st.take.rsplit("_", 1)[-1] for s, st in kept.items()}
    look.new.specs[name] = versions
    save_fingerprints(project, cache)  # writes only entries that changed
    return _hold(ch, look, old, before)


HOLD_SECONDS = 120
"""How long a project's changes wait at most for its renders (or music tracks) still being written (``_hold``):
past that, a trickle of renders landing one after another never keeps the rest of the project from building."""


def _hold(ch: ProjectChanges, look: _Look, old: dict[str, ShotState], before: dict[str, str]) -> ProjectChanges:
    """While a render of the project is still being written, its other changes wait too: the run a change asks
    for goes on to the project's timeline and cut, which read every shot's newest take, so they would fail on
    the half-written one (red runs, a conform wasted, automation failing again behind them). The project's part
    of the cursor stays as it was, so the changes are seen again once the render has settled, and all of them go
    out together; at most ``HOLD_SECONDS`` from the first tick that held them."""
    name = ch.project
    since = look.cursor.held.get(name, look.now)
    if not ch.waiting or ch.empty or look.now - since >= HOLD_SECONDS:
        return ch
    look.new.held[name] = since
    if name in look.cursor.shots:
        look.new.shots[name] = old
    else:
        look.new.shots.pop(name, None)  # still a first look next time
    if name in look.cursor.specs:
        look.new.specs[name] = before
    else:
        look.new.specs.pop(name, None)
    return ProjectChanges(name, shots=ch.shots, waiting=ch.waiting, held=True, errors=ch.errors)


INDEX_WAIT_SECONDS = 120
"""How long an MP4/MOV still without its moov atom is waited for (a writer paused longer than the settle time);
older, its writer is taken as dead: it counts, and its shot's run fails naming the truncated file."""

MUSIC_FACET = MUSIC_DIR
"""The facet whose files (the music tracks) must have settled like renders before their new version counts."""


def _young_tracks(project: Project, look: _Look) -> list[str]:
    """The music tracks not yet still for the settle time (by mtime), each noted as pending so a watching tick
    looks again when it has settled. A copy into ``music/`` under the track's own name is seen part-written."""
    young = []
    for path in project.music_tracks():
        try:
            st = path.stat()
        except OSError:  # missing or unreadable: the fingerprint names it
            continue
        if look.now - st.st_mtime_ns / 1e9 < look.settle_seconds:
            look.new.pending[str(path)] = _pending(look.cursor.pending.get(str(path)), st, look.now)
            young.append(path.name)
    return young


def _look_at_shot(
    project: Project, shot: str, prev: ShotState | None, cache: FingerprintCache, look: _Look, ch: ProjectChanges
) -> ShotState | None:
    """The shot's selected take as it is now, or None when this tick cannot say (and why is noted on ``ch``)."""
    try:
        take = project.select_take(shot)
        st = take.path.stat()
    except (VidasmError, OSError) as exc:
        ch.errors.append(f"{shot}: {str(exc).splitlines()[0]}")
        return None
    if prev and (prev.take, prev.size, prev.mtime_ns) == (take.name, st.st_size, st.st_mtime_ns):
        return prev
    key = str(take.path)
    if not _settled(look.cursor.pending.get(key), st, look.now, look.settle_seconds):
        look.new.pending[key] = _pending(look.cursor.pending.get(key), st, look.now)
        ch.waiting.append(take.path.name)
        return None
    if unfinished_mp4(take.path) and look.now - st.st_mtime_ns / 1e9 < max(look.settle_seconds, INDEX_WAIT_SECONDS):
        ch.waiting.append(f"{take.path.name} (no moov atom yet)")  # still by the clock, its index not written yet
        return None
    if look.over_budget():
        look.deferred += 1
        return None
    try:
        fp = cache.fingerprint(take.path)  # reuses the build's hash when size and mtime match
    except OSError as exc:  # vanished between stat and read
        ch.errors.append(f"{shot}: {exc}")
        return None
    return ShotState(take.name, st.st_size, st.st_mtime_ns, fp)


def _settled(pending: list[int | float] | None, st: os.stat_result, now: float, settle: float) -> bool:
    """Still for ``settle`` seconds: by its mtime, or by two looks that saw the same size and mtime."""
    if now - st.st_mtime_ns / 1e9 >= settle:
        return True
    return bool(pending) and pending[0] == st.st_size and pending[1] == st.st_mtime_ns and now - pending[2] >= settle


def _pending(prev: list[int | float] | None, st: os.stat_result, now: float) -> list[int | float]:
    if prev and prev[0] == st.st_size and prev[1] == st.st_mtime_ns:
        return prev
    return [st.st_size, st.st_mtime_ns, now]


POLL_SECONDS = 0.2
"""How often ``wait_for_change`` stats the folders: a render is seen this long after it lands, at most."""


def _stamp(path: str) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_mtime_ns, st.st_size


def watch_signature(root: Path, cursor: WatchCursor) -> tuple[tuple[int, int] | None, ...]:
    """What a new project, a new shot, a new render of a shot, a project.json or presets.json edit or a music
    change moves, read with stats alone: the mtimes of the workspace folder and its presets.json, of each known
    project's project.json, 03_Renders,
    music/ and shot folders (a render renamed or written into a folder changes the folder's mtime, POSIX
    ``rename(2)``/``open(2)`` with ``O_CREAT``). One stat per shot (measured: 5,000 shots in about 25 ms).

    A take overwritten in place (same name) changes none of these; the sensor's next full look sees it."""
    base = os.fspath(root)
    sig = [_stamp(base), _stamp(os.path.join(base, PRESETS_FILE))]  # the workspace's shared presets
    for project in sorted(cursor.shots):
        folder = os.path.join(base, project)
        renders = os.path.join(folder, RENDERS_DIR)
        sig += [_stamp(os.path.join(folder, PROJECT_FILE)), _stamp(renders), _stamp(os.path.join(folder, MUSIC_DIR))]
        sig += [_stamp(os.path.join(renders, shot)) for shot in cursor.shots[project]]
    return tuple(sig)


def _settles_at(cursor: WatchCursor, settle_seconds: float) -> float | None:
    """The wall-clock time at which the first render still being waited for will have been still long enough."""
    due = [min(p[1] / 1e9, p[2]) + settle_seconds for p in cursor.pending.values() if len(p) == 3]
    return min(due) if due else None


def wait_for_change(
    root: Path,
    cursor: WatchCursor,
    *,
    seconds: float,
    settle_seconds: float,
    poll_seconds: float = POLL_SECONDS,
    sleep: Callable[[float], Any] = time.sleep,
) -> bool:
    """Watch the workspace for up to ``seconds`` (wall time): True as soon as ``watch_signature`` moves or a
    render the cursor is waiting for is due to settle (a full look is then worth making), False when the time
    ran out with nothing to look at. Polls every ``poll_seconds``, or every ten times as long as one look at the
    folders takes when that is longer (a tenth of a core at most)."""
    end = time.monotonic() + seconds
    took = time.monotonic()
    before = watch_signature(root, cursor)
    # a big workspace polls less often: the stats take at most a tenth of one core
    poll_seconds = max(poll_seconds, 10 * (time.monotonic() - took))
    settles = _settles_at(cursor, settle_seconds)
    while (left := end - time.monotonic()) > 0:
        sleep(min(poll_seconds, left))
        if settles is not None and time.time() >= settles:
            return True
        if watch_signature(root, cursor) != before:
            return True
    return False
