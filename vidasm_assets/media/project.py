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
from enum import Enum
from fractions import Fraction
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    StrictBool,
    Tag,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from . import limits
from .colour import AlphaMode, HdrPolicy
from .editorial import EdlStyle
from .errors import (
    MediaNotFoundError,
    MediaPermissionError,
    ProjectConfigError,
    UnsafePathError,
    VidasmError,
)
from .fields import FRAME_NUMBER_MAX, FieldError, count, given, number, one_of, problems
from .glyphs import FONT_NAME, undrawable
from .limits import check_readable
from .outputs import Stamp, stamp_file, stamped_version
from .presets import BUILTIN_PRESETS, Preset, PresetSpec
from .rates import ALLOWED_FPS, Rate

log = logging.getLogger("vidasm")

NAME_RE = re.compile(r"[A-Za-z0-9_-]+")
"""Project and shot ids; always ``fullmatch``ed (``$`` would also match before a trailing newline)."""
RENDER_EXTENSIONS = (".mp4", ".mov", ".mkv", ".webm")
RENDERS_DIR = "03_Renders"
ASSEMBLIES_DIR = Path("04_Project_Files") / "assemblies"
CACHE_DIR = "05_Cache"
EXPORTS_DIR = "06_Exports"
PROJECT_FILE = "project.json"
MUSIC_DIR = "music"
MUSIC_EXTENSIONS = (".wav", ".flac", ".mp3", ".m4a", ".aac", ".ogg", ".opus", ".aif", ".aiff")
"""Audio files of a project's ``music/`` folder that are music tracks (matched case-insensitively)."""


def check_name(value: str, what: str) -> str:
    if not NAME_RE.fullmatch(value or ""):
        raise ValueError(f"{what} {value!r} is invalid: use only letters, digits, '_' and '-'")
    return value


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _track_selection(v: object) -> object:
    """``"all"``, ``"first"`` or a list of track numbers (JSON integers from 1 to 64), said in one message."""
    if v in ("all", "first") or (isinstance(v, list) and all(type(t) is int and 1 <= t <= 64 for t in v)):
        return v
    raise ValueError(f'must be "all", "first" or a list of track numbers (JSON integers from 1 to 64, like [1, 2]); '
                     f"got {json.dumps(v) if isinstance(v, list) else given(v)}")  # fmt: skip


TrackSelection = Annotated[Literal["all", "first"] | list[int], BeforeValidator(_track_selection)]
"""Which audio tracks of a render a shot uses: ``"all"`` (mixed), ``"first"``, or track numbers counted from 1
in the render's order of audio streams (as an NLE shows them: A1, A2...)."""


class AudioSettings(_Strict):
    loudness_lufs: Annotated[float, number(-70, -5, "LUFS")] = -16.0
    true_peak_db: Annotated[float, number(-9, 0, "dBTP")] = -1.0
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

    edl_style: EdlStyle = EdlStyle.RESOLVE
    record_start: str = "01:00:00:00"

    @field_validator("record_start")
    @classmethod
    def _tc(cls, v: str) -> str:
        if not re.fullmatch(r"\d{2}:[0-5]\d:[0-5]\d[:;]\d{2}", v or "", re.ASCII):
            raise ValueError(f"record_start {v!r} must be a timecode like 01:00:00:00")
        return v


class ColourSettings(_Strict):
    """What to do with HDR (PQ/HLG) renders: refuse them (default) or tone-map them to SDR BT.709; and how to read
    the colour of renders with an alpha channel (``AlphaMode``: straight by default)."""

    hdr: HdrPolicy = HdrPolicy.FAIL
    alpha: AlphaMode = AlphaMode.STRAIGHT


SourcePoint = int | str
"""A point of a render for ``in``/``out``: a frame number of the render counted from its first frame (0) at the
render's own frame rate (a JSON integer), or a timecode label (a string ``HH:MM:SS:FF``, ``;`` for drop frame) in
the render's own source timecode, read at that timecode's rate (a render without a timecode counts from
00:00:00:00)."""


def _source_point(v: object) -> object:
    """``in``/``out``: a frame number (a JSON integer, ``fields.FRAME_NUMBER_MAX`` at most) or a timecode string;
    anything else (``"10"``, ``10.0``, ``1e20``) is refused naming both forms."""
    forms = (f"a frame number of the render (a JSON integer from 0 to {FRAME_NUMBER_MAX:,}) or a timecode string "
             "'HH:MM:SS:FF'")  # fmt: skip
    if isinstance(v, str):
        from .timecode import parse_label

        try:
            parse_label(v)
        except ValueError as exc:
            digits = v.strip().isdigit()
            hint = f" (a frame number is written without quotes: {int(v)})" if digits else f" ({exc})"
            raise ValueError(f"must be {forms}; got the string {v!r}{hint}") from None
        return v
    if isinstance(v, int) and not isinstance(v, bool) and 0 <= v <= FRAME_NUMBER_MAX:
        return v
    raise ValueError(f"must be {forms}; got {given(v)}")


class TransitionSpec(_Strict):
    """A transition of a sequence entry (``transitions.py`` has the model): ``type`` and its length in timeline
    ``frames``. ``transition_in``: ``dissolve`` or ``dip`` from the previous entry (the two overlap by ``frames``),
    ``fade_in`` from black; ``transition_out``: ``fade_out`` to black."""

    type: Literal["dissolve", "dip", "fade_in", "fade_out"]
    frames: Annotated[int, count(1, what="frames")]

    @model_validator(mode="after")
    def _dip_frames(self) -> TransitionSpec:
        if self.type == "dip" and self.frames < 2:
            raise FieldError(["frames"], "a dip needs at least 2 frames (down to black, up from black)")
        if self.type == "dissolve" and self.frames < 2:  # frame k of N is (N-k)/N of the outgoing picture
            raise FieldError(["frames"], "a dissolve needs at least 2 frames: its first frame is all the "
                             "outgoing picture, so 1 frame shows none of the incoming one")  # fmt: skip
        return self


def check_text(v: str, what: str, chars: int, lines: int) -> str:
    """Text drawn on the picture (a card's, an overlay's): not blank, at most ``chars`` characters and ``lines``
    lines, no control character but the line break (C0, DEL, C1), every character one the shipped font can draw
    (``glyphs.undrawable``: CJK and emoji are not in DejaVu Sans Mono): ValueError naming ``what``."""
    if not v.strip():
        raise ValueError(f"{what} is empty")
    if len(v) > chars:
        raise ValueError(f"{what} holds {len(v)} characters; at most {chars}")
    if v.count("\n") >= lines:
        raise ValueError(f"{what} holds {v.count(chr(10)) + 1} lines; at most {lines}")
    if any((ord(c) < 32 and c != "\n") or 0x7F <= ord(c) < 0xA0 for c in v):
        raise ValueError(f"{what} holds a control character (only line breaks are allowed)")
    missing = undrawable(v)
    if missing:
        codes = ", ".join(f"U+{ord(c):04X}" for c in missing[:8]) + (", ..." if len(missing) > 8 else "")
        raise ValueError(f"{what} holds characters the shipped font ({FONT_NAME}) has no glyph for: "
                         f"{''.join(missing[:8])!r} ({codes}); they would be drawn as empty boxes")  # fmt: skip
    return v


