"""Text overlays (lower thirds, captions): text drawn over the cut by FFmpeg's ``drawtext``.

**The model** (project.json): a sequence entry's ``"overlays": [{"text": ..., "start": 0, "frames": N,
"position": "lower_third", "size": 48, "colour": "#FFFFFF", "box": true}]`` draws over that entry, ``start`` in
frames from the entry's first record frame, ``frames`` defaulting to the entry's end; the project's top-level
``"overlays": [{"text": ..., "at": 0 | "01:00:02:00", "frames": N, ...}]`` draws over the cut in record time (``at``
a record frame from the cut's first frame, or a record timecode from ``editorial.record_start``), ``frames``
defaulting to the cut's end. ``resolve_overlays`` places both in record frames when the timeline is built and
refuses one past its entry's (or the cut's) end, naming the field and the entry.

**How it is built**: like a transition (``transitions.py``), never on the stream-copied bodies. The cut and each
delivery render only a *section* around each overlay, from the renders through the conform's own filters at the
pictures' encoder settings, from the last keyframe of the shared picture at or before the overlay's first frame to
the first keyframe at or after its last (at most a GOP on either side; nothing for all-intra presets); the rest of
each body is stream copied. An overlay over a transition is drawn in that transition's section. Sections are cached
by a key holding what they draw, so changing one overlay's text renders that overlay's sections alone: no shot's
conform or segment, no other section.

**Geometry** (EBU R 95, the graphics-safe area of a 16:9 HD frame: 5% of the width and height in from each edge):
``lower_third`` left-aligned at the safe edge, the text's bottom at 80% of the height (inside the lower third);
``bottom`` centred, its bottom at the safe edge (where captions sit); ``top`` centred at the top safe edge;
``center`` centred. ``size`` is pixels at the timeline's height (scaled with a preset's downscale), or a share of
the height; default 1/20 of it (54 px at 1080 lines). The font is the one shipped with the package
(``burnins.font_path``: DejaVu Sans Mono), the box black at 55%, as the review burn-ins.

**Text**: drawn with ``expansion=none`` (a ``%`` is a percent sign) and written into the graph by
``burnins.filter_value``, which escapes for the option parser and quotes for the graph parser, so quotes, colons,
backslashes, commas, semicolons, brackets and line breaks (drawtext's own line breaks) reach the filter as written.
The drawtext filters are appended to a section's graph as text (``transitions.section_graph``), not built with
ffmpeg-python: their values are already escaped for both parsers, which ffmpeg-python would escape again, and the
section's chain is written out for the same reason; unit tests compare the whole graph.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from .burnins import BOX_COLOUR, filter_value
from .errors import FFmpegBuildError, RangeError
from .ffmpeg_tool import FFmpeg
from .project import PROJECT_FILE, Project, SequenceEntry
from .timeline import Overlay, TimelineClip, record_starts

DEFAULT_SIZE = 1 / 20
"""An overlay's text height without ``size``: a share of the frame height (54 px at 1080 lines)."""
SAFE = 0.05
"""EBU R 95's graphics-safe margin of a 16:9 HD frame, a share of the width and of the height from each edge."""
LOWER_THIRD_BASE = 0.8
"""Where a lower third's text ends, a share of the height from the top (inside the lower third, above the safe
edge, leaving the bottom to captions)."""


def resolve_overlays(project: Project, clips: Sequence[TimelineClip]) -> tuple[Overlay, ...]:
    """Every overlay of project.json in record frames: each entry's (``clips[i]`` is the entry ``sequence[i]``),
    then the cut's. ``RangeError`` naming the field and the entry (or the cut) with its length when one starts or
    ends past its entry's or the cut's end."""
    from .editorial import timecode_to_frames  # editorial imports project

    pj = project.root / PROJECT_FILE
    starts = record_starts(clips)
    out: list[Overlay] = []
    for i, entry in enumerate(project.spec.entries or []):
        if not isinstance(entry, SequenceEntry) or not entry.overlays:
            continue
        clip = clips[i]
        for j, o in enumerate(entry.overlays):
            where = f"sequence[{i}].overlays[{j}]"
            frames = o.frames if o.frames is not None else clip.frames - o.start
            if o.start >= clip.frames or o.start + frames > clip.frames:
                raise RangeError(
                    f"{pj}: {where} (start {o.start}, {o.frames or 'to the end'} frames) runs past the end of entry "
                    f"{i} ({clip.shot}, take {clip.take}), which has {clip.frames} frames",
                    path=pj,
                    shot=clip.shot,
                )
            out.append(_placed(o, starts[i] + o.start, frames, where, i))
    total = sum(c.frames - c.overlap for c in clips)
    rate, record_start = project.spec.rate, project.spec.editorial.record_start
    for j, o in enumerate(project.spec.overlays):
        where = f"overlays[{j}]"
        at = o.at if isinstance(o.at, int) else (timecode_to_frames(o.at, rate, what=f"{where}.at")
                                                 - timecode_to_frames(record_start, rate))  # fmt: skip
        frames = o.frames if o.frames is not None else total - at
        if at >= total or at + frames > total:
            raise RangeError(
                f"{pj}: {where} (at {o.at!r}, {o.frames or 'to the end'} frames) runs past the end of the cut, which "
                f"has {total} frames",
                path=pj,
            )
        out.append(_placed(o, at, frames, where, None))
    return tuple(out)


