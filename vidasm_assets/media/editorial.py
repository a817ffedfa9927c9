"""Editorial interchange for a cut: CMX3600 EDL, OpenTimelineIO and FCP 7 XML.

The EDL is written here rather than by OTIO's ``cmx_3600`` adapter, which writes no ``FCM:`` line, ignores
the record start and truncates reel names without keeping them unique. All record-rate timecode arithmetic
(drop frame included) still goes through ``opentimelineio.opentime`` so the labels are the ones OTIO and the
NLEs read back. Frame counts stay integers throughout; the float rate is only what OTIO's API takes.

A render whose start timecode counts at another rate or drop-frame mode than the timeline: the EDL (one
FCM) gets its start relabelled at the record rate (``timecode.py``) and the render's own timecode as a
``* SOURCE TIMECODE:`` remark; the OTIO media reference and the FCP XML ``<file>`` keep the render's own rate,
timecode and drop-frame flag, and the clip's source range is measured from them.
"""

from __future__ import annotations

import dataclasses
import math
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from fractions import Fraction
from pathlib import Path, PurePath
from typing import Any
from xml.dom import minidom
from xml.etree import ElementTree

import opentimelineio as otio
from opentimelineio import opentime

from .errors import SourceTimecodeError
from .outputs import atomic_output
from .rates import TIMELINE_RATES, Rate
from .timecode import SourceTimecode, is_drop_frame, nominal_fps
from .timeline import Overlay, Timeline, TimelineClip


class EdlStyle(str, Enum):
    """The NLE dialect a CMX3600 EDL is written in (project.json ``editorial.edl_style``)."""

    RESOLVE = "resolve"
    PREMIERE = "premiere"
    AVID = "avid"


@dataclass(frozen=True)
class StyleRules:
    """Where the dialects differ, and only there (as OpenTimelineIO's cmx_3600 adapter keeps its styles)."""

    reel_separator: str  # between shot and take in a reel name ("" where "_" is refused)
    counter: str  # the prefix of a counter making a reel name unique
    remarks: bool  # vidasm's remarks beyond FROM CLIP NAME / SOURCE FILE (take, scene, timecode, tracks)


STYLE_RULES: dict[EdlStyle, StyleRules] = {
    # reels [A-Z0-9_]{1,8}; every remark
    EdlStyle.RESOLVE: StyleRules(reel_separator="_", counter="_", remarks=True),
    # Premiere misreads remarks it does not expect (OTIO's writer leaves out its FROM CLIP: path line for it
    # because clips then import as UNKNOWN): take and story metadata go to the OTIO and FCP XML exports only
    EdlStyle.PREMIERE: StyleRules(reel_separator="_", counter="_", remarks=False),
    # Avid rejects the underscore in reel names: [A-Z0-9]{1,8}
    EdlStyle.AVID: StyleRules(reel_separator="", counter="X", remarks=True),
}
EDL_STYLES: tuple[str, ...] = tuple(s.value for s in EdlStyle)
"""Dialects ``write_cmx3600`` can write; ``resolve`` is the default."""

EDL_TRACK = "AA/V"
"""Picture plus audio channels 1 and 2: the one code pycmx and OTIO's reader both expand to V, A1, A2."""

REEL_MAX = 8
# Source names the readers treat as black, bars or an auxiliary source rather than a tape.
CARD_REEL = "AX"
"""The reel of a card's event: CMX3600's auxiliary source (no tape), read as a clip by pycmx and OTIO."""
_RESERVED_REELS = frozenset({"AX", "BL", "BLACK", "BARS"})
_TIMECODE_RE = re.compile(r"(\d{2}):(\d{2}):(\d{2})([:;])(\d{2})", re.ASCII)
_TAKE_RE = re.compile(r"(v|take)0*(\d+)", re.IGNORECASE | re.ASCII)


# --------------------------------------------------------------------------- timecode


def _check_rate(rate: Rate) -> None:
    if not isinstance(rate, Rate) or not opentime.RationalTime.is_valid_timecode_rate(rate.fps):
        allowed = ", ".join(str(r) for r in TIMELINE_RATES)
        raise ValueError(f"rate {rate!r} has no SMPTE timecode; use one of {allowed}")


def frames_to_timecode(frame: int, rate: Rate) -> str:
    """``HH:MM:SS:FF`` (``;`` before the frames for drop frame) of a frame number, via OTIO."""
    fps = rate.fps
    return opentime.to_timecode(opentime.RationalTime(frame, fps), fps, is_drop_frame(rate))


