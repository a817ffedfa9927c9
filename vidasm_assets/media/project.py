"""The workspace contract: projects, project.json, shots and takes.

``<workspace>/<project>/project.json`` marks a project; renders live in
``03_Renders/<shot>/<shot>_v<NNN>.<ext>`` or ``<shot>_take<NN>.<ext>``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from .errors import MediaNotFoundError, ProjectConfigError
from .rates import ALLOWED_FPS, Rate

log = logging.getLogger("vidasm")

NAME_RE = re.compile(r"[A-Za-z0-9_-]+")
"""Project and shot ids; always ``fullmatch``ed (``$`` would also match before a trailing newline)."""
RENDER_EXTENSIONS = (".mp4", ".mov", ".mkv")
RENDERS_DIR = "03_Renders"
ASSEMBLIES_DIR = Path("04_Project_Files") / "assemblies"
CACHE_DIR = "05_Cache"
EXPORTS_DIR = "06_Exports"
PROJECT_FILE = "project.json"
KNOWN_PRESETS = ("web", "review")


def check_name(value: str, what: str) -> str:
    if not NAME_RE.fullmatch(value or ""):
        raise ValueError(f"{what} {value!r} is invalid: use only letters, digits, '_' and '-'")
    return value


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


TrackSelection = Literal["all", "first"] | list[Annotated[int, Field(ge=1, le=64)]]
"""Which audio tracks of a render a shot uses: ``"all"`` (mixed), ``"first"``, or track numbers counted from 1
in the render's order of audio streams (as an NLE shows them: A1, A2...)."""


class AudioSettings(_Strict):
    loudness_lufs: float = Field(-16.0, ge=-70.0, le=-5.0)
    true_peak_db: float = Field(-1.0, ge=-9.0, le=0.0)
    tracks: TrackSelection = "all"

    @field_validator("tracks")
    @classmethod
    def _tracks(cls, v: TrackSelection) -> TrackSelection:
        return _check_tracks(v)


def _check_tracks(v: TrackSelection) -> TrackSelection:
    if isinstance(v, list):
        if not v:
            raise ValueError('lists no track; use "all", "first" or track numbers like [1, 2]')
        if len(set(v)) != len(v):
            raise ValueError(f"lists a track twice: {v}")
    return v


class EditorialSettings(_Strict):
    """How the EDL is written: the NLE dialect and the record start timecode."""

    edl_style: Literal["resolve", "premiere", "avid"] = "resolve"
    record_start: str = "01:00:00:00"

    @field_validator("record_start")
    @classmethod
    def _tc(cls, v: str) -> str:
        if not re.fullmatch(r"\d{2}:[0-5]\d:[0-5]\d[:;]\d{2}", v or ""):
            raise ValueError(f"record_start {v!r} must be a timecode like 01:00:00:00")
        return v


class ColourSettings(_Strict):
    """What to do with HDR (PQ/HLG) renders: refuse them (default) or tone-map them to SDR BT.709."""

    hdr: Literal["fail", "tonemap"] = "fail"


class SequenceEntry(_Strict):
    shot: str
    take: str | None = None
    scene: str | None = None
    beat: str | None = None
    notes: str | None = None
    audio_tracks: TrackSelection | None = None  # this shot's own choice; default: the project's audio.tracks

    @field_validator("shot")
    @classmethod
    def _shot_name(cls, v: str) -> str:
        return check_name(v, "shot id")

    @field_validator("audio_tracks")
    @classmethod
    def _tracks(cls, v: TrackSelection | None) -> TrackSelection | None:
        return None if v is None else _check_tracks(v)