def check_colour(v: str) -> str:
    """A text colour ``#RRGGBB`` (ValueError otherwise)."""
    if not _COLOUR_RE.fullmatch(v):
        raise ValueError(f"colour {v!r} must be '#RRGGBB'")
    return v


OVERLAY_POSITIONS = ("lower_third", "top", "bottom", "center")
"""Where an overlay's text sits (``overlays.py`` has the geometry)."""
OVERLAY_TEXT_MAX = 200
OVERLAY_LINES_MAX = 4


class _OverlayStyle(_Strict):
    """What an overlay draws and how (``overlays.py``): ``text`` (line breaks allowed, no other control
    character), ``position``, ``size`` (an integer: pixels at the timeline's height, scaled with a preset that
    downscales; a number below 1: a share of the frame height; default 1/20 of it), ``colour`` ``#RRGGBB`` and
    ``box`` (a translucent black box behind the text)."""

    text: str
    frames: int | None = Field(None, gt=0)
    position: Literal["lower_third", "top", "bottom", "center"] = "lower_third"
    size: int | float | None = None
    colour: str = "#FFFFFF"
    box: bool = Field(True, strict=True)

    @field_validator("text")
    @classmethod
    def _text(cls, v: str) -> str:
        return check_text(v, "an overlay's text", OVERLAY_TEXT_MAX, OVERLAY_LINES_MAX)

    @field_validator("size", mode="before")
    @classmethod
    def _size(cls, v: object) -> object:
        if v is None:
            return v
        if isinstance(v, bool) or not isinstance(v, int | float):
            raise ValueError(f"size {v!r} must be pixels (an integer from 6 to 1000) or a share of the frame height "
                             "(a number above 0 and below 1)")  # fmt: skip
        if isinstance(v, float) and v.is_integer() and v >= 1:
            v = int(v)
        if isinstance(v, int) and not 6 <= v <= 1000:
            raise ValueError(f"size {v} px must be from 6 to 1000 pixels (or a share of the frame height below 1)")
        if isinstance(v, float) and not 0.005 <= v < 1:
            raise ValueError(f"size {v} must be a share of the frame height from 0.005 to below 1 (or pixels)")
        return v

    @field_validator("colour")
    @classmethod
    def _colour(cls, v: str) -> str:
        return check_colour(v)


class EntryOverlay(_OverlayStyle):
    """Text over one sequence entry: from ``start`` (frames from the entry's first record frame, default 0) for
    ``frames`` (default: to the entry's end). Past the entry's end is refused naming the entry when the timeline
    is built (its length comes from the render)."""

    start: int = Field(0, ge=0)


class CutOverlay(_OverlayStyle):
    """Text over the cut, in record time: ``at`` is a record frame (from the cut's first frame, 0) or a record
    timecode (from ``editorial.record_start``), for ``frames`` (default: to the cut's end)."""

    at: int | str

    @field_validator("at", mode="before")
    @classmethod
    def _at(cls, v: object) -> object:
        if isinstance(v, int) and not isinstance(v, bool) and v >= 0:
            return v
        if isinstance(v, str) and re.fullmatch(r"\d{2}:[0-5]\d:[0-5]\d[:;]\d{2}", v, re.ASCII):
            return v
        raise ValueError(f"at {v!r} is neither a record frame (0 or more) nor a record timecode like '01:00:02:00'")


