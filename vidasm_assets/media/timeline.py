"""The cut as an editorial model: clips in story order with exact frame durations.

This is what the EDL, OTIO and FCP XML writers consume and what the cut is assembled from. Durations are
whole frames at the timeline rate; nothing here is float seconds.

A render's start timecode is kept twice: as the file counts it (``source_timecode``: label, exact rate,
drop-frame flag) and as the record-rate source in an EDL needs (``source_start_frame``, relabelled by
``SourceTimecode.to_record_frame``).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from .rates import Rate
from .timecode import SourceTimecode


@dataclass(frozen=True)
class TimelineClip:
    """One shot on the timeline."""

    shot: str
    take: str  # the take label used, e.g. "v003" or "take02"
    clip_name: str  # the render's file stem, e.g. "sh010_v003"
    source_path: str  # the selected render file
    frames: int  # duration in timeline frames
    # source in, in timeline frames: the render's start timecode relabelled at the timeline rate (0 without one),
    # plus ``source_in``
    source_start_frame: int = 0
    scene: str | None = None
    beat: str | None = None
    notes: str | None = None
    placeholder: str | None = None  # why the shot is a slate instead of its render (None: a real shot)
    # a card (``cards.py``): what it shows (text, colours, background and its image's fingerprint); ``shot`` is then
    # the card's id and ``source_path`` its picture in 05_Cache (None: a shot)
    card: dict[str, Any] | None = None

    @property
    def generated(self) -> bool:
        """A card or a placeholder slate: drawn by vidasm, no shot's work (no partition, no segment)."""
        return self.placeholder is not None or self.card is not None

    audio_tracks: str | None = None  # which audio tracks are used, when the render has several or a choice was made
    source_timecode: SourceTimecode | None = None  # the render's start timecode at its own rate (None: it has none)
    source_timecode_error: str | None = None  # why the render's timecode tag is unreadable (the exports refuse it)
    # the first frame of the render used (sequence entry's ``in``), in timeline frames from the render's first frame;
    # the clip uses timeline frames [source_in, source_in + frames) of its render (``ranges.py``)
    source_in: int = 0
    # (type, frames) of the entry's transitions (``transitions.py``): ``transition_in`` a dissolve or dip from the
    # previous clip (the two overlap by its frames) or a fade_in from black; ``transition_out`` a fade_out to black
    transition_in: tuple[str, int] | None = None
    transition_out: tuple[str, int] | None = None

    @property
    def overlap(self) -> int:
        """Frames this clip overlaps the previous one by (a dissolve or dip into it), else 0."""
        t = self.transition_in
        return t[1] if t is not None and t[0] in ("dissolve", "dip") else 0


@dataclass(frozen=True)
class Overlay:
    """Text drawn over the cut (``overlays.py``), placed in record frames: ``start`` counted from the cut's first
    frame (0), for ``frames``. ``field`` is where project.json states it (``sequence[2].overlays[0]``,
    ``overlays[1]``), ``clip`` the index of the entry it belongs to (None: over the cut). ``size``: pixels at the
    timeline's height (int) or a share of the frame height (float)."""

    text: str
    start: int
    frames: int
    position: str = "lower_third"
    size: int | float | None = None
    colour: str = "#FFFFFF"
    box: bool = True
    field: str = "overlays[0]"
    clip: int | None = None

    @property
    def end(self) -> int:
        """The first record frame after it."""
        return self.start + self.frames


@dataclass(frozen=True)
class Timeline:
    """A project's cut: ordered clips at one rate, recorded from ``record_start``."""

    project: str
    rate: Rate
    clips: tuple[TimelineClip, ...]
    record_start: str = "01:00:00:00"
    width: int = 1920
    height: int = 1080
    overlays: tuple[Overlay, ...] = ()  # text over the cut (overlays.py), in record frames

    @property
    def total_frames(self) -> int:
        """The record length: the clips' frames minus the overlaps of their dissolves and dips (NLE convention)."""
        return sum(c.frames - c.overlap for c in self.clips)

    @property
    def has_transitions(self) -> bool:
        return any(c.transition_in or c.transition_out for c in self.clips)

    @property
    def has_sections(self) -> bool:
        """Whether the cut's picture has rendered sections (transitions or overlays) between stream-copied bodies."""
        return self.has_transitions or bool(self.overlays)

    def record_starts(self) -> list[int]:
        """Each clip's first record frame, counted from the cut's first frame (a dissolve starts the incoming clip
        its frames before the outgoing one ends)."""
        return record_starts(self.clips)

    def total_samples(self, sample_rate: int = 48000) -> int:
        """The cut's samples: each clip's own (``Rate.samples_for_frames``) minus each overlap's."""
        return sum(self.rate.samples_for_frames(c.frames, sample_rate) - self.rate.samples_for_frames(c.overlap,
                   sample_rate) for c in self.clips)  # fmt: skip

    def uses(self, shot: str) -> list[TimelineClip]:
        """Every clip of ``shot``, in story order (a shot may be used more than once)."""
        return [c for c in self.clips if c.shot == shot]

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["rate"] = [self.rate.num, self.rate.den]
        if not self.overlays:  # a timeline without overlays keeps its version
            d.pop("overlays")
        for clip, obj in zip(d["clips"], self.clips, strict=True):
            # optional keys only when set, so timelines without them keep their versions
            for key in (
                "placeholder",
                "audio_tracks",
                "source_timecode",
                "source_timecode_error",
                "transition_in",
                "transition_out",
            ):
                if clip.get(key) is None:
                    clip.pop(key, None)
            if not clip.get("source_in"):
                clip.pop("source_in", None)
            if clip.get("card") is None:  # a shot
                clip.pop("card", None)
            if obj.source_timecode is not None:
                clip["source_timecode"] = obj.source_timecode.to_dict()
        return d

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Timeline:
        return cls(
            project=d["project"],
            rate=Rate(*d["rate"]),
            clips=tuple(_clip_from_dict(c) for c in d["clips"]),
            record_start=d.get("record_start", "01:00:00:00"),
            width=d.get("width", 1920),
            height=d.get("height", 1080),
            overlays=tuple(Overlay(**o) for o in d.get("overlays", ())),
        )

    @classmethod
    def from_json(cls, text: str) -> Timeline:
        return cls.from_dict(json.loads(text))


def _clip_from_dict(d: dict[str, Any]) -> TimelineClip:
    tc = d.get("source_timecode")
    tr = {k: tuple(d[k]) for k in ("transition_in", "transition_out") if d.get(k)}
    return TimelineClip(**{**d, "source_timecode": SourceTimecode.from_dict(tc) if tc else None, **tr})


def record_starts(clips: Sequence[TimelineClip]) -> list[int]:
    """Each of ``clips``' first record frame, counted from the cut's first frame (a dissolve or dip starts the
    incoming clip its ``overlap`` frames before the outgoing one ends): ``Timeline.record_starts``, also for clips
    not yet in a timeline (``overlays.resolve_overlays``)."""
    out, at = [], 0
    for c in clips:
        at -= c.overlap
        out.append(at)
        at += c.frames
    return out