class ProjectSpec(_Strict):
    """project.json, validated; unknown keys are rejected so typos never pass silently."""

    fps: float = 24
    resolution: str = "1920x1080"
    audio: AudioSettings = AudioSettings()
    sequence: list[SequenceEntry] | None = None
    exports: list[str] = ["web"]
    editorial: EditorialSettings = EditorialSettings()
    colour: ColourSettings = ColourSettings()
    # true: a shot whose render is missing or unusable is cut in as a slate of its length (marked in the EDL)
    # instead of failing the cut
    placeholders: bool = False

    @field_validator("fps")
    @classmethod
    def _fps(cls, v: float) -> float:
        if not any(abs(v - a) < 1e-6 for a in ALLOWED_FPS):
            allowed = ", ".join(str(a) for a in ALLOWED_FPS)
            raise ValueError(f"fps {v} is not a timeline rate; use one of {allowed}")
        return v

    @field_validator("resolution")
    @classmethod
    def _resolution(cls, v: str) -> str:
        m = re.fullmatch(r"(\d+)x(\d+)", v or "")
        if not m:
            raise ValueError(f"resolution {v!r} must look like '1920x1080'")
        w, h = int(m[1]), int(m[2])
        if w < 16 or h < 16 or w > 8192 or h > 8192 or w % 2 or h % 2:
            raise ValueError(f"resolution {v!r} must be even sizes between 16 and 8192")
        return v

    @field_validator("editorial")
    @classmethod
    def _record_start_at_rate(cls, v: EditorialSettings, info: ValidationInfo) -> EditorialSettings:
        """The record start must be a timecode that exists at the project's rate (drop-frame labels included): the
        rule the EDL writer applies (``editorial.timecode_to_frames``), checked when project.json loads."""
        fps = info.data.get("fps")
        if fps is None:  # fps itself is invalid: said on its own
            return v
        from .editorial import timecode_to_frames

        timecode_to_frames(v.record_start, Rate.from_fps(fps), what="record_start")
        return v

    @field_validator("exports")
    @classmethod
    def _exports(cls, v: list[str]) -> list[str]:
        for name in v:
            if name not in KNOWN_PRESETS:
                raise ValueError(f"unknown delivery preset {name!r}; known: {', '.join(KNOWN_PRESETS)}")
        if len(set(v)) != len(v):
            raise ValueError("exports lists a preset twice")
        return v

    @model_validator(mode="after")
    def _unique_shots(self) -> ProjectSpec:
        if self.sequence is not None:
            seen: set[str] = set()
            for entry in self.sequence:
                if entry.shot in seen:
                    raise ValueError(f"shot {entry.shot!r} appears twice in sequence")
                seen.add(entry.shot)
        return self

    @property
    def rate(self) -> Rate:
        return Rate.from_fps(self.fps)

    @property
    def size(self) -> tuple[int, int]:
        w, h = self.resolution.split("x")
        return int(w), int(h)


def load_spec(path: Path) -> ProjectSpec:
    """Read and validate project.json, naming the file, field and reason on failure."""
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ProjectConfigError(f"{path}: file not found", path=path) from exc
    except json.JSONDecodeError as exc:
        raise ProjectConfigError(f"{path}: not valid JSON ({exc})", path=path) from exc
    if not isinstance(raw, dict):
        raise ProjectConfigError(f"{path}: must hold a JSON object", path=path)
    try:
        return ProjectSpec.model_validate(raw)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            where = ".".join(str(p) for p in err["loc"]) or "(root)"
            reason = err["msg"].removeprefix("Value error, ")
            if err["type"] == "extra_forbidden":
                reason = "unknown field"
            problems.append(f"field '{where}': {reason}")
        raise ProjectConfigError(f"{path}: " + "; ".join(problems), path=path) from exc


_TAKE_RE = re.compile(r"(?P<shot>[A-Za-z0-9_-]+?)_(?P<kind>v|take)(?P<num>\d+)", re.I)
"""A take's file stem, ``fullmatch``ed: ``sh010_v003\\n.mp4`` is no take of sh010."""


@dataclass(frozen=True)
class Take:
    """One render file of a shot."""

    path: Path
    kind: str  # "v" or "take"
    number: int

    @property
    def name(self) -> str:
        return self.path.stem

    @property
    def label(self) -> str:
        """``v003`` or ``take02``, as written in the file name."""
        return self.name.rsplit("_", 1)[1]


def _tracks_key(v: TrackSelection | None) -> str | tuple[int, ...] | None:
    return tuple(v) if isinstance(v, list) else v


def natural_key(text: str) -> list[Any]:
    return [int(t) if t.isdigit() else t.lower() for t in re.split(r"(\d+)", text)]