def timecode_to_frames(timecode: str, rate: Rate, *, what: str = "timecode") -> int:
    """Frame number of a timecode label at ``rate``, rejecting labels that do not exist.

    ``:`` and ``;`` are both accepted before the frames at drop-frame rates, so the default
    ``01:00:00:00`` means 01:00:00;00 at 29.97 (as an NLE would show it). OTIO alone is lenient here (it
    maps the dropped label 00:01:00;00 onto 00:00:59;28 and wraps past 24 hours), so a label is valid only
    if it survives a round trip.
    """
    _check_rate(rate)
    drop = is_drop_frame(rate)
    m = _TIMECODE_RE.fullmatch(timecode.strip()) if isinstance(timecode, str) else None
    if m is None:
        raise ValueError(f"{what} {timecode!r} is not a timecode of the form HH:MM:SS:FF")
    if m[4] == ";" and not drop:
        raise ValueError(f"{what} {timecode!r} uses the drop-frame ';' separator, but {rate} fps timecode is non-drop")
    label = f"{m[1]}:{m[2]}:{m[3]}{';' if drop else ':'}{m[5]}"
    kind = "drop-frame" if drop else "non-drop"
    try:
        value = opentime.from_timecode(label, rate.fps).value
    except ValueError as exc:
        raise ValueError(f"{what} {timecode!r} is not a valid {kind} timecode at {rate} fps: {exc}") from exc
    frame = round(value)
    if frames_to_timecode(frame, rate) != label:
        rule = "hours 00-23, minutes and seconds 00-59"
        if drop:
            rule += f"; frames 00-{rate.nominal // 15 - 1:02d} are skipped at minutes not divisible by 10"
        raise ValueError(f"{what} {timecode!r} is not a valid {kind} timecode at {rate} fps ({rule})")
    return frame


def _day_frames(rate: Rate) -> int:
    """Frames in 24 hours of timecode: the first frame number whose label wraps to 00:00:00:00."""
    return timecode_to_frames(f"23:59:59:{rate.nominal - 1:02d}", rate) + 1


# --------------------------------------------------------------------------- validation


def _one_line(text: object) -> str:
    """A value as a single printable line (EDL comments end at the newline)."""
    return "".join(ch for ch in " ".join(str(text).split()) if ch.isprintable())


def _check_clip(index: int, clip: TimelineClip, rate: Rate) -> None:
    """A clip the writers can place. SourceTimecodeError (naming the render) when its timecode was unreadable."""
    where = f"clip {index + 1} ({clip.clip_name!r})"
    if clip.source_timecode_error:
        raise SourceTimecodeError(
            f"shot {clip.shot}: no source timecode can be written: {clip.source_timecode_error}",
            path=clip.source_path,
        )
    if isinstance(clip.frames, bool) or not isinstance(clip.frames, int) or clip.frames <= 0:
        raise ValueError(f"{where}: frames must be a positive whole number, got {clip.frames!r}")
    start = clip.source_start_frame
    if isinstance(start, bool) or not isinstance(start, int) or start < 0:
        raise ValueError(f"{where}: source_start_frame must be a whole number >= 0, got {start!r}")
    if clip.source_timecode is not None and start < clip.source_timecode.to_record_frame(rate):
        raise ValueError(
            f"{where}: source_start_frame {start} is before the render's own start timecode "
            f"{clip.source_timecode.label} ({frames_to_timecode(clip.source_timecode.to_record_frame(rate), rate)} "
            f"at {rate} fps)"
        )
    if not _one_line(clip.clip_name):
        raise ValueError(f"{where}: clip_name is empty")


def _record_start_frame(timeline: Timeline) -> int:
    return timecode_to_frames(timeline.record_start, timeline.rate, what="record_start")


# --------------------------------------------------------------------------- reel names


def _alnum(text: str) -> str:
    return re.sub(r"[^A-Z0-9]", "", text.upper())


def _take_token(take: str) -> str:
    """``v003`` -> ``V3``, ``take02`` -> ``T2``; anything else: its letters and digits, at most 4."""
    m = _TAKE_RE.fullmatch(take.strip())
    if m:
        return ("V" if m[1].lower() == "v" else "T") + str(int(m[2]))
    return _alnum(take)[:4]


def _base_reel(clip: TimelineClip, style: EdlStyle) -> str:
    """Shot plus compact take in 8 characters; a long shot id keeps its end, where shot numbers live."""
    shot, take = _alnum(clip.shot), _take_token(clip.take)
    if STYLE_RULES[style].reel_separator and shot and take and len(shot) + 1 + len(take) <= REEL_MAX:
        return f"{shot}_{take}"
    take = take[:REEL_MAX]
    room = REEL_MAX - len(take)
    return (shot[max(len(shot) - room, 0) :] + take) or "REEL"


def reel_names(timeline: Timeline, style: EdlStyle | str = EdlStyle.RESOLVE) -> dict[str, str]:
    """Reel name per source file, unique within the EDL, assigned in story order (so deterministic).

    A name already taken (or one of the readers' special sources AX/BL/BLACK/BARS) gets a counter:
    ``_2``, ``_3``... at the end, or ``X2``, ``X3``... for Avid, cutting the base short to stay within 8
    characters.
    """
    style = _check_style(style)
    used: set[str] = set(_RESERVED_REELS)
    reels: dict[str, str] = {}
    for clip in timeline.clips:
        if clip.source_path in reels:
            continue
        if clip.card is not None:  # a card is no source reel: an auxiliary (AX) event
            reels[clip.source_path] = CARD_REEL
            continue
        base = name = _base_reel(clip, style)
        n = 1
        while name in used:
            n += 1
            tag = f"{STYLE_RULES[style].counter}{n}"
            name = base[: REEL_MAX - len(tag)].rstrip("_") + tag
        used.add(name)
        reels[clip.source_path] = name
    return reels


# --------------------------------------------------------------------------- CMX3600


def _check_style(style: EdlStyle | str) -> EdlStyle:
    try:
        return EdlStyle(style)
    except ValueError:
        raise ValueError(f"unknown EDL style {style!r}; use one of {', '.join(EDL_STYLES)}") from None


