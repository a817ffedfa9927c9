"""The cut as an editorial model: clips in story order with exact frame durations.

This is what the EDL, OTIO and FCP XML writers consume and what the cut is assembled from. Durations are
whole frames at the timeline rate; nothing here is float seconds.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

from .rates import Rate


@dataclass(frozen=True)
class TimelineClip:
    """One shot on the timeline."""

    shot: str
    take: str  # the take label used, e.g. "v003" or "take02"
    clip_name: str  # the render's file stem, e.g. "sh010_v003"
    source_path: str  # the selected render file
    frames: int  # duration in timeline frames
    source_start_frame: int = 0  # the render's start timecode, in timeline frames (0 if it has none)
    scene: str | None = None
    beat: str | None = None
    notes: str | None = None
    placeholder: str | None = None  # why the shot is a slate instead of its render (None: a real shot)
    audio_tracks: str | None = None  # which audio tracks are used, when the render has several or a choice was made


@dataclass(frozen=True)
class Timeline:
    """A project's cut: ordered clips at one rate, recorded from ``record_start``."""

    project: str
    rate: Rate
    clips: tuple[TimelineClip, ...]
    record_start: str = "01:00:00:00"
    width: int = 1920
    height: int = 1080
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def total_frames(self) -> int:
        return sum(c.frames for c in self.clips)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["rate"] = [self.rate.num, self.rate.den]
        for clip in d["clips"]:  # optional keys only when set, so timelines without them keep their versions
            for optional in ("placeholder", "audio_tracks"):
                if clip.get(optional) is None:
                    clip.pop(optional, None)
        return d

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Timeline:
        return cls(
            project=d["project"],
            rate=Rate(*d["rate"]),
            clips=tuple(TimelineClip(**c) for c in d["clips"]),
            record_start=d.get("record_start", "01:00:00:00"),
            width=d.get("width", 1920),
            height=d.get("height", 1080),
            extra=d.get("extra", {}),
        )

    @classmethod
    def from_json(cls, text: str) -> Timeline:
        return cls.from_dict(json.loads(text))