def list_takes(shot_dir: Path, shot: str) -> list[Take]:
    """Takes in a shot folder, oldest first; everything else is ignored with a debug line."""
    takes: list[Take] = []
    try:
        entries = sorted(os.scandir(shot_dir), key=lambda e: e.name)
    except FileNotFoundError:
        return []
    for entry in entries:
        name = entry.name
        p = Path(entry.path)
        if name.startswith(".") or not entry.is_file():
            log.debug("ignoring %s: hidden or not a file", p)
            continue
        if p.suffix.lower() not in RENDER_EXTENSIONS:
            log.debug("ignoring %s: not a render (%s)", p, p.suffix or "no extension")
            continue
        m = _TAKE_RE.fullmatch(p.stem)
        if not m or m["shot"] != shot:
            log.debug("ignoring %s: name is not %s_v<NNN> or %s_take<NN>", p, shot, shot)
            continue
        takes.append(Take(p, m["kind"].lower(), int(m["num"])))
    takes.sort(key=lambda t: (t.kind == "v", t.number))
    return takes


def select_take(shot_dir: Path, shot: str, wanted: str | None = None) -> Take:
    """The highest version wins (versions over takes) unless ``wanted`` names a take."""
    takes = list_takes(shot_dir, shot)
    if wanted:
        w = wanted.strip()
        wl = w.lower()
        for t in takes:
            if wl in (t.name.lower(), t.path.name.lower(), t.label.lower()):
                return t
        m = re.fullmatch(r"(v|take)?0*(\d+)", wl)
        if m:
            kind = m[1] or "v"
            for t in takes:
                if t.kind == kind and t.number == int(m[2]):
                    return t
        have = ", ".join(t.path.name for t in takes) or "no renders"
        raise MediaNotFoundError(f"shot {shot}: take {wanted!r} not found in {shot_dir} (have: {have})", path=shot_dir)
    if not takes:
        raise MediaNotFoundError(
            f"shot {shot}: no render in {shot_dir} (expected {shot}_v001.mp4, .mov or .mkv)", path=shot_dir
        )
    return takes[-1]


@dataclass(frozen=True)
class ShotRef:
    shot: str
    take: str | None = None
    scene: str | None = None
    beat: str | None = None
    notes: str | None = None
    audio_tracks: str | tuple[int, ...] | None = None  # "all" | "first" | 1-based track numbers; None: project's


@dataclass
class Project:
    """A project folder with its validated spec."""

    name: str
    root: Path
    spec: ProjectSpec
    _sequence: list[ShotRef] | None = field(default=None, repr=False, compare=False)

    @property
    def renders_dir(self) -> Path:
        return self.root / RENDERS_DIR

    @property
    def cache_dir(self) -> Path:
        return self.root / CACHE_DIR

    @property
    def exports_dir(self) -> Path:
        return self.root / EXPORTS_DIR

    @property
    def assemblies_dir(self) -> Path:
        return self.root / ASSEMBLIES_DIR

    def shot_dir(self, shot: str) -> Path:
        return self.renders_dir / shot

    def shot_folders(self) -> list[str]:
        """Shot folders on disk (valid names only), in natural order."""
        if not self.renders_dir.is_dir():
            return []
        names = []
        for entry in os.scandir(self.renders_dir):
            if entry.is_dir() and not entry.name.startswith(".") and NAME_RE.fullmatch(entry.name):
                names.append(entry.name)
            elif entry.is_dir() and not entry.name.startswith("."):
                log.warning("ignoring shot folder %s: invalid shot id", entry.path)
        return sorted(names, key=natural_key)

    def sequence(self) -> list[ShotRef]:
        """The cut's shots in story order: project.json's sequence, else every shot folder with a render.

        Read once per Project object (they are made fresh for each build step or sensor tick)."""
        if self._sequence is None:
            if self.spec.sequence is not None:
                self._sequence = [
                    ShotRef(e.shot, e.take, e.scene, e.beat, e.notes, _tracks_key(e.audio_tracks))
                    for e in self.spec.sequence
                ]
            else:
                self._sequence = [ShotRef(s) for s in self.shot_folders() if list_takes(self.shot_dir(s), s)]
        return list(self._sequence)

    def shots(self) -> list[str]:
        return [ref.shot for ref in self.sequence()]

    def ref(self, shot: str) -> ShotRef:
        for r in self.sequence():
            if r.shot == shot:
                return r
        return ShotRef(shot)

    def audio_tracks(self, shot: str) -> str | tuple[int, ...]:
        """The shot's track selection: its sequence entry's ``audio_tracks``, else the project's ``audio.tracks``."""
        own = self.ref(shot).audio_tracks
        return own if own is not None else _tracks_key(self.spec.audio.tracks) or "all"

    def select_take(self, shot: str) -> Take:
        return select_take(self.shot_dir(shot), shot, self.ref(shot).take)

    def picture_path(self, shot: str) -> Path:
        return self.cache_dir / "picture" / f"{shot}.mov"

    def audio_path(self, shot: str) -> Path:
        return self.cache_dir / "audio" / f"{shot}.wav"

    def cut_path(self) -> Path:
        return self.cache_dir / "cut" / f"{self.name}_cut.mov"

    def timeline_path(self) -> Path:
        return self.cache_dir / "timeline.json"

    def edl_path(self) -> Path:
        return self.assemblies_dir / f"{self.name}.edl"

    def otio_path(self) -> Path:
        return self.assemblies_dir / f"{self.name}.otio"

    def fcp_xml_path(self) -> Path:
        return self.assemblies_dir / f"{self.name}.xml"

    def delivery_path(self, preset: str) -> Path:
        return self.exports_dir / f"{self.name}_{preset}.mp4"