def _relabelled(clip: TimelineClip, rate: Rate) -> SourceTimecode | None:
    """The clip's own timecode when the EDL cannot carry it as is (another rate or drop-frame mode)."""
    tc = clip.source_timecode
    return tc if tc is not None and (tc.rate != rate or tc.drop_frame != is_drop_frame(rate)) else None


def _event_comments(clip: TimelineClip, style: EdlStyle, rate: Rate) -> list[str]:
    lines = [
        f"* FROM CLIP NAME: {_one_line(clip.clip_name)}",
        f"* SOURCE FILE: {_one_line(PurePath(clip.source_path).name)}",
    ]
    if not STYLE_RULES[style].remarks:  # its clip name still says PLACEHOLDER
        return lines
    if clip.placeholder:
        lines.append(f"* PLACEHOLDER: {_one_line(clip.placeholder)}")
    if clip.card is not None:
        lines.append(f"* CARD: {_one_line(clip.card.get('text', ''))}")
    own = _relabelled(clip, rate)
    if own is not None:
        mode = "DROP FRAME" if own.drop_frame else "NON-DROP FRAME"
        lines.append(f"* SOURCE TIMECODE: {own.label} AT {own.rate} FPS {mode}")
    take = None if clip.card is not None else clip.take
    extra = [("TAKE", take), ("SCENE", clip.scene), ("BEAT", clip.beat), ("NOTES", clip.notes)]
    extra.append(("AUDIO TRACKS", clip.audio_tracks))
    lines += [f"* {key}: {_one_line(value)}" for key, value in extra if value and _one_line(value)]
    return lines


def _tcs(rate: Rate, *frames: int) -> str:
    return " ".join(frames_to_timecode(f, rate) for f in frames)


def write_cmx3600(timeline: Timeline, *, style: EdlStyle | str = EdlStyle.RESOLVE) -> str:
    """The cut as a CMX3600 EDL: one ``AA/V`` cut event per clip, record contiguous from ``record_start``.

    Styles differ only where an NLE's importer does:

    - ``resolve``: reels ``[A-Z0-9_]{1,8}``; comments ``FROM CLIP NAME``, ``SOURCE FILE``, ``TAKE`` and the
      story metadata ``SCENE``/``BEAT``/``NOTES`` when present.
    - ``premiere``: only the ``FROM CLIP NAME`` and ``SOURCE FILE`` remarks. Premiere misreads remarks it
      does not expect (OTIO's writer leaves out its ``FROM CLIP:`` path line for Premiere because clips then
      import as UNKNOWN), so take and story metadata go only to the OTIO and FCP XML exports.
    - ``avid``: as ``resolve``, but reels are ``[A-Z0-9]{1,8}`` (Avid rejects the underscore).

    Source timecode is the render's own start timecode (``source_start_frame``) and uses the same FCM as the
    record side; a render counting at another rate or mode has it relabelled at the record rate (``timecode.py``:
    ``HH:MM:SS`` kept, frames scaled) and its own label in a ``* SOURCE TIMECODE:`` remark (not for Premiere).
    Raises ValueError naming the offending value for an unknown style, an empty timeline, a clip without
    positive frames, an invalid ``record_start`` or a cut that would run past 24 hours of timecode, and
    SourceTimecodeError naming the render for a clip whose timecode could not be read.
    """
    style = _check_style(style)
    _check_rate(timeline.rate)
    if not timeline.clips:
        raise ValueError(f"timeline {timeline.project!r} has no clips; an EDL needs at least one event")
    for i, clip in enumerate(timeline.clips):
        _check_clip(i, clip, timeline.rate)
    rate = timeline.rate
    record = _record_start_frame(timeline)
    day = _day_frames(rate)
    if record + timeline.total_frames >= day:
        raise ValueError(
            f"timeline {timeline.project!r}: {timeline.total_frames} frames from record_start "
            f"{timeline.record_start!r} run past 23:59:59 of {rate} fps timecode"
        )
    reels = reel_names(timeline, style)
    lines = [
        f"TITLE: {_one_line(timeline.project)}",
        "FCM: DROP FRAME" if is_drop_frame(rate) else "FCM: NON-DROP FRAME",
    ]
    if timeline.has_transitions:
        for clip in timeline.clips:
            if clip.source_start_frame + clip.frames >= day:
                raise ValueError(f"clip {clip.clip_name!r}: its source runs past 23:59:59 of {rate} fps timecode")
        return "\n".join(lines + _transition_events(timeline, reels, style, record)) + "\n"
    for number, clip in enumerate(timeline.clips, start=1):
        src_in = clip.source_start_frame
        if src_in + clip.frames >= day:
            raise ValueError(
                f"clip {number} ({clip.clip_name!r}): source_start_frame {src_in} + {clip.frames} frames "
                f"runs past 23:59:59 of {rate} fps timecode"
            )
        lines.append(
            f"{number:03d}  {reels[clip.source_path]:<8} {EDL_TRACK:<4}  {'C':<4} {'':3} "
            f"{_tcs(rate, src_in, src_in + clip.frames, record, record + clip.frames)}"
        )
        lines += _event_comments(clip, style, rate)
        lines += _overlay_comments(timeline, number - 1, style, _record_start_frame(timeline))
        record += clip.frames
    return "\n".join(lines) + "\n"