class SequenceEntry(_Strict):
    """One use of a shot in the cut. ``in``/``out``: the used range of the render, ``out`` exclusive (the first
    frame *not* used, as a CMX3600 or OTIO source out); default the whole render. A shot may be used more than
    once: the uses must agree on ``take`` and ``audio_tracks`` (they share the shot's conform)."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    shot: str
    take: str | None = None
    in_: SourcePoint | None = Field(None, alias="in")
    out: SourcePoint | None = None
    scene: str | None = None
    beat: str | None = None
    notes: str | None = None
    audio_tracks: TrackSelection | None = None  # this shot's own choice; default: the project's audio.tracks
    transition_in: TransitionSpec | None = None  # dissolve/dip from the previous entry, or fade_in from black
    transition_out: TransitionSpec | None = None  # fade_out to black
    overlays: list[EntryOverlay] = []  # text drawn over this entry (overlays.py)

    @field_validator("transition_in")
    @classmethod
    def _in_kind(cls, v: TransitionSpec | None) -> TransitionSpec | None:
        if v is not None and v.type == "fade_out":
            raise FieldError(["type"], "fade_out is a transition_out (to black at the entry's end)")
        return v

    @field_validator("transition_out")
    @classmethod
    def _out_kind(cls, v: TransitionSpec | None) -> TransitionSpec | None:
        if v is not None and v.type != "fade_out":
            raise FieldError(["type"], f"{v.type} is a transition_in (a transition_out can only be fade_out)")
        return v

    @field_validator("shot")
    @classmethod
    def _shot_name(cls, v: str) -> str:
        return check_name(v, "shot id")

    @field_validator("in_", "out", mode="before")
    @classmethod
    def _point(cls, v: object) -> object:
        return v if v is None else _source_point(v)

    @model_validator(mode="after")
    def _out_after_in(self) -> SequenceEntry:
        """Out after in, where the two can be compared without the render (both frames, or both timecodes); the
        rest (a mix, the render's length) is checked against the render (``ranges.entry_range``)."""
        a, b = self.in_, self.out
        if a is None or b is None or type(a) is not type(b):
            return self
        if isinstance(a, str) and isinstance(b, str):
            from .timecode import parse_label

            later = parse_label(b)[:4] > parse_label(a)[:4]
        else:
            later = b > a  # type: ignore[operator]
        if not later:
            raise FieldError(["out"], f"out {b!r} must be after in {a!r} (out is exclusive: the first frame not used)")
        return self

    @field_validator("audio_tracks")
    @classmethod
    def _tracks(cls, v: TrackSelection | None) -> TrackSelection | None:
        return None if v is None else _check_tracks(v)


CARD_TEXT_MAX = 400
"""Characters a card's text may hold (its lines are wrapped to the frame; more would not be readable)."""
CARD_LINES_MAX = 12
CARD_SECONDS_MAX = 3600
CARD_IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg")
_COLOUR_RE = re.compile(r"#[0-9A-Fa-f]{6}")


class CardEntry(_Strict):
    """A title card, end card or text slate in the cut: ``text`` drawn over a colour or an image of the project
    folder for ``seconds`` (rounded to the nearest frame at the project rate, at least one), with silence under it.
    ``id`` names it in the EDL and OTIO (default ``card<N>``, N counting the sequence's cards from 1)."""

    card: str
    seconds: Annotated[float, number(0, CARD_SECONDS_MAX, "seconds", above=True)]
    background: str = "#000000"  # "#RRGGBB" or an image (png/jpg) inside the project folder, relative to it
    colour: str = "#FFFFFF"  # the text's colour
    id: str | None = None
    notes: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _not_on_cards(cls, data: Any) -> Any:
        """What a shot entry takes and a card does not yet, said as such (not as an unknown field)."""
        if isinstance(data, dict):
            cut = "cards cut in and out: fade the shots beside it from or to black instead"
            for name, instead in (("transition_in", cut), ("transition_out", cut),
                                  ("overlays", "use the cut's overlays, which draw over cards too")):  # fmt: skip
                if name in data:
                    raise FieldError([name], f"a card takes no {name} yet ({instead})")
        return data

    @field_validator("card")
    @classmethod
    def _text(cls, v: str) -> str:
        return check_text(v, "a card's text", CARD_TEXT_MAX, CARD_LINES_MAX)

    @field_validator("id")
    @classmethod
    def _id(cls, v: str | None) -> str | None:
        return None if v is None else check_name(v, "card id")

    @field_validator("colour")
    @classmethod
    def _colour(cls, v: str) -> str:
        return check_colour(v)

    @field_validator("background")
    @classmethod
    def _background(cls, v: str) -> str:
        if v.startswith("#"):
            if not _COLOUR_RE.fullmatch(v):
                raise ValueError(f"background {v!r} must be a colour '#RRGGBB' or an image of the project folder")
            return v
        if any(ord(c) < 32 for c in v):
            raise ValueError(f"background {v!r} holds a control character")
        if not v.lower().endswith(CARD_IMAGE_EXTENSIONS):
            raise ValueError(f"background {v!r} must be a colour '#RRGGBB' or a .png/.jpg image")
        return v


def _said(value: object) -> str:
    return "none" if value is None else repr(value)


def _card_label(index: int, card: CardEntry, card_id: str) -> str:
    """A card as an error names it: ``sequence[2] (card 'The end', id 'end')``, ``automatic id 'card2'`` when
    project.json gives it none."""
    how = "id" if card.id is not None else "automatic id"
    return f"sequence[{index}] (card {card.card[:30]!r}, {how} {card_id!r})"


class MusicSettings(_Strict):
    """project.json ``music``: the music bed under the cut (``music.py`` has the model).

    ``tracks``: files of the project folder, relative to it, played one after another (None: the audio files of
    the project's ``music/`` folder in natural order). ``level_db``: the bed's loudness relative to the
    programme's loudness target (LU; -6 puts the music 6 LU under the target before ducking). ``duck_db``: how
    far the music is lowered under programme sound (dB; 0 = no ducking), by a sidechain compressor keyed by the
    programme. ``fade_out_seconds``: the bed's fade to silence at the cut's end (seconds, its last sample
    silent). ``loop``: the tracks repeat until the cut ends (false: they play once, then silence)."""

    tracks: list[str] | None = None
    level_db: Annotated[float, number(-40, 10, "LU")] = -6.0
    duck_db: Annotated[float, number(0, 24, "dB")] = 12.0
    fade_out_seconds: Annotated[float, number(0, 60, "seconds")] = 2.0
    loop: StrictBool = True

    @field_validator("tracks")
    @classmethod
    def _tracks(cls, v: list[str] | None) -> list[str] | None:
        if v is None:
            return v
        if not v:
            raise ValueError('lists no track; list files like "music/bed.wav" or leave tracks out for music/')
        for t in v:
            if not t.strip() or any(ord(c) < 32 for c in t):
                raise ValueError(f"track {t!r} is empty or holds a control character")
            if not t.lower().endswith(MUSIC_EXTENSIONS):
                raise ValueError(f"track {t!r} is no audio file ({', '.join(MUSIC_EXTENSIONS)})")
        return v


class GenerateSettings(_Strict):
    """project.json ``generate``: a sequence made for a music video (``generate.py``): shots of the project drawn
    at random with a fixed ``seed`` until the music's length is filled, each use ``cut_frames`` long (a range
    ``[min, max]`` of timeline frames, drawn per use; the last use trimmed to land on the music's end), never the
    same shot twice in a row."""

    seed: Annotated[int, count(0, 2**63 - 1)]
    cut_frames: tuple[Annotated[int, count(1, what="frames")], Annotated[int, count(1, what="frames")]] | None = None

    @field_validator("cut_frames")
    @classmethod
    def _range(cls, v: tuple[int, int] | None) -> tuple[int, int] | None:
        if v is not None and v[0] > v[1]:
            raise ValueError(f"cut_frames {list(v)} must be [min, max] with min <= max")
        return v


MusicChoice = Annotated[
    Annotated[MusicSettings, Tag("settings")] | Annotated[StrictBool, Tag("switch")],
    Discriminator(lambda v: "switch" if isinstance(v, bool) else "settings"),
]
"""project.json ``music``: its settings, or ``true``/``false`` (the music/ folder with the defaults, or no music)."""


def _entry_kind(v: Any) -> str:
    return "card" if (isinstance(v, dict) and "card" in v) or isinstance(v, CardEntry) else "shot"


ShotEntry = Annotated[SequenceEntry, Tag("shot")]
Entry = Annotated[ShotEntry | Annotated[CardEntry, Tag("card")], Discriminator(_entry_kind)]
"""A sequence entry: a use of a shot, or a card (an object with ``card``)."""


class ProjectSpec(_Strict):
    """project.json, validated; unknown keys are rejected so typos never pass silently."""

    fps: Annotated[float, one_of(ALLOWED_FPS, "frames per second", tolerance=0.006)] = 24
    resolution: str = "1920x1080"
    audio: AudioSettings = AudioSettings()
    # project.json "sequence": uses of shots and cards in story order (``sequence``: the shots only, ``cards``)
    entries: list[Entry] | None = Field(None, alias="sequence")
    exports: list[str] = ["web"]
    # the project's own delivery presets (and overrides of the workspace's presets.json or the built-ins)
    presets: dict[str, PresetSpec] = {}
    editorial: EditorialSettings = EditorialSettings()
    colour: ColourSettings = ColourSettings()
    # true: a shot whose render is missing or unusable is cut in as a slate of its length (marked in the EDL)
    # instead of failing the cut
    placeholders: bool = False
    # true: the project folder, 04_Project_Files, 05_Cache or 06_Exports may be symlinks that resolve outside the
    # workspace (outputs are written there); false: such a project is refused, naming the folder
    allow_outside_workspace: bool = False
    # text drawn over the cut in record time (overlays.py); an entry's own are its "overlays"
    overlays: list[CutOverlay] = []
    # the music bed (music.py): settings, true (the music/ folder with the defaults) or false (no music even with a
    # music/ folder); absent: the music/ folder's audio files when there are any
    music: MusicChoice | None = None
    # a generated sequence for music videos (generate.py); exclusive with "sequence"
    generate: GenerateSettings | None = None

    @model_validator(mode="after")
    def _generate_or_sequence(self) -> ProjectSpec:
        if self.generate is not None and self.entries is not None:
            raise FieldError(
                ["generate"], "a generated sequence and an explicit 'sequence' exclude each other; remove one"
            )
        if self.generate is not None and self.music is False:
            raise FieldError(["generate"], "a generated sequence fills the music's length, but 'music' is false")
        return self

    def music_settings(self) -> MusicSettings | None:
        """The music bed's settings; None when ``music`` is false."""
        if self.music is False:
            return None
        return self.music if isinstance(self.music, MusicSettings) else MusicSettings()

    @field_validator("resolution")
    @classmethod
    def _resolution(cls, v: str) -> str:
        m = re.fullmatch(r"(\d+)x(\d+)", v or "", re.ASCII)
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

        try:
            timecode_to_frames(v.record_start, Rate.from_fps(fps), what="record_start")
        except ValueError as exc:
            raise FieldError(["record_start"], str(exc)) from None
        return v

    @field_validator("presets")
    @classmethod
    def _preset_names(cls, v: dict[str, PresetSpec]) -> dict[str, PresetSpec]:
        for name in v:
            check_name(name, "preset name")
        return v

    @field_validator("exports")
    @classmethod
    def _exports(cls, v: list[str]) -> list[str]:
        for name in v:
            check_name(name, "preset name")
        if len(set(v)) != len(v):
            raise ValueError("exports lists a preset twice")
        return v

    @model_validator(mode="after")
    def _repeats_agree(self) -> ProjectSpec:
        """A shot used more than once shares one conform: its uses must select the same take and audio tracks."""
        if self.entries is not None:
            first: dict[str, SequenceEntry] = {}
            for i, entry in enumerate(self.entries):
                if isinstance(entry, CardEntry):
                    continue
                was = first.setdefault(entry.shot, entry)
                for name in ("take", "audio_tracks"):
                    if getattr(was, name) != getattr(entry, name):
                        raise FieldError(
                            ["sequence", i, name],
                            f"shot {entry.shot!r} is used again with another {name} ({_said(getattr(entry, name))}; "
                            f"its first use, sequence[{self.entries.index(was)}], has {_said(getattr(was, name))}): "
                            "the uses of a shot share its conform, so they must agree",
                        )
            self._check_overlaps()
        return self

    def _check_overlaps(self) -> None:
        """A dissolve or dip overlaps its entry with the previous one: the first entry has none, and a card is
        drawn, not rendered, so it has no frames beyond its cut point to overlap with (fades to or from black
        beside a card are fine: they use the shot's own frames)."""
        for i, entry in enumerate(self.entries or []):
            t = None if isinstance(entry, CardEntry) else entry.transition_in
            if t is None or t.type not in OVERLAPS:
                continue
            where = ["sequence", i, "transition_in", "type"]
            if i == 0:
                raise FieldError(where, f"a {t.type} needs a previous entry; the first entry can only fade_in")
            before = (self.entries or [])[i - 1]
            if isinstance(before, CardEntry):
                raise FieldError(
                    where,
                    f"a {t.type} from card {before.card[:30]!r} (sequence[{i - 1}]) is not supported (a card has no "
                    "media beyond its cut point); fade_in this shot instead",
                )

    @model_validator(mode="after")
    def _overlay_times(self) -> ProjectSpec:
        """A cut overlay's record timecode exists at the project's rate and is not before ``record_start``."""
        from .editorial import timecode_to_frames

        rate = self.rate
        start = timecode_to_frames(self.editorial.record_start, rate, what="record_start")
        for i, o in enumerate(self.overlays):
            if isinstance(o.at, str):
                at = timecode_to_frames(o.at, rate, what=f"overlays[{i}].at")
                if at < start:
                    raise ValueError(f"overlays[{i}].at {o.at} is before editorial.record_start "
                                     f"{self.editorial.record_start}")  # fmt: skip
        return self

    @model_validator(mode="after")
    def _card_ids(self) -> ProjectSpec:
        """Card ids are unique and no shot's: they name the card's event in the EDL and OTIO. A clash names both
        entries (index, id, whether the id is written or automatic); the path is the entry whose ``id`` to change:
        a written id over an automatic one, else the later entry."""
        entries = self.entries or []
        shots: dict[str, int] = {}
        for i, e in enumerate(entries):
            if isinstance(e, SequenceEntry):
                shots.setdefault(e.shot, i)
        ids = iter(self.cards())
        seen: dict[str, int] = {}
        for i, e in enumerate(entries):
            if not isinstance(e, CardEntry):
                continue
            card_id, _ = next(ids)
            if card_id in shots:
                j = shots[card_id]
                raise FieldError(["sequence", i, "id"], f"{_card_label(i, e, card_id)} is also the id of shot "
                                 f'{card_id!r} (sequence[{j}]); give the card its own "id"')  # fmt: skip
            if card_id in seen:
                j = seen[card_id]
                other = entries[j]
                assert isinstance(other, CardEntry)
                fix = j if other.id is not None and e.id is None else i
                raise FieldError(["sequence", fix, "id"], f"{_card_label(j, other, card_id)} and "
                                 f"{_card_label(i, e, card_id)} have the same id; give one of them its own "
                                 '"id"')  # fmt: skip
            seen[card_id] = i
        return self

    @property
    def sequence(self) -> list[SequenceEntry] | None:
        """project.json's uses of shots in story order (None: no sequence, every shot folder); its cards are
        ``cards``, both in their places ``entries``."""
        return None if self.entries is None else [e for e in self.entries if isinstance(e, SequenceEntry)]

    def cards(self) -> list[tuple[str, CardEntry]]:
        """The sequence's cards with their ids (``id``, else ``card<N>``), in story order."""
        cards = [e for e in self.entries or [] if isinstance(e, CardEntry)]
        return [(c.id or f"card{i}", c) for i, c in enumerate(cards, start=1)]

    @property
    def rate(self) -> Rate:
        return Rate.from_fps(self.fps)

    @property
    def size(self) -> tuple[int, int]:
        w, h = self.resolution.split("x")
        return int(w), int(h)


def load_spec(path: Path) -> ProjectSpec:
    """Read and validate project.json, naming the file, field and reason on failure.

    Before parsing: a regular, readable UTF-8 file within the size limit; before validating: nesting and sequence
    length within their limits (``limits.py``; each message names the limit's variable)."""
    raw = _parse(limits.read_project_file(path), path)
    if not isinstance(raw, dict):
        raise ProjectConfigError(f"{path}: must hold a JSON object", path=path)
    try:
        return ProjectSpec.model_validate(raw)
    except ValidationError as exc:
        raise ProjectConfigError(f"{path}: " + "; ".join(problems(exc)), path=path) from exc


def _parse(text: str, path: Path) -> Any:
    return limits.parse_project_json(path, text)


_TAKE_RE = re.compile(r"(?P<shot>[A-Za-z0-9_-]+?)_(?P<kind>v|take)(?P<num>\d+)", re.I | re.ASCII)
"""A take's file stem, ``fullmatch``ed: ``sh010_v003\\n.mp4`` is no take of sh010."""


class TakeKind(str, Enum):
    """``<shot>_v<NNN>`` (a version: versions rank above takes) or ``<shot>_take<NN>``."""

    VERSION = "v"
    TAKE = "take"


@dataclass(frozen=True)
class Take:
    """One render file of a shot."""

    path: Path
    kind: TakeKind
    number: int

    @property
    def name(self) -> str:
        return self.path.stem

    @property
    def label(self) -> str:
        """``v003`` or ``take02``, as written in the file name."""
        return self.name.rsplit("_", 1)[1]


OVERLAPS = ("dissolve", "dip")
"""Transitions between two entries: they overlap by the transition's frames (the record is shorter by that)."""


def _transition(t: TransitionSpec | None) -> tuple[str, int] | None:
    return None if t is None else (t.type, t.frames)


def _tracks_key(v: TrackSelection | None) -> str | tuple[int, ...] | None:
    return tuple(v) if isinstance(v, list) else v


IN_PROGRESS_SUFFIXES = (".part", ".tmp", ".partial", ".crdownload", ".download", ".!qb")
"""Names renderers, copy tools and browsers give a file while they write it (never a render)."""


def in_progress(name: str) -> bool:
    """A file still being written: hidden (vidasm's own temp names too) or a writer's temp suffix."""
    return name.startswith(".") or name.lower().endswith(IN_PROGRESS_SUFFIXES)


def _is_dir(entry: os.DirEntry[str]) -> bool:
    try:
        return entry.is_dir()
    except OSError:
        return False


def natural_key(text: str) -> list[Any]:
    return [int(t) if t.isascii() and t.isdigit() else t.lower() for t in re.split(r"([0-9]+)", text)]


def _scan(folder: Path, what: str) -> list[os.DirEntry[str]]:
    """A folder's entries by name; a folder that cannot be read is a typed error naming it (missing: empty)."""
    try:
        with os.scandir(folder) as it:
            return sorted(it, key=lambda e: e.name)
    except (FileNotFoundError, NotADirectoryError):
        return []
    except PermissionError as exc:
        raise MediaPermissionError(f"{folder}: the {what} cannot be read (permission denied)", path=folder) from exc
    except OSError as exc:
        raise MediaNotFoundError(f"{folder}: the {what} cannot be read ({exc.strerror or exc})", path=folder) from exc


def list_takes(shot_dir: Path, shot: str) -> list[Take]:
    """Takes in a shot folder, oldest first; everything else is ignored with a debug line (``stray_renders`` names
    the files that look like renders but are no take, for a warning).

    A name that is a take but no regular file (a dangling symlink, a FIFO, a folder) is listed all the same:
    selecting it fails naming it (``check_readable``), so an older take is never used in its place silently.
    The shot id in a take's name is matched without regard to case (``SH010_V002.MOV`` in ``sh010``: what
    case-insensitive file servers and camera/export presets write); the folder's name is the shot's id."""
    return _takes_and_strays(shot_dir, shot)[0]


def stray_renders(shot_dir: Path, shot: str) -> list[str]:
    """Files of a shot folder with a render's extension that are no take of the shot (``sh010 final.mov``,
    ``sh010_v002 copy.mov``, another shot's render), by name; hidden files are left out."""
    return _takes_and_strays(shot_dir, shot)[1]


def _takes_and_strays(shot_dir: Path, shot: str) -> tuple[list[Take], list[str]]:
    takes: list[Take] = []
    strays: list[str] = []
    for entry in _scan(shot_dir, "shot folder"):
        name = entry.name
        p = Path(entry.path)
        if name.startswith("."):
            log.debug("ignoring %s: hidden", p)
            continue
        if p.suffix.lower() not in RENDER_EXTENSIONS:
            log.debug("ignoring %s: not a render (%s)", p, p.suffix or "no extension")
            continue
        m = _TAKE_RE.fullmatch(p.stem)
        if not m or m["shot"].lower() != shot.lower():
            log.debug("ignoring %s: name is not %s_v<NNN> or %s_take<NN>", p, shot, shot)
            strays.append(name)
            continue
        takes.append(Take(p, TakeKind(m["kind"].lower()), int(m["num"])))
    takes.sort(key=lambda t: (t.kind is TakeKind.VERSION, t.number))
    return takes, sorted(strays, key=natural_key)


def select_take(shot_dir: Path, shot: str, wanted: str | None = None) -> Take:
    """The highest version wins (versions over takes) unless ``wanted`` names a take; the take must be a readable
    file (``check_readable``), else the shot fails naming it."""
    take = _select(list_takes(shot_dir, shot), shot_dir, shot, wanted)
    check_readable(take.path)
    return take


def _select(takes: list[Take], shot_dir: Path, shot: str, wanted: str | None) -> Take:
    if wanted:
        w = wanted.strip()
        wl = w.lower()
        named = _by_file_name(takes, w, shot_dir, shot)
        if named is not None:
            return named
        for t in takes:
            if wl in (t.name.lower(), t.label.lower()):
                return _unambiguous(t, takes, shot_dir, shot)
        m = re.fullmatch(r"(v|take)?0*(\d+)", wl, re.ASCII)
        if m:
            kind = TakeKind(m[1] or TakeKind.VERSION.value)
            for t in takes:
                if t.kind is kind and t.number == int(m[2]):
                    return _unambiguous(t, takes, shot_dir, shot)
        have = ", ".join(t.path.name for t in takes) or "no renders"
        raise MediaNotFoundError(f"take {wanted!r} not found in {shot_dir} (have: {have})", path=shot_dir, shot=shot)
    if not takes:
        if not shot_dir.is_dir():
            raise MediaNotFoundError(
                f"no shot folder {shot_dir} (the sequence names shot {shot!r}: make the folder and put its renders "
                f"in it, {shot}_v001.mp4, or fix the name)",
                path=shot_dir,
                shot=shot,
            )
        others = sorted(e.name for e in _scan(shot_dir, "shot folder") if not e.name.startswith("."))
        seen = f"; it holds {', '.join(others[:5])}{', ...' if len(others) > 5 else ''}" if others else ""
        raise MediaNotFoundError(
            f"no render in {shot_dir} (expected {shot}_v001.mp4, .mov, .mkv or .webm{seen})", path=shot_dir, shot=shot
        )
    return _unambiguous(takes[-1], takes, shot_dir, shot)


def _by_file_name(takes: list[Take], wanted: str, shot_dir: Path, shot: str) -> Take | None:
    """The take whose file ``wanted`` names: exactly that file, whatever else has its number; in another case only
    when one file has the name (two names differing only by case are refused: which is meant cannot be told)."""
    for t in takes:
        if wanted == t.path.name:
            return t
    named = [t for t in takes if wanted.lower() == t.path.name.lower()]
    if len(named) > 1:
        raise ProjectConfigError(
            f"{shot_dir}: take {wanted!r} names {' and '.join(t.path.name for t in named)}, which differ only by "
            "case: write the file's name exactly as it is",
            path=shot_dir,
            shot=shot,
        )
    return named[0] if named else None


def _unambiguous(take: Take, takes: list[Take], shot_dir: Path, shot: str) -> Take:
    """``take``, unless another file has its kind and number (``sh010_v002.mov`` and ``.mp4``, ``_v1`` and
    ``_v001``): which one is meant is not for vidasm to guess (the last name in order won silently, and naming
    ``v002`` in project.json picked the other one), so the shot fails naming both, and project.json's ``take``
    may name the file itself."""
    same = [t for t in takes if t.kind is take.kind and t.number == take.number]
    if len(same) > 1:
        names = " and ".join(t.path.name for t in same)
        raise ProjectConfigError(
            f"{shot_dir}: {names} are both {'version' if take.kind is TakeKind.VERSION else 'take'} {take.number} "
            f"of {shot}: remove all but one, "
            f'or name the file as the entry\'s take in project.json ("take": "{same[-1].path.name}")',
            path=shot_dir,
            shot=shot,
        )
    return take


@dataclass(frozen=True)
class ShotRef:
    shot: str
    take: str | None = None
    scene: str | None = None
    beat: str | None = None
    notes: str | None = None
    audio_tracks: str | tuple[int, ...] | None = None  # "all" | "first" | 1-based track numbers; None: project's
    in_: int | str | None = None  # project.json "in": render frame or source timecode (None: the render's start)
    out: int | str | None = None  # project.json "out", exclusive (None: the render's end)
    transition_in: tuple[str, int] | None = None  # (type, frames): dissolve/dip from the previous entry, fade_in
    transition_out: tuple[str, int] | None = None  # ("fade_out", frames)

    @property
    def trimmed(self) -> bool:
        return self.in_ is not None or self.out is not None


@dataclass(frozen=True)
class CardRef:
    """A card of the cut: its id, text, length in timeline frames (``seconds`` rounded to the nearest frame, at
    least one), background (``#RRGGBB`` or an image path relative to the project folder), text colour, notes."""

    id: str
    text: str
    frames: int
    background: str = "#000000"
    colour: str = "#FFFFFF"
    notes: str | None = None


@dataclass
class Project:
    """A project folder with its validated spec."""

    name: str
    root: Path
    spec: ProjectSpec
    _sequence: list[ShotRef] | None = field(default=None, repr=False, compare=False)
    workspace_presets: dict[str, Preset] = field(default_factory=dict, repr=False, compare=False)

    def presets(self) -> dict[str, Preset]:
        """Every preset this project can export: the built-ins, overridden by the workspace's ``presets.json``,
        overridden by project.json's ``presets``."""
        own = {n: Preset(n, spec, "project.json") for n, spec in self.spec.presets.items()}
        return {**BUILTIN_PRESETS, **self.workspace_presets, **own}

    def preset(self, name: str) -> Preset:
        presets = self.presets()
        if name not in presets:
            raise ProjectConfigError(
                f"{self.root / PROJECT_FILE}: field 'exports': unknown delivery preset {name!r}; known: "
                f"{', '.join(sorted(presets))}",
                path=self.root / PROJECT_FILE,
            )
        return presets[name]

    def exports(self) -> list[Preset]:
        """The presets project.json ``exports`` names, in its order (``ProjectConfigError`` for an unknown one)."""
        return [self.preset(name) for name in self.spec.exports]

    renders_dir = property(lambda self: self.root / RENDERS_DIR, doc="``03_Renders``: the shots' renders")
    cache_dir = property(lambda self: self.root / CACHE_DIR, doc="``05_Cache``: intermediates and stamps")
    exports_dir = property(lambda self: self.root / EXPORTS_DIR, doc="``06_Exports``: the deliveries")
    assemblies_dir = property(lambda self: self.root / ASSEMBLIES_DIR, doc="EDL, OTIO and FCP XML")

    def shot_dir(self, shot: str) -> Path:
        return self.renders_dir / shot

    def _folders(self) -> list[os.DirEntry[str]]:
        """Visible folders in 03_Renders (an unreadable 03_Renders is a typed error naming it)."""
        return [e for e in _scan(self.renders_dir, "renders folder") if not e.name.startswith(".") and _is_dir(e)]

    def shot_folders(self) -> list[str]:
        """Shot folders on disk (valid names only), in natural order."""
        names = []
        for entry in self._folders():
            if NAME_RE.fullmatch(entry.name):
                names.append(entry.name)
            else:
                log.debug("ignoring shot folder %r: invalid shot id", entry.path)
        return sorted(names, key=natural_key)

    def pending_folder(self, shot: str) -> bool:
        """A new shot folder that holds only files still being written (hidden, ``*.part``, ``*.tmp``...): not a
        shot yet, the render is on its way. An empty folder, or one whose render was deleted, is not pending."""
        try:
            names = [e.name for e in os.scandir(self.shot_dir(shot)) if e.is_file()]
        except OSError:
            return False
        return bool(names) and all(in_progress(n) for n in names)

    def ignored_folders(self) -> dict[str, str]:
        """Folders in 03_Renders that are no shot of the cut, and why: an invalid shot id, or (with an explicit
        ``sequence``) not listed in it. The planner says them once per build and status."""
        listed = {e.shot for e in self.spec.sequence} if self.spec.sequence is not None else None
        out: dict[str, str] = {}
        for entry in self._folders():
            if not NAME_RE.fullmatch(entry.name):
                out[entry.name] = "invalid shot id (use only letters, digits, '_' and '-')"
            elif listed is not None and entry.name not in listed:
                out[entry.name] = "not in project.json's sequence"
        return dict(sorted(out.items(), key=lambda kv: natural_key(kv[0])))

    def sequence(self) -> list[ShotRef]:
        """The cut's shots in story order: project.json's sequence, the generated one (``generate``: ``generate.py``),
        else every shot folder (natural order). A
        folder without a usable render is still a shot: it fails naming the folder (or is a placeholder); only
        a folder whose one content is a render still being written (``pending_folder``) waits.

        Read once per Project object (they are made fresh for each build step or sensor tick)."""
        if self._sequence is None:
            if self.spec.sequence is not None:
                self._sequence = [
                    ShotRef(
                        e.shot,
                        e.take,
                        e.scene,
                        e.beat,
                        e.notes,
                        _tracks_key(e.audio_tracks),
                        e.in_,
                        e.out,
                        *map(_transition, (e.transition_in, e.transition_out)),
                    )
                    for e in self.spec.sequence
                ]
            elif self.spec.generate is not None:  # a music video's sequence, drawn with a fixed seed
                from .generate import generated_refs

                self._sequence = generated_refs(self)
            else:
                # every shot folder, with or without a usable render: only removing the folder removes the shot
                self._sequence = [ShotRef(s) for s in self.shot_folders() if not self.pending_folder(s)]
        return list(self._sequence)

    def entries(self) -> list[ShotRef | CardRef]:
        """The cut in story order: every use of a shot (``sequence``) and every card of project.json's sequence."""
        shots = iter(self.sequence())
        if self.spec.entries is None:
            return list(shots)
        cards = iter(self.spec.cards())
        out: list[ShotRef | CardRef] = []
        for entry in self.spec.entries:
            if isinstance(entry, CardEntry):
                card_id, card = next(cards)
                frames = max(1, round(Fraction(str(card.seconds)) * self.spec.rate.fraction))
                out.append(CardRef(card_id, card.card, frames, card.background, card.colour, card.notes))
            else:
                out.append(next(shots))
        return out

    def card_image(self, card: CardRef) -> Path | None:
        """A card's background image (None for a colour), checked to lie inside the project folder:
        ``UnsafePathError`` naming the path, where it leads and project.json otherwise."""
        if card.background.startswith("#"):
            return None
        path = self.root / card.background
        self._confined(path, f"card {card.id}'s background {card.background!r}", "a card's image")
        return path

    def _confined(self, path: Path, what: str, kind: str) -> None:
        """``UnsafePathError`` naming project.json, ``what``, where ``path`` leads and the project folder when it
        resolves outside the project folder (``kind``: what must be a file of the project)."""
        target, root = path.resolve(), self.root.resolve()
        if not target.is_relative_to(root):
            raise UnsafePathError(
                f"{self.root / PROJECT_FILE}: {what} resolves to {target}, outside the project folder {root}: "
                f"{kind} must be a file of the project",
                path=self.root / PROJECT_FILE,
            )

    def music_tracks(self) -> list[Path]:
        """The music bed's tracks in play order: project.json ``music.tracks`` (relative to the project folder), else
        the audio files (``MUSIC_EXTENSIONS``) of the project's ``music/`` folder in natural order (hidden files and
        files still being written are skipped); none when ``music`` is false. Each must lie inside the project
        folder: ``UnsafePathError`` naming the path, where it leads and project.json otherwise. Whether each can be
        read is checked when it is fingerprinted (``music.music_values``), naming the file."""
        settings = self.spec.music_settings()
        if settings is None:
            return []
        if settings.tracks is not None:
            paths = [self.root / t for t in settings.tracks]
        else:
            folder = self.root / MUSIC_DIR
            names = [e.name for e in _scan(folder, "music folder") if not in_progress(e.name)
                     and e.name.lower().endswith(MUSIC_EXTENSIONS) and not _is_dir(e)]  # fmt: skip
            paths = [folder / name for name in sorted(names, key=natural_key)]
        for path in paths:
            self._confined(path, f"field 'music.tracks': {os.path.relpath(path, self.root)}", "a music track")
        return paths

    def has_music(self) -> bool:
        """Whether the cut gets a music bed (``music_tracks`` lists any)."""
        return bool(self.music_tracks())

    def mix_path(self) -> Path:
        """The delivered sound when there is music: the programme with the music bed, 48 kHz PCM."""
        return self.cache_dir / "mix" / f"{self.name}_mix.wav"

    def tracklist_paths(self) -> tuple[Path, Path]:
        """The music used, beside the EDL: ``<project>_tracklist.txt`` (to read) and ``.json`` (to parse)."""
        return (self.assemblies_dir / f"{self.name}_tracklist.txt", self.assemblies_dir / f"{self.name}_tracklist.json")

    def shots(self) -> list[str]:
        """Every shot of the cut once, in the order of its first use (a shot may be used more than once)."""
        return list(dict.fromkeys(ref.shot for ref in self.sequence()))

    def uses(self, shot: str) -> list[ShotRef]:
        """Every use of ``shot`` in the sequence, in story order."""
        return [r for r in self.sequence() if r.shot == shot]

    def ref(self, shot: str) -> ShotRef:
        """The shot's first use (its uses agree on take and audio tracks)."""
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

    def poster_path(self, shot: str) -> Path:
        """The shot's poster frame (``thumbnails.make_poster``)."""
        return self.cache_dir / "posters" / f"{shot}.jpg"

    def contact_sheet_path(self) -> Path:
        """The cut's contact sheet (``thumbnails.make_contact_sheet``)."""
        return self.cache_dir / "contact" / f"{self.name}_contact.jpg"

    def timeline_path(self) -> Path:
        return self.cache_dir / "timeline.json"

    def edl_path(self) -> Path:
        return self.assemblies_dir / f"{self.name}.edl"

    def otio_path(self) -> Path:
        return self.assemblies_dir / f"{self.name}.otio"

    def fcp_xml_path(self) -> Path:
        return self.assemblies_dir / f"{self.name}.xml"

    def delivery_path(self, preset: str) -> Path:
        return self.exports_dir / f"{self.name}_{preset}.{self.preset(preset).extension}"

    def segment_path(self, preset: str, shot: str) -> Path:
        """A shot's picture for one preset's delivery: ``05_Cache/segments/<preset>/<shot>.<mov|mkv>``."""
        return self.cache_dir / "segments" / preset / f"{shot}.{self.preset(preset).segment_muxer[1]}"

    def outputs(self, asset: str, shot: str | None = None) -> list[Path]:
        """The files one asset (a shot's partition, for picture, audio and ``segments_<preset>``) writes;
        ``delivery_<preset>`` too."""
        if asset == "picture" and shot:
            return [self.picture_path(shot)]
        if asset == "audio" and shot:
            return [self.audio_path(shot)]
        if asset.startswith("segments_") and shot:
            return [self.segment_path(asset.removeprefix("segments_"), shot)]
        fixed = {
            "timeline": [self.timeline_path()],
            "cut": [self.cut_path()],
            "edl": [self.edl_path()],
            "otio": [self.otio_path(), self.fcp_xml_path()],
            "mix": [self.mix_path(), *self.tracklist_paths()],
        }
        if asset in fixed:
            return fixed[asset]
        if asset.startswith("delivery_"):
            return [self.delivery_path(asset.removeprefix("delivery_"))]
        raise ValueError(f"no outputs known for asset {asset!r}")

    def stamps(self, asset: str, shot: str | None, version: str) -> list[Stamp]:
        """Stamps for the asset's outputs at ``version`` (see ``outputs.stamped``)."""
        return [Stamp(stamp_file(self.cache_dir, self.root, p), p, version) for p in self.outputs(asset, shot)]

    def built_version(self, asset: str, shot: str | None = None) -> str | None:
        """The version every output of the asset on disk was built from; None if any is missing, unstamped or
        changed since it was written."""
        found = {stamped_version(stamp_file(self.cache_dir, self.root, p), p) for p in self.outputs(asset, shot)}
        return found.pop() if len(found) == 1 and None not in found else None

    def output_dirs(self) -> list[Path]:
        """Every folder vidasm writes outputs into (where partial files of killed builds can be left)."""
        cache = self.cache_dir
        return [
            cache,
            *(
                cache / sub
                for sub in ("picture", "audio", "cut", "placeholder", "stamps", "segments", "posters", "contact")
            ),
            *(cache / "segments" / p for p in self.spec.exports),
            *([cache / "cards", *(cache / "cards" / p for p in self.spec.exports)] if self.spec.cards() else []),
            *(cache / "transitions" / f for f in ("cut", *self.spec.exports)),  # rendered sections (transitions.py)
            *([cache / "mix", cache / "music"] if self.spec.music_settings() is not None else []),
            self.assemblies_dir,
            self.exports_dir,
        ]


@dataclass
class Workspace:
    root: Path
    projects: dict[str, Project] = field(default_factory=dict)
    errors: dict[str, VidasmError] = field(default_factory=dict)
    clashing: set[str] = field(default_factory=set)  # projects that get no Dagster definitions (``dagster_name``)


def dagster_name(name: str) -> str:
    """A project or shot id in Dagster's job, group and partition-set name characters ([A-Za-z0-9_]): ``-`` as
    ``_`` (Dagster's rule for those names; asset keys and partition keys keep the id as it is)."""
    return name.replace("-", "_")


def _refuse_clashes(ws: Workspace) -> None:
    """Projects whose ids differ only by ``-`` against ``_`` (``p-1``, ``p_1``) would have the same job names:
    Dagster refuses the whole code location for that. Each of them is refused by name instead (and gets no
    definitions), so every other project still loads."""
    by_name: dict[str, list[str]] = {}
    for name in sorted([*ws.projects, *ws.errors]):
        if NAME_RE.fullmatch(name):
            by_name.setdefault(dagster_name(name), []).append(name)
    for same in by_name.values():
        if len(same) < 2:
            continue
        for name in same:
            others = ", ".join(repr(o) for o in same if o != name)
            pj = ws.root / name / PROJECT_FILE
            ws.projects.pop(name, None)
            ws.errors[name] = ProjectConfigError(
                f"{pj}: project folder {name!r} clashes with {others}: Dagster writes '-' as '_' in job and group "
                "names, so they would have the same ones; rename one of them",
                path=pj,
            )
            ws.clashing.add(name)


def discover_projects(root: Path) -> Workspace:
    """Every folder with a project.json; a broken one is reported (in ``errors``, not logged: the caller says it
    once), the others still load. Each project loads inside its own error boundary: whatever one folder holds
    (an unreadable, binary, huge or deeply nested project.json, a symlink out of the workspace) never stops the
    others from loading."""
    ws = Workspace(Path(root))
    if not ws.root.is_dir():
        return ws
    for entry in sorted(_scan(ws.root, "workspace"), key=lambda e: natural_key(e.name)):
        if entry.name.startswith(".") or not _is_dir(entry):
            continue
        pj = Path(entry.path) / PROJECT_FILE
        try:
            os.lstat(pj)  # a project.json that is a FIFO, a folder or a dangling symlink still marks a project
        except (FileNotFoundError, NotADirectoryError):
            continue
        except OSError as exc:  # a folder this user cannot look into (lost+found): no project of ours
            log.debug("not a project: cannot look into %s (%s)", entry.path, exc)
            continue
        if not NAME_RE.fullmatch(entry.name):
            ws.errors[entry.name] = ProjectConfigError(
                f"{pj}: project folder name {entry.name!r} is invalid: use only letters, digits, '_' and '-'",
                path=pj,
            )
            continue
        try:
            ws.projects[entry.name] = _load(ws.root, entry.name)
        except VidasmError as exc:
            ws.errors[entry.name] = exc
        except Exception as exc:
            ws.errors[entry.name] = ProjectConfigError(f"{pj}: cannot be loaded ({type(exc).__name__}: {exc})", path=pj)
    _refuse_clashes(ws)
    return ws


def load_project(root: Path, name: str) -> Project:
    if not NAME_RE.fullmatch(name or ""):
        raise ProjectConfigError(f"project name {name!r} is invalid: use only letters, digits, '_' and '-'")
    return _load(Path(root), name)


PRESETS_FILE = "presets.json"
"""The workspace's shared delivery presets: ``<workspace>/presets.json``, ``{"name": {preset}, ...}``."""


def load_workspace_presets(root: Path) -> dict[str, Preset]:
    """The presets of ``<workspace>/presets.json`` (none when there is no such file), each validated like a
    project's own; ``ProjectConfigError`` naming the file, the preset and the field otherwise."""
    path = Path(root) / PRESETS_FILE
    if not path.exists():
        return {}
    raw = _parse(limits.read_project_file(path), path)
    if not isinstance(raw, dict):
        raise ProjectConfigError(f"{path}: must hold a JSON object of presets", path=path)
    out = {}
    for name, value in raw.items():
        try:
            check_name(name, "preset name")
            out[name] = Preset(name, PresetSpec.model_validate(value), PRESETS_FILE)
        except (ValueError, ValidationError) as exc:
            said = problems(exc) if isinstance(exc, ValidationError) else [str(exc)]
            raise ProjectConfigError(f"{path}: preset {name!r}: " + "; ".join(said), path=path) from exc
    return out


def _load(root: Path, name: str) -> Project:
    folder = root / name
    project = Project(name, folder, load_spec(folder / PROJECT_FILE), workspace_presets=load_workspace_presets(root))
    check_exports(project)  # an unknown preset, or one that cannot export this sequence: said now, before any work
    for card in project.entries() if project.spec.cards() else []:  # a card's image outside the project: now
        if isinstance(card, CardRef):
            project.card_image(card)
    project.music_tracks()  # a music track outside the project folder: refused by name, now
    check_confined(project, root)
    return project


def check_exports(project: Project) -> None:
    """Every preset ``exports`` names exists and can export the sequence: ``ProjectConfigError`` naming the file,
    the preset's place in ``exports`` and the entry in its way. A preset that draws burn-ins cannot export a
    sequence with transitions yet (``assembly._delivery_pictures`` refuses it there too); said when the project
    loads, not after its shots were encoded."""
    presets = project.exports()
    path = project.root / PROJECT_FILE
    for i, preset in enumerate(presets):
        if not (preset.spec.burn_ins and preset.spec.video is not None):
            continue
        for j, entry in enumerate(project.spec.entries or []):
            for side in ("transition_in", "transition_out"):
                t = getattr(entry, side, None)
                if t is not None:
                    raise ProjectConfigError(
                        f"{path}: field 'exports[{i}]': preset {preset.name!r} draws burn-ins, which are not rendered "
                        f"over transitions yet, and sequence[{j}].{side} is a {t.type}: export another preset or "
                        "remove the transitions",
                        path=path,
                    )


def check_confined(project: Project, workspace: Path) -> None:
    """Outputs stay inside the workspace: a project folder or output folder (``05_Cache``, ``06_Exports``,
    ``04_Project_Files``...) that is a symlink resolving outside it is refused by name, unless project.json says
    ``"allow_outside_workspace": true``. Renders (read only) may be symlinks to anywhere. Files are never
    followed: every output is written to a temporary name and renamed over whatever was there."""
    if project.spec.allow_outside_workspace:
        return
    ws = workspace.resolve()
    for folder in [project.root, project.assemblies_dir.parent, *project.output_dirs()]:
        target = folder.resolve()
        if not target.is_relative_to(ws):
            raise UnsafePathError(
                f"{folder} resolves to {target}, outside the workspace {ws}: vidasm writes nothing outside the "
                f'workspace unless {project.root / PROJECT_FILE} says "allow_outside_workspace": true',
                path=folder,
            )


def stable_hash(*parts: Any) -> str:
    """Short deterministic hash of JSON-able parts: the basis of every data version."""
    blob = json.dumps(parts, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.blake2b(blob.encode(), digest_size=10).hexdigest()