def _placed(o: object, start: int, frames: int, where: str, clip: int | None) -> Overlay:
    return Overlay(
        text=o.text,  # type: ignore[attr-defined]
        start=start,
        frames=frames,
        position=o.position,  # type: ignore[attr-defined]
        size=o.size,  # type: ignore[attr-defined]
        colour=o.colour,  # type: ignore[attr-defined]
        box=o.box,  # type: ignore[attr-defined]
        field=where,
        clip=clip,
    )


def font_size(overlay: Overlay, height: int, timeline_height: int) -> int:
    """The text's size in pixels on a picture ``height`` lines high (the timeline's, or a preset's downscale)."""
    size = overlay.size
    if size is None:
        size = DEFAULT_SIZE
    px = size * height / timeline_height if isinstance(size, int) else size * height
    return max(6, round(px))


def placement(position: str, width: int, height: int) -> tuple[str, str]:
    """``x`` and ``y`` of the text as drawtext expressions (``tw``/``th``: the text's size) on a ``width`` x
    ``height`` picture (module docstring: EBU R 95's graphics-safe area)."""
    mx, my = round(width * SAFE), round(height * SAFE)
    centred = "(w-tw)/2"
    if position == "lower_third":
        return str(mx), f"{round(height * LOWER_THIRD_BASE)}-th"
    if position == "top":
        return centred, str(my)
    if position == "bottom":
        return centred, f"h-th-{my}"
    if position == "center":
        return centred, "(h-th)/2"
    raise ValueError(f"unknown overlay position {position!r}")


def drawtext_overlay(
    overlay: Overlay, first: int, last: int, *, width: int, height: int, timeline_height: int, font: Path
) -> str:
    """One ``drawtext`` filter drawing ``overlay`` on the frames ``first`` to ``last`` (inclusive, counted from the
    first frame the filter sees: its ``n``) of a ``width`` x ``height`` picture."""
    size = font_size(overlay, height, timeline_height)
    x, y = placement(overlay.position, width, height)
    opts = [
        ("fontfile", str(font)),
        ("text", overlay.text),
        ("expansion", "none"),
        ("fontsize", str(size)),
        ("fontcolor", "0x" + overlay.colour.lstrip("#").upper()),
        ("box", "1" if overlay.box else "0"),
        *([("boxcolor", BOX_COLOUR), ("boxborderw", str(max(1, size // 4)))] if overlay.box else []),
        ("x", x),
        ("y", y),
        ("enable", f"between(n,{first},{last})"),
    ]
    return "drawtext=" + ":".join(f"{k}={filter_value(v)}" for k, v in opts)


def require_overlays(ffmpeg: FFmpeg) -> None:
    """Raise ``FFmpegBuildError`` (naming the binary, its version, what it lacks and ``FFMPEG_PATH``) when the chosen
    FFmpeg cannot draw overlays (``drawtext``, as the burn-ins: ``ffmpeg_tool.BURN_IN_FILTER_OPTIONS``)."""
    missing = ffmpeg.capabilities.missing_burn_ins()
    if missing:
        raise FFmpegBuildError(
            f"cannot draw text overlays with {ffmpeg.exe} (FFmpeg {ffmpeg.version}): it lacks {'; '.join(missing)} "
            "(drawtext needs an FFmpeg built with libfreetype, and from FFmpeg 6.1 on libharfbuzz too); point "
            "FFMPEG_PATH at one that has it, e.g. the bundled FFmpeg, or remove the overlays from project.json",
            path=ffmpeg.exe,
        )