def overlay_owner(timeline: Timeline, overlay: Overlay) -> int:
    """The clip whose event an overlay's remark goes on: its entry's, or for an overlay over the cut the last clip
    starting at or before its first frame."""
    if overlay.clip is not None:
        return overlay.clip
    starts = timeline.record_starts()
    return max(i for i, s in enumerate(starts) if s <= overlay.start)


def _overlay_comments(timeline: Timeline, index: int, style: EdlStyle, record: int) -> list[str]:
    """``* OVERLAY: <text> (REC <in> <out>, <position>)`` for each overlay on clip ``index``'s event, record in and
    out (exclusive) as the event's own; not for Premiere (``StyleRules.remarks``)."""
    if not STYLE_RULES[style].remarks:
        return []
    return [f"* OVERLAY: {_one_line(o.text)} (REC {_tcs(timeline.rate, record + o.start, record + o.end)}, "
            f"{o.position.upper()})" for o in timeline.overlays if overlay_owner(timeline, o) == index]  # fmt: skip


BLACK_REEL = "BL"
"""The CMX3600 source of black: fades are dissolves from or to it."""


@dataclass
class _Events:
    """CMX3600 events being written: numbered lines, and where the last source line ended (reel, source out, clip
    name; ``None`` for black)."""

    rate: Rate
    lines: list[str]
    number: int = 0
    last: tuple[str, int, str | None] = (BLACK_REEL, 0, None)

    def line(self, reel: str, how: str, src: int, src_out: int, rec: int, rec_out: int, name: str | None) -> None:
        kind, dur = (how, "") if how == "C" else ("D", how)
        self.lines.append(f"{self.number:03d}  {reel:<8} {EDL_TRACK:<4}  {kind:<4} {dur:>3} "
                          f"{_tcs(self.rate, src, src_out, rec, rec_out)}")  # fmt: skip
        self.last = (reel, src_out, name)

    def start(self, rec: int, to: tuple[str, int, int, str | None], frames: int | None, rec_out: int) -> None:
        """A new event at ``rec`` of ``to`` (reel, source in, source out, clip name): a cut, or (``frames``) a
        dissolve from where the last source ended; a dissolve names its outgoing clip (``FROM CLIP NAME``, as
        OTIO's writer does: pycmx drops an event's last edit line when nothing follows it)."""
        self.number += 1
        reel, src, src_out, name = to
        if frames is None:
            self.line(reel, "C", src, src_out, rec, rec_out, name)
            return
        outgoing, at, was = self.last
        self.line(outgoing, "C", at, at, rec, rec, was)
        self.line(reel, f"{frames:03d}", src, src_out, rec, rec_out, name)
        self.lines += [f"* FROM CLIP NAME: {_one_line(was)}"] if was else []


def _transition_events(timeline: Timeline, reels: dict[str, str], style: EdlStyle, record: int) -> list[str]:
    """The events of a cut with transitions (``transitions.py``): a dissolve is a ``D`` event whose outgoing line
    is the previous source at its cut point (the dissolve's start), a fade from or to black a dissolve from or to
    ``BL``, a dip a dissolve to ``BL`` and one from it (the incoming source then starts where it comes up from
    black). Record contiguous; each event's source and record durations agree. The incoming clip of a dissolve is
    its ``TO CLIP NAME``."""
    ev = _Events(timeline.rate, [])
    starts = timeline.record_starts()
    clips = timeline.clips
    remarks = STYLE_RULES[style].remarks
    for i, clip in enumerate(clips):
        rec, src = record + starts[i], clip.source_start_frame
        nxt = clips[i + 1] if i + 1 < len(clips) else None
        fade_out = clip.transition_out[1] if clip.transition_out else 0
        end = rec + clip.frames - (nxt.overlap if nxt else 0) - fade_out  # where the clip's own event ends
        kind, frames = clip.transition_in or ("cut", 0)
        if kind == "dip":
            h, _ = dip_parts(frames)
            ev.start(rec, (BLACK_REEL, 0, h, None), h, rec + h)
            rec, src, kind, frames = rec + h, src + h, "dissolve", frames - h
        if kind == "fade_in":
            ev.last = (BLACK_REEL, 0, None)
        ev.start(rec, (reels[clip.source_path], src, src + end - rec, clip.clip_name), frames or None, end)
        comments = _event_comments(clip, style, timeline.rate)
        if frames:
            comments[0] = comments[0].replace("* FROM CLIP NAME:", "* TO CLIP NAME:", 1)
        ev.lines += comments
        ev.lines += _overlay_comments(timeline, i, style, record)
        if clip.transition_in and remarks:
            ev.lines.append(f"* TRANSITION IN: {clip.transition_in[0].upper()} {clip.transition_in[1]} FRAMES")
        if fade_out:
            ev.start(end, (BLACK_REEL, 0, fade_out, None), fade_out, end + fade_out)
            ev.lines += [f"* TRANSITION OUT: FADE_OUT {fade_out} FRAMES"] if remarks else []
    return ev.lines


# --------------------------------------------------------------------------- OTIO / FCP XML


def _target_url(source_path: str) -> str:
    """A file URL for an absolute path (what FCP XML and most OTIO consumers expect), else the path as is."""
    path = Path(source_path)
    return path.as_uri() if path.is_absolute() else path.as_posix()