@dataclass
class Workspace:
    root: Path
    projects: dict[str, Project] = field(default_factory=dict)
    errors: dict[str, ProjectConfigError] = field(default_factory=dict)


def discover_projects(root: Path) -> Workspace:
    """Every folder with a project.json; a broken one is reported, the others still load."""
    ws = Workspace(Path(root))
    if not ws.root.is_dir():
        return ws
    for entry in sorted(os.scandir(ws.root), key=lambda e: natural_key(e.name)):
        if not entry.is_dir() or entry.name.startswith("."):
            continue
        pj = Path(entry.path) / PROJECT_FILE
        if not pj.is_file():
            continue
        if not NAME_RE.fullmatch(entry.name):
            ws.errors[entry.name] = ProjectConfigError(
                f"{pj}: project folder name {entry.name!r} is invalid: use only letters, digits, '_' and '-'",
                path=pj,
            )
            continue
        try:
            ws.projects[entry.name] = Project(entry.name, Path(entry.path), load_spec(pj))
        except ProjectConfigError as exc:
            log.error("%s", exc)
            ws.errors[entry.name] = exc
    return ws


def load_project(root: Path, name: str) -> Project:
    check = NAME_RE.fullmatch(name or "")
    if not check:
        raise ProjectConfigError(f"project name {name!r} is invalid: use only letters, digits, '_' and '-'")
    folder = Path(root) / name
    return Project(name, folder, load_spec(folder / PROJECT_FILE))


def file_digest(path: Path, chunk: int = 1 << 20) -> str:
    h = hashlib.blake2b(digest_size=16)
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


class FingerprintCache:
    """Content fingerprints keyed by (path, size, mtime): a full read only when a file changed."""

    def __init__(self, entries: dict[str, list[Any]] | None = None) -> None:
        self.entries: dict[str, list[Any]] = dict(entries or {})

    def fingerprint(self, path: Path) -> str:
        st = path.stat()
        key = str(path)
        hit = self.entries.get(key)
        if hit and hit[0] == st.st_size and hit[1] == st.st_mtime_ns:
            return str(hit[2])
        digest = file_digest(path)
        self.entries[key] = [st.st_size, st.st_mtime_ns, digest]
        return digest


def stable_hash(*parts: Any) -> str:
    """Short deterministic hash of JSON-able parts: the basis of every data version."""
    blob = json.dumps(parts, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.blake2b(blob.encode(), digest_size=10).hexdigest()
