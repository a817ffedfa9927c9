"""Trims and repeated shots: which frames of a render each use of a shot takes.

A sequence entry's ``in``/``out`` (project.json) is the used range of the render, ``out`` exclusive (the first frame
*not* used, as a CMX3600 source out or an OTIO ``TimeRange`` end), default the whole render. Each is a frame number
of the render (counted from its first frame, at the render's own picture rate) or a timecode label in the render's
own source timecode, read at that timecode's own rate (``timecode.read_source_timecode``; a render without one
counts from 00:00:00:00 at its picture rate). A point is turned into a time from the render's first frame, exactly
(``Fraction``), then into a timeline frame, rounded to the nearest (the conform retimes the render by timestamp);
at the same rate that is the frame itself. Nothing here is float seconds.

**The design, and why.** A shot's per-shot work (its ``picture`` and ``audio`` partition and its segments of each
preset) covers the *span* of its uses: from the earliest ``in`` to the latest ``out`` of the shot's entries, the
whole render when no entry trims it. So:

- an entry without ``in``/``out`` builds byte-identically to before (same commands, same data versions): the span
  is the whole render and no keyframe is forced;
- a shot used once with a trim is conformed (one generation, from the render) over exactly the used frames, and its
  audio measured and normalized over exactly that part: the cut and the deliveries join it by stream copy as
  before, with nothing extra to encode; less work than the whole render;
- a shot used several times is conformed once (the uses share it), with a keyframe forced at every other entry's
  boundary inside the span (closed GOP: an IDR frame there). The cut and the deliveries then split the shared
  picture there by stream copy (``commands.split_cmd``, the segment muxer) and join the pieces each use needs;
  its audio piece is cut from the shared PCM on the samples (lossless). No picture is encoded twice.

The alternatives were worse: cutting a conformed shot at an arbitrary frame by stream copy is not frame exact
(the concat demuxer's ``inpoint``/``outpoint`` land on GOP boundaries and ``outpoint`` counts decode timestamps),
re-encoding each use from the conform is a second generation, and one conform per use would encode the same
frames twice. The price: changing one entry's range re-encodes that shot (its span or keyframes may move) and
re-joins the cut and deliveries, nothing in any other shot (``shot_uses`` is part of the shot's data versions, the
timeline's clip ranges of the roll-ups'); a shot's loudness is measured over its span, so two uses of one shot share
one gain.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from .errors import RangeError, SourceTimecodeError
from .probe import MediaInfo, require_video
from .project import Project, ShotRef, Take
from .rates import Rate
from .timecode import SourceTimecode, label_of, read_source_timecode


class Frames:
    """Frames ``[start, end)``, ``end`` exclusive: what ``FrameRange`` and ``transitions.Part`` share."""

    start: int
    end: int

    @property
    def frames(self) -> int:
        """How many frames: ``end - start``."""
        return self.end - self.start


@dataclass(frozen=True, order=True)
class FrameRange(Frames):
    """Timeline frames ``[start, end)`` of a render (0: the render's first frame), ``end`` exclusive."""

    start: int
    end: int


@dataclass(frozen=True)
class ShotSpan:
    """What a shot's per-shot work covers: ``span`` (timeline frames of the render) and ``cuts``, the frames
    (counted from the span's start) where another use starts or ends, each a forced keyframe."""

    span: FrameRange
    cuts: tuple[int, ...] = ()

    def pieces(self) -> list[FrameRange]:
        """The pieces the shared picture splits into at ``cuts``, in frames from the span's start."""
        edges = [0, *self.cuts, self.span.frames]
        return [FrameRange(a, b) for a, b in itertools.pairwise(edges)]

    def piece_indices(self, use: FrameRange) -> list[int]:
        """Which ``pieces`` make up ``use`` (in the render's timeline frames); ValueError when ``use`` does not fall
        on the cuts (the picture was conformed for other uses)."""
        a, b = use.start - self.span.start, use.end - self.span.start
        pieces = self.pieces()
        starts = [p.start for p in pieces]
        ends = [p.end for p in pieces]
        if a not in starts or b not in ends:
            raise ValueError(f"frames {use.start}-{use.end} do not fall on the shot's cuts {self.cuts}")
        return list(range(starts.index(a), ends.index(b) + 1))


def span_of(uses: Sequence[FrameRange]) -> ShotSpan:
    """The span of a shot's uses and the cuts between them (none for one use: its conform is exactly the use)."""
    span = FrameRange(min(u.start for u in uses), max(u.end for u in uses))
    edges = {e - span.start for u in uses for e in (u.start, u.end)} - {0, span.frames}
    return ShotSpan(span, tuple(sorted(edges)))


def shot_uses(project: Project, shot: str) -> list[list[Any]] | None:
    """The ``in``/``out`` of every use of ``shot`` as project.json writes them, for its data versions; None when no
    use trims the render (so an untrimmed shot, even used twice, keeps the versions it had without trims)."""
    uses = project.uses(shot)
    if not any(r.trimmed for r in uses):
        return None
    return [[r.in_, r.out] for r in uses]


def _render_rate(info: MediaInfo) -> Rate:
    video = require_video(info)
    if not video.rate:
        raise RangeError(f"{info.path}: no frame rate to count in/out frames at", path=info.path)
    return Rate.from_fps(Fraction(video.rate))


def _half_up(x: Fraction) -> int:
    return (x + Fraction(1, 2)).__floor__()


@dataclass(frozen=True)
class _Render:
    """A render as in/out points are read against it: its picture rate, length and source timecode."""

    info: MediaInfo
    rate: Rate  # picture rate, exact
    frames: int  # length in frames at ``rate``
    timecode: SourceTimecode | None

    @classmethod
    def of(cls, info: MediaInfo) -> _Render:
        rate = _render_rate(info)
        frames = rate.seconds_to_frames(require_video(info).duration)
        return cls(info, rate, frames, None)

    def with_timecode(self) -> _Render:
        """The render's source timecode (a ``SourceTimecodeError`` naming the file when its tag is unreadable)."""
        tc = read_source_timecode(self.info) or SourceTimecode(label_of(0, self.rate.nominal, False), self.rate)
        return _Render(self.info, self.rate, self.frames, tc)

    def length_text(self) -> str:
        """``48 frames (00:00:02:00 at 24 fps), source timecode 01:00:00:00-01:00:02:00``."""
        text = f"{self.frames} frames ({label_of(self.frames, self.rate.nominal, False)} at {self.rate} fps)"
        try:
            tc = read_source_timecode(self.info)
        except SourceTimecodeError:
            tc = None
        if tc is not None:
            end = tc.frame + _half_up(Fraction(self.frames) * tc.rate.fraction / self.rate.fraction)
            text += f", source timecode {tc.label}-{label_of(end, tc.nominal, tc.drop_frame)}"
        else:
            text += ", no source timecode (its timecodes count from 00:00:00:00)"
        return text

    def seconds(self, point: int | str) -> Fraction:
        """The time of ``point`` from the render's first frame; RangeError for a timecode before its start or not
        in the render's counting.

        A timecode is read in the render's own counting, drop frame or not, whatever its separator: a label
        written ``00:10:00:10`` (colons, as many tools and people write drop-frame labels) on a drop-frame render
        is its frame ``00:10:00;10``. Read as non-drop, it would land 18 frames later at 10 minutes, 108 at an
        hour, and silently use other frames than the editor asked for."""
        if isinstance(point, int):
            return self.rate.frames_to_seconds(point)
        tc = self.with_timecode().timecode
        assert tc is not None
        try:
            frame = SourceTimecode.parse(point, tc.rate, drop_frame=tc.drop_frame).frame
        except ValueError as exc:
            counting = "drop-frame" if tc.drop_frame else "non-drop"
            raise RangeError(f"{point!r} is no timecode of {self.info.path}, which counts {counting} from "
                             f"{tc.label}: {exc}", path=self.info.path) from exc  # fmt: skip
        if frame < tc.frame:
            raise RangeError(
                f"{point} is before the start timecode {tc.label} of {self.info.path}", path=self.info.path
            )
        return Fraction(frame - tc.frame) * tc.rate.den / tc.rate.num


def entry_range(ref: ShotRef, take: Take, info: MediaInfo, rate: Rate, shot_frames: int) -> FrameRange:
    """The timeline frames ``[start, end)`` of the render one use of a shot takes (``rate``: the timeline's;
    ``shot_frames``: the whole render in timeline frames, ``shots.shot_frames``).

    Raises ``RangeError`` naming the shot, the take and the render's length in frames and timecode when the range
    ends past the render's end, when out is not after in, when it is shorter than one timeline frame, or when a
    timecode is not one of the render's."""
    if not ref.trimmed:
        return FrameRange(0, shot_frames)
    render = _Render.of(info)
    where = f"take {take.label} ({take.path.name})"
    try:
        t_in = render.seconds(ref.in_) if ref.in_ is not None else Fraction(0)
        t_out = render.seconds(ref.out) if ref.out is not None else None
    except (RangeError, SourceTimecodeError) as exc:
        raise RangeError(f"{where}: {exc.message}", path=take.path, shot=ref.shot) from exc
    length = render.rate.frames_to_seconds(render.frames)
    for name, point, t in (("in", ref.in_, t_in), ("out", ref.out, t_out)):
        if t is not None and (t > length or (name == "in" and t >= length)):
            raise RangeError(
                f"{where}: {name} {point!r} is past the end of the render, which has {render.length_text()}",
                path=take.path,
                shot=ref.shot,
            )
    if t_out is not None and t_out <= t_in:
        raise RangeError(
            f"{where}: out {ref.out!r} must be after in {ref.in_!r} (out is exclusive: the first frame not used)",
            path=take.path,
            shot=ref.shot,
        )
    start = min(shot_frames, _half_up(t_in * rate.fraction))
    end = shot_frames if t_out is None or t_out == length else min(shot_frames, _half_up(t_out * rate.fraction))
    if end <= start:
        raise RangeError(
            f"{where}: in {ref.in_!r} to out {ref.out!r} is shorter than one frame at the timeline's {rate} fps",
            path=take.path,
            shot=ref.shot,
        )
    return FrameRange(start, end)


def shot_span(project: Project, shot: str, take: Take, info: MediaInfo, shot_frames: int) -> ShotSpan:
    """What the shot's per-shot work covers: the span of all its uses, with the cuts between them."""
    rate = project.spec.rate
    return span_of([entry_range(r, take, info, rate, shot_frames) for r in project.uses(shot)])