def _clip_metadata(clip: TimelineClip) -> dict[str, object]:
    return {
        "vidasm": {
            "shot": clip.shot,
            "take": clip.take,
            "scene": clip.scene,
            "beat": clip.beat,
            "notes": clip.notes,
            **({"placeholder": clip.placeholder} if clip.placeholder else {}),
            **({"card": dict(clip.card)} if clip.card is not None else {}),
            **({"audio_tracks": clip.audio_tracks} if clip.audio_tracks else {}),
        }
    }


def _record_spans(timeline: Timeline) -> dict[str, tuple[int, int]]:
    """Per source file, the record-rate frames ``[first, end)`` of it the cut needs: from the render's own start
    timecode (relabelled) when it has one, else from its first use, to the end of its last use."""
    spans: dict[str, tuple[int, int]] = {}
    owns: dict[str, SourceTimecode | None] = {}
    for i, clip in enumerate(timeline.clips):
        tc = clip.source_timecode
        if owns.setdefault(clip.source_path, tc) != tc:
            raise ValueError(
                f"clip {i + 1} ({clip.clip_name!r}): {clip.source_path} has two start timecodes: "
                f"{owns[clip.source_path]} and {tc}"
            )
        end = clip.source_start_frame + clip.frames
        start = tc.to_record_frame(timeline.rate) if tc is not None else clip.source_start_frame
        first, last = spans.get(clip.source_path, (start, end))
        spans[clip.source_path] = (min(first, start), max(last, end))
    return spans


def _own_length(tc: SourceTimecode, span: tuple[int, int], rate: Rate) -> int:
    """A file's needed span in frames of its own rate, rounded up to whole frames."""
    return math.ceil(tc.media_frames(span[1] - span[0], rate))


def _media_ranges(
    clip: TimelineClip, rate: Rate, span: tuple[int, int], *, own_rate: bool
) -> tuple[opentime.TimeRange, opentime.TimeRange]:
    """``(available range of the clip's file, the clip's source range)``.

    ``own_rate`` and a source timecode: in the file's own time, the available range from its timecode's frame
    at its own rate, the source range that far in by elapsed time (the conform retimes by timestamp), lasting
    the clip's record frames. Otherwise in record frames, the file starting at ``span``'s first frame.
    """
    fps, tc = rate.fps, clip.source_timecode
    if tc is None or not own_rate:
        first, last = span
        available = opentime.TimeRange(opentime.RationalTime(first, fps), opentime.RationalTime(last - first, fps))
        used = opentime.RationalTime(clip.source_start_frame, fps)
    else:
        own = tc.rate.fps
        available = opentime.TimeRange(
            opentime.RationalTime(tc.frame, own), opentime.RationalTime(_own_length(tc, span, rate), own)
        )
        offset: Fraction = tc.media_frames(clip.source_start_frame - span[0], rate)
        used = opentime.RationalTime(float(tc.frame + offset), own)
    return available, opentime.TimeRange(start_time=used, duration=opentime.RationalTime(clip.frames, fps))


def _card_references(result: otio.schema.Timeline) -> None:
    """Each card's media is a ``Slug`` generator (what FCP 7 XML and Premiere call a generated clip), carrying what
    the card shows in its parameters, instead of its picture in 05_Cache."""
    for clip in result.find_clips():
        card = clip.metadata["vidasm"].get("card")
        if card is not None:
            clip.media_reference = otio.schema.GeneratorReference(
                name=clip.name, generator_kind="Slug", available_range=clip.media_reference.available_range,
                parameters=dict(card))  # fmt: skip


def to_otio(timeline: Timeline, *, own_rate: bool = True) -> otio.schema.Timeline:
    """The cut as an OTIO timeline: track ``V1`` and track ``A1`` holding the same clips.

    Record times are whole frames at ``rate.num / rate.den`` (OTIO's float rate); the exact rational rate is
    kept in ``metadata["vidasm"]["rate"]``. ``global_start_time`` is the record start. A file's available range
    is the span of all its uses in the cut, the same on every reference to it: the FCP XML adapter writes a
    file once and measures every later use of it from that first element's timecode. A render with a start
    timecode is described in its own time (OTIO times carry their own rate): its available range starts at
    its timecode's frame at its own rate, a clip's source range starts where the clip does in it and lasts the
    clip's record frames (so the tracks add up exactly at the record rate). ``own_rate=False`` puts everything
    in record frames (what ``write_fcp_xml`` feeds the adapter before giving ``<file>`` its own timecode).
    """
    _check_rate(timeline.rate)
    for i, clip in enumerate(timeline.clips):
        _check_clip(i, clip, timeline.rate)
    fps = timeline.rate.fps
    spans = _record_spans(timeline)
    result = otio.schema.Timeline(
        name=timeline.project,
        global_start_time=opentime.RationalTime(_record_start_frame(timeline), fps),
        metadata={
            "vidasm": {
                "project": timeline.project,
                "rate": [timeline.rate.num, timeline.rate.den],
                "record_start": timeline.record_start,
                "width": timeline.width,
                "height": timeline.height,
            }
        },
    )
    for name, kind in (("V1", otio.schema.TrackKind.Video), ("A1", otio.schema.TrackKind.Audio)):
        track = otio.schema.Track(name=name, kind=kind)
        for i, clip in enumerate(timeline.clips):
            before, shown, after = _otio_transitions(timeline, i) if timeline.has_transitions else ([], clip, [])
            _, used = _media_ranges(shown, timeline.rate, spans[clip.source_path], own_rate=own_rate)
            available, _ = _media_ranges(clip, timeline.rate, spans[clip.source_path], own_rate=own_rate)
            reference = otio.schema.ExternalReference(
                target_url=_target_url(clip.source_path), available_range=available
            )
            if clip.source_timecode is not None:
                reference.metadata["vidasm"] = {"source_timecode": clip.source_timecode.to_dict()}
            track.extend(before)
            track.append(
                otio.schema.Clip(
                    name=clip.clip_name,
                    media_reference=reference,
                    source_range=used,
                    metadata=_clip_metadata(clip),
                )
            )
            track.extend(after)
        if kind == otio.schema.TrackKind.Video:
            track.markers.extend(_overlay_markers(timeline))
        result.tracks.append(track)
    _card_references(result)
    return result


