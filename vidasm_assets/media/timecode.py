"""Start timecodes of renders, read at their own rate, and the record-rate source in they become.

A SMPTE timecode label is a frame number written at the timecode's own rate (ST 12-1), not a clock reading:
``10:00:00:24`` is frame 900024 of a 25 fps count, and only means something together with that rate and its
drop-frame flag (OpenTimelineIO PR #1477: "timecode should be treated as frame number encoding and is not
always reliable to be a timestamp"). A render's label is therefore parsed at the render's timecode rate and
drop-frame mode, never at the timeline's.

A CMX3600 EDL has one frame-count mode, so a render at another rate must have its start written as a label
at the record rate. vidasm relabels by **label time**: the label's ``HH:MM:SS`` are kept and its frames are
scaled to the record rate, rounding down (``to_record_frame``). So 25 fps ``10:00:00:24`` is ``10:00:00:23``
at 23.976 and ``10:00:00;28`` at 29.97 DF; 29.97 DF ``01:00:00;00`` is ``01:00:00:00`` at 23.976. This is how
post relates timecodes of different rates: 24 and 30 frame timecodes of the same material "sync at the top of
every second" in Avid's 24-frame matchback EDLs (24p.com, *24 Frame EDL Creation*), and Final Cut Pro's
"24 @ 25" keeps a source's 25 fps timecode while it plays at 24 (Apple, *Cinema Tools 4 User Manual*).
Converting by elapsed seconds instead would drift 3.6 s per hour of label between 1000/1001 and integer
rates (non-drop 23.976 labels run 0.1 % slow): 25 fps ``10:00:00:24`` would become 23.976 ``09:59:24:23``,
36 s away from every frame of the render. The label rule is exact (integer arithmetic), and the result is
the record frame whose label time span holds the source label's time, so it is the same moment within one
record frame of label time. Where the record count is drop frame and the scaled label is one of the labels
drop frame skips, that is the frame before the gap (``00:00:59;29`` for ``00:01:00;00``). The rule applies
between drop and non-drop counts too: a 29.97 render counting non-drop keeps its label in a drop-frame
timeline (``01:00:00:00`` -> ``01:00:00;00``, 108 frames an hour apart in frame count), as it does in every
other pair; only the same count and mode keep the frame number.

The render's own timecode (label, rate, drop-frame flag) is kept alongside, for the FCP XML ``<file>`` and
OTIO media ranges, which can say it exactly.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from .errors import SourceTimecodeError
from .probe import MediaInfo
from .rates import Rate

_LABEL_RE = re.compile(r"(\d{2})([:;])(\d{2})([:;])(\d{2})([:;])(\d{2,3})", re.ASCII)


def is_drop_frame(rate: Rate) -> bool:
    """Whether a timeline at ``rate`` counts drop frame: 29.97 and 59.94 do; every other rate (23.976 too)
    counts every frame."""
    return rate.is_ntsc and rate.nominal in (30, 60)


def nominal_fps(rate: Rate) -> int:
    """Frames per timecode second at ``rate``: the rate rounded half up (30 at 29.97, 15 at 15), as FFmpeg's
    ``av_timecode_init`` counts."""
    return (rate.num + rate.den // 2) // rate.den


def dropped_per_minute(nominal: int) -> int:
    """Labels drop frame skips at the start of each minute not divisible by 10: 2 at 30, 4 at 60 (ST 12-1)."""
    return nominal // 15


def _check_counting(nominal: int, drop_frame: bool) -> None:
    if nominal < 1:
        raise ValueError(f"a timecode needs at least 1 frame a second, got {nominal}")
    if drop_frame and nominal % 30:
        raise ValueError(f"drop-frame timecode exists only at multiples of 30 frames a second, not {nominal}")


def frame_of(hours: int, minutes: int, seconds: int, frames: int, nominal: int, drop_frame: bool) -> int:
    """Frame number (from 00:00:00:00) of a label counted at ``nominal`` frames a second.

    Raises ValueError for fields out of range (hours 00-23, minutes and seconds 00-59, frames below
    ``nominal``) and for a label drop frame skips.
    """
    _check_counting(nominal, drop_frame)
    if not (0 <= hours <= 23 and 0 <= minutes <= 59 and 0 <= seconds <= 59 and 0 <= frames < nominal):
        raise ValueError(f"hours 00-23, minutes and seconds 00-59 and frames 00-{nominal - 1:02d} are allowed")
    total_minutes = hours * 60 + minutes
    frame = (total_minutes * 60 + seconds) * nominal + frames
    if not drop_frame:
        return frame
    drops = dropped_per_minute(nominal)
    if seconds == 0 and minutes % 10 and frames < drops:
        raise ValueError(f"drop frame skips frames 00-{drops - 1:02d} at minutes not divisible by 10")
    return frame - drops * (total_minutes - total_minutes // 10)


def label_of(frame: int, nominal: int, drop_frame: bool) -> str:
    """The label of a frame number (``;`` before the frames when drop frame), hours wrapping at 24."""
    _check_counting(nominal, drop_frame)
    if frame < 0:
        raise ValueError(f"frame {frame} is before 00:00:00:00")
    if drop_frame:
        drops = dropped_per_minute(nominal)
        per_minute = nominal * 60 - drops
        per_ten = per_minute * 10 + drops
        tens, rest = divmod(frame, per_ten)
        frame += drops * 9 * tens + (drops * ((rest - drops) // per_minute) if rest >= drops else 0)
    seconds, frames = divmod(frame, nominal)
    minutes, seconds = divmod(seconds, 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours % 24:02d}:{minutes:02d}:{seconds:02d}{';' if drop_frame else ':'}{frames:02d}"


def parse_label(text: str) -> tuple[int, int, int, int, bool]:
    """``(hours, minutes, seconds, frames, drop_frame)`` of ``HH:MM:SS:FF``; a ``;`` anywhere marks drop frame
    (FFmpeg writes it before the frames, some tools between every field). Raises ValueError for anything else."""
    m = _LABEL_RE.fullmatch(text.strip()) if isinstance(text, str) else None
    if m is None:
        raise ValueError(f"{text!r} is not a timecode of the form HH:MM:SS:FF")
    return int(m[1]), int(m[3]), int(m[5]), int(m[7]), ";" in (m[2], m[4], m[6])


def relabel(
    hours: int, minutes: int, seconds: int, frames: int, nominal: int, to_nominal: int, to_drop_frame: bool
) -> int:
    """Frame number, in a count of ``to_nominal`` frames a second, of the label ``HH:MM:SS:FF`` counted at
    ``nominal``: ``HH:MM:SS`` kept, frames scaled down to ``floor(FF * to_nominal / nominal)``; a label drop
    frame skips becomes the frame before the gap. The label time of the result is at most that of the source
    label and less than one destination frame before it (the module docstring says why this rule)."""
    _check_counting(to_nominal, to_drop_frame)
    scaled = frames * to_nominal // nominal
    drops = dropped_per_minute(to_nominal) if to_drop_frame else 0
    if seconds == 0 and minutes % 10 and scaled < drops:  # a label drop frame skips: the frame before the gap
        return frame_of(hours, minutes, 0, drops, to_nominal, to_drop_frame) - 1
    return frame_of(hours, minutes, seconds, scaled, to_nominal, to_drop_frame)


@dataclass(frozen=True)
class SourceTimecode:
    """A render's start timecode exactly as the file counts it.

    ``label`` is normalized (``HH:MM:SS:FF``, or ``HH:MM:SS;FF`` when ``drop_frame``); ``rate`` is the exact
    rate the timecode counts at (the QuickTime timecode track's, else the picture's).
    """

    label: str
    rate: Rate
    drop_frame: bool = False

    @classmethod
    def parse(cls, text: str, rate: Rate, *, drop_frame: bool | None = None) -> SourceTimecode:
        """Read ``text`` at ``rate``; drop frame when it has a ``;``, or as ``drop_frame`` says when given (a label
        read in a render's own counting, whatever its separator). ValueError saying why it is not a label there."""
        hours, minutes, seconds, frames, drop = parse_label(text)
        drop = drop if drop_frame is None else drop_frame
        nominal = nominal_fps(rate)
        if drop and nominal % 30:
            raise ValueError(f"{text!r} is drop frame (';'), which does not exist at {rate} fps")
        kind = "drop-frame" if drop else "non-drop"
        try:
            frame = frame_of(hours, minutes, seconds, frames, nominal, drop)
        except ValueError as exc:
            raise ValueError(f"{text!r} is not a {kind} timecode at {rate} fps ({exc})") from exc
        return cls(label_of(frame, nominal, drop), rate, drop)

    @property
    def nominal(self) -> int:
        """Frames per timecode second (30 at 29.97)."""
        return nominal_fps(self.rate)

    @property
    def frame(self) -> int:
        """The label's frame number at its own rate, from 00:00:00:00."""
        hours, minutes, seconds, frames, _ = parse_label(self.label)
        return frame_of(hours, minutes, seconds, frames, self.nominal, self.drop_frame)

    def to_record_frame(self, record: Rate) -> int:
        """The record-rate frame number of this label, relabelled by label time (``relabel``), counted drop frame
        when a timeline at ``record`` is (``is_drop_frame``). Exact at the same nominal rate and mode."""
        hours, minutes, seconds, frames, _ = parse_label(self.label)
        return relabel(hours, minutes, seconds, frames, self.nominal, nominal_fps(record), is_drop_frame(record))

    def media_frames(self, record_frames: int | Fraction, record: Rate) -> Fraction:
        """A span of record frames as frames of this timecode's own rate (by elapsed time: the conform retimes
        the render by timestamp, so a use of it lasts as long in the render as in the cut)."""
        return Fraction(record_frames) * self.rate.fraction / record.fraction

    def to_dict(self) -> dict[str, Any]:
        return {"label": self.label, "rate": [self.rate.num, self.rate.den], "drop_frame": self.drop_frame}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> SourceTimecode:
        return cls(d["label"], Rate(*d["rate"]), bool(d["drop_frame"]))


def read_source_timecode(info: MediaInfo) -> SourceTimecode | None:
    """A probed render's start timecode at its own rate and drop-frame mode; None when it carries none.

    The label is the container's or picture stream's ``timecode`` tag (FFmpeg writes it from a QuickTime
    ``tmcd`` track, MXF or Matroska tags, with ``;`` when the track is flagged drop frame); the rate is the
    ``tmcd`` track's own (``MediaInfo.timecode_rate``), else the picture's, snapped to its standard rate.
    Raises ``SourceTimecodeError`` naming the file when the tag is not a timecode at that rate.
    """
    text = info.timecode
    if text is None or not text.strip():
        return None
    fps = info.timecode_rate or (info.video.rate if info.video else None)
    if not fps:
        raise SourceTimecodeError(
            f"{info.path}: start timecode {text!r} but no frame rate to count it at", path=info.path
        )
    rate = Rate.from_fps(Fraction(fps))
    try:
        return SourceTimecode.parse(text, rate)
    except ValueError as exc:
        raise SourceTimecodeError(f"{info.path}: unreadable start timecode: {exc}", path=info.path) from exc