def _overlay_markers(timeline: Timeline) -> list[otio.schema.Marker]:
    """Each overlay as a marker on the picture track over its record frames (track time, from the cut's first
    frame), named by its text's first line, carrying the overlay (``metadata["vidasm"]["overlay"]``) and, for an
    entry's own, that entry's shot."""
    fps = timeline.rate.fps
    out = []
    for o in timeline.overlays:
        owner = timeline.clips[o.clip].shot if o.clip is not None else None
        out.append(otio.schema.Marker(
            name=_one_line(o.text.split("\n")[0]),
            marked_range=opentime.TimeRange(opentime.RationalTime(o.start, fps), opentime.RationalTime(o.frames, fps)),
            color=otio.schema.MarkerColor.YELLOW,
            metadata={"vidasm": {"overlay": {**dataclasses.asdict(o), **({"shot": owner} if owner else {})}}},
        ))  # fmt: skip
    return out


DIP_PARTS = ("to_black", "from_black")
"""A dip's two transitions, as the EDL writes it: a dissolve to ``BL``, then one from it."""


def dip_parts(frames: int) -> tuple[int, int]:
    """A dip of ``frames`` (N) as the EDL's two ``D`` events: ceil(N/2) frames to black, floor(N/2) from it (their sum
    is N, the frames the two entries overlap)."""
    down = (frames + 1) // 2
    return down, frames - down


def _otio_transition(kind: str, frames: int, fps: float, part: str | None = None) -> otio.schema.Transition:
    """A transition starting at its cut point (as a CMX3600 ``D`` event and OTIO's EDL reader): all of it after.
    ``metadata["vidasm"]``: its ``type`` and ``frames`` as project.json states them (a dip's whole length on both
    of its parts), and for a dip's part which one it is and its own length (``part``, ``part_frames``: the
    Transition's duration, the EDL's ``D`` event's)."""
    own = frames if part is None else dip_parts(frames)[DIP_PARTS.index(part)]
    meta: dict[str, object] = {"type": kind, "frames": frames}
    if part is not None:
        meta |= {"part": part, "part_frames": own}
    return otio.schema.Transition(
        name=kind if part is None else f"{kind} {frames} ({part.replace('_', ' ')})",
        transition_type=otio.schema.TransitionTypes.SMPTE_Dissolve,
        in_offset=opentime.RationalTime(0, fps),
        out_offset=opentime.RationalTime(own, fps),
        metadata={"vidasm": meta},
    )


def _black(frames: int, fps: float) -> otio.schema.Gap:
    return otio.schema.Gap(source_range=opentime.TimeRange(duration=opentime.RationalTime(frames, fps)))


def _otio_transitions(timeline: Timeline, i: int) -> tuple[list[otio.core.Composable], TimelineClip, list[Any]]:
    """What goes before clip ``i`` on an OTIO track, the clip as its range there, and what follows it: the same
    items as the EDL's events (``_transition_events``): a clip runs to its cut point (a dissolve's start), a
    ``Transition`` after it overlaps the next item by its frames (media beyond the cut point), black is a ``Gap``
    (of 0 frames before a fade from black: a transition needs an item before it)."""
    clip, clips, fps = timeline.clips[i], timeline.clips, timeline.rate.fps
    nxt = clips[i + 1] if i + 1 < len(clips) else None
    fade_out = clip.transition_out[1] if clip.transition_out else 0
    kind, frames = clip.transition_in or ("cut", 0)
    before: list[otio.core.Composable] = []
    skip = 0
    if kind == "dip":  # as the EDL: a dissolve to black, black as long, a dissolve from it (``dip_parts``)
        skip, _ = dip_parts(frames)
        before += [_otio_transition("dip", frames, fps, "to_black"), _black(skip, fps),
                   _otio_transition("dip", frames, fps, "from_black")]  # fmt: skip
    elif kind == "dissolve":
        before.append(_otio_transition(kind, frames, fps))
    elif kind == "fade_in":
        before += [_black(0, fps), _otio_transition(kind, frames, fps)]
    shown = dataclasses.replace(clip, source_start_frame=clip.source_start_frame + skip,
                                frames=clip.frames - skip - (nxt.overlap if nxt else 0) - fade_out)  # fmt: skip
    after = [_otio_transition("fade_out", fade_out, fps), _black(fade_out, fps)] if fade_out else []
    return before, shown, after


def _write_atomically(path: str | os.PathLike[str], write: Callable[[str], None]) -> Path:
    """Let ``write`` fill the temp file of ``outputs.atomic_output`` beside ``path``, then move it into place."""
    dest = Path(path)
    with atomic_output(dest) as tmp:
        write(str(tmp))
    return dest


def music_track(tracklist: dict[str, Any], root: Path) -> otio.schema.Track:
    """The music bed as an OTIO audio track ``Music`` (``music.tracklist``): one clip per play of a track at its
    record place, in samples at 48 kHz (exact: the plays start and end on samples, not frames), its source range the
    part of the track played, silence (loop off) as a ``Gap``; metadata ``vidasm.music`` holds the tracklist entry."""
    rate = tracklist["sample_rate"]
    track = otio.schema.Track(name="Music", kind=otio.schema.TrackKind.Audio)
    at = 0
    for e in tracklist["tracks"]:
        if e["record_in_sample"] > at:
            gap = opentime.RationalTime(e["record_in_sample"] - at, rate)
            track.append(otio.schema.Gap(source_range=opentime.TimeRange(duration=gap)))
        whole = opentime.TimeRange(opentime.RationalTime(0, rate), opentime.RationalTime(e["source_samples"], rate))
        reference = otio.schema.ExternalReference(target_url=_target_url(str(root / e["file"])), available_range=whole)
        src_in, src_out = e["source_in_sample"], e["source_out_sample"]
        used = opentime.TimeRange(opentime.RationalTime(src_in, rate), opentime.RationalTime(src_out - src_in, rate))
        track.append(otio.schema.Clip(name=e["title"], media_reference=reference, source_range=used,
                                      metadata={"vidasm": {"music": dict(e)}}))  # fmt: skip
        at = e["record_out_sample"]
    if tracklist["cut_samples"] > at:
        rest = opentime.RationalTime(tracklist["cut_samples"] - at, rate)
        track.append(otio.schema.Gap(source_range=opentime.TimeRange(duration=rest)))
    return track


def write_otio(
    timeline: Timeline, path: str | os.PathLike[str], *, music: dict[str, Any] | None = None, root: Path | None = None
) -> Path:
    """Write the cut as an ``.otio`` (JSON) file, atomically; with ``music`` (a tracklist, ``music.tracklist``;
    its files relative to ``root``) a ``Music`` audio track after ``A1``."""
    result = to_otio(timeline)
    if music is not None:
        result.tracks.append(music_track(music, Path(root or ".")))
    return _write_atomically(path, lambda tmp: otio.adapters.write_to_file(result, tmp, adapter_name="otio_json"))


def _set_rate(rate_e: ElementTree.Element, rate: Rate) -> None:
    """An FCP XML ``<rate>``: the integer timebase, and ``<ntsc>`` TRUE for the 1000/1001 rates."""
    rate_e.find("timebase").text = str(nominal_fps(rate))  # type: ignore[union-attr]
    rate_e.find("ntsc").text = "TRUE" if rate.is_ntsc else "FALSE"  # type: ignore[union-attr]


def _own_file_timecodes(text: str, files: dict[str, tuple[SourceTimecode, int]]) -> str:
    """Give each ``<file>`` of a render with a start timecode the render's own rate, length (frames at that rate)
    and ``<timecode>`` (label, frame number, ``DF``/``NDF``), as FCP 7 XML describes a file; everything else is
    the adapter's, re-indented as it indents. The adapter itself writes a file's timecode only at a rate OTIO
    has SMPTE timecode for, so not at 12 or 15 fps."""
    root = ElementTree.fromstring(text)
    for file_e in root.iter("file"):
        own = files.get(file_e.findtext("pathurl") or "")
        if own is None:  # another file, or a later reference to one (<file id="file-1"/>)
            continue
        tc, length = own
        _set_rate(file_e.find("rate"), tc.rate)  # type: ignore[arg-type]
        file_e.find("duration").text = str(length)  # type: ignore[union-attr]
        tc_e = file_e.find("timecode")
        _set_rate(tc_e.find("rate"), tc.rate)  # type: ignore[union-attr,arg-type]
        tc_e.find("string").text = tc.label  # type: ignore[union-attr]
        tc_e.find("frame").text = str(tc.frame)  # type: ignore[union-attr]
        tc_e.find("displayformat").text = "DF" if tc.drop_frame else "NDF"  # type: ignore[union-attr]
    for element in root.iter():
        element.text = element.text if element.text and element.text.strip() else None
        element.tail = element.tail if element.tail and element.tail.strip() else None
    return minidom.parseString(ElementTree.tostring(root, encoding="UTF-8")).toprettyxml(indent="    ")


def _cards_for_fcp(track: otio.schema.Track) -> None:
    """Cards as FCP 7 XML has them: a ``generatoritem`` of a Text generator on the video track (the adapter writes
    a generator reference without its effect as a broken file), silence (a gap) on the audio track."""
    for i, item in enumerate(list(track)):
        card = isinstance(item, otio.schema.Clip) and isinstance(item.media_reference, otio.schema.GeneratorReference)
        if not card:
            continue
        if track.kind == otio.schema.TrackKind.Audio:
            track[i] = otio.schema.Gap(source_range=item.source_range)
        else:
            item.media_reference.metadata["fcp_xml"] = {"effecttype": "generator", "mediatype": "video",
                                                        "effectcategory": "Text"}  # fmt: skip


FCP_AUDIO_EFFECTS = {
    # FCP 7's own audio transitions (its effect ids): between two clips the constant-power crossfade vidasm's sound
    # uses (``transitions.CROSSFADE_CURVE``), to or from silence the linear fade of ``afade``
    True: ("Cross Fade (+3dB)", "KGAudioTransCrossFade3dB"),
    False: ("Cross Fade (0dB)", "KGAudioTransCrossFade0dB"),
}


def _fcp_effect(track: otio.schema.Track, between_clips: bool) -> dict[str, object]:
    if track.kind != otio.schema.TrackKind.Audio:
        return {}
    name, effect_id = FCP_AUDIO_EFFECTS[between_clips]
    return {"effect": {"name": name, "effectid": effect_id, "effecttype": "transition", "mediatype": "audio"}}


def _transitions_for_fcp(track: otio.schema.Track) -> None:
    """Transitions as FCP 7 XML places them (its ``<alignment>``; the adapter writes ``start-black`` for every
    transition that starts at its cut point, and reads a transition's cut point back from it): a dissolve between
    two clips ``start``; a fade from black ``start-black``; a fade to black (a clip, its transition, black)
    ``end-black``, the clip running to the transition's end over the black, as FCP 7 lays out a fade at a clip's
    tail (a dip is a fade to black and one from it, as in the EDL). Read back by OTIO's reader, the track keeps
    its record length and every transition its frames."""
    items = list(track)
    out: list[otio.core.Composable] = []
    i = 0
    while i < len(items):
        item = items[i]
        nxt, then = [*items[i + 1 : i + 3], None, None][:2]
        if (
            isinstance(item, otio.schema.Clip)
            and isinstance(nxt, otio.schema.Transition)
            and isinstance(then, otio.schema.Gap)
        ):
            black = then.source_range.duration if then.source_range else then.duration()
            r = item.source_range
            item.source_range = opentime.TimeRange(r.start_time, r.duration + nxt.out_offset)  # type: ignore[union-attr]
            nxt.in_offset, nxt.out_offset = nxt.out_offset, opentime.RationalTime(0, black.rate)
            nxt.metadata["fcp_xml"] = {"alignment": "end-black", **_fcp_effect(track, False)}
            rest = black - nxt.in_offset
            out += [item, nxt] + ([_black(int(rest.value), black.rate)] if rest.value > 0 else [])
            i += 3
            continue
        if isinstance(item, otio.schema.Transition):
            between = bool(out) and isinstance(out[-1], otio.schema.Clip) and isinstance(nxt, otio.schema.Clip)
            item.metadata["fcp_xml"] = {
                "alignment": "start" if between else "start-black",
                **_fcp_effect(track, between),
            }
        out.append(item)
        i += 1
    for _ in range(len(track)):
        track.pop()
    track.extend(out)


def write_fcp_xml(timeline: Timeline, path: str | os.PathLike[str]) -> Path:
    """Write the cut as FCP 7 XML (xmeml) with OTIO's ``fcp_xml`` adapter, atomically.

    Two adapter defaults are overridden through its ``fcp_xml`` metadata: at 29.97 and 59.94 the sequence
    and file timecodes are marked drop frame (it writes non-drop otherwise, unlike the EDL), and audio
    clips get a ``sourcetrack`` (without one, the adapter folds each audio clip into a back-reference to
    the identical video ``clipitem``). Clip items are in record frames, ``<in>``/``<out>`` counted from the
    start of the file; the ``<file>`` of a render with a start timecode then gets that render's own rate and
    timecode with its drop-frame flag (``<rate><timebase>``, ``<ntsc>``, ``<timecode><string>``, ``<frame>``,
    ``<displayformat>``), so the file's timecode is exactly the render's whatever the record rate.
    """
    result = to_otio(timeline, own_rate=False)
    spans = _record_spans(timeline)
    own = {
        _target_url(c.source_path): (
            c.source_timecode,
            _own_length(c.source_timecode, spans[c.source_path], timeline.rate),
        )
        for c in timeline.clips
        if c.source_timecode is not None
    }
    drop = is_drop_frame(timeline.rate)
    if drop:
        result.metadata["fcp_xml"] = {"timecode": {"displayformat": "DF"}}
    for track in result.tracks:
        _cards_for_fcp(track)
        _transitions_for_fcp(track)
        for clip in track.find_clips():
            if isinstance(clip.media_reference, otio.schema.GeneratorReference):
                continue
            if drop:
                clip.media_reference.metadata["fcp_xml"] = {"timecode": {"displayformat": "DF"}}
            if track.kind == otio.schema.TrackKind.Audio:
                clip.metadata["fcp_xml"] = {"sourcetrack": {"mediatype": "audio", "trackindex": 1}}

    def write(tmp: str) -> None:
        otio.adapters.write_to_file(result, tmp, adapter_name="fcp_xml")
        if own:
            out = Path(tmp)
            out.write_text(_own_file_timecodes(out.read_text(encoding="utf-8"), own), encoding="utf-8")

    return _write_atomically(path, write)
