"""Review burn-ins: what a review segment draws over its pictures, as FFmpeg ``drawtext`` filters.

A review segment is one shot encoded from its render; its burn-ins say which shot it is and where each frame
sits: top left the project, shot and take; top right a frame counter (the frame within the shot, from 1); bottom
left ``SRC`` and the source timecode; bottom right ``REC`` and the record timecode. Both timecodes count at the
record (timeline) rate, as the EDL writes them: the source timecode starts at the clip's ``source_start_frame``
(the render's start timecode relabelled at the record rate, ``timecode.py``), the record timecode at the
timeline's record start plus the frames of the shots before it. FFmpeg counts them on: ``drawtext``'s
``timecode`` option takes the first frame's label (``;`` before the frames for drop frame, as FFmpeg's
``av_timecode_init_from_string`` reads it) and ``timecode_rate`` the rate, and adds the frames the filter has
output. ``tc24hmax`` wraps the hours at 24, as ``timecode.label_of`` does.

The text is white on a translucent black box, in the monospace font shipped with the package
(``vidasm_assets/fonts/``, DejaVu Sans Mono under the Bitstream Vera license: no system font or fontconfig is
needed), its size a fixed share of the frame height.

Every option used exists in FFmpeg 5.1's and 9.0's ``drawtext`` (``ffmpeg -h filter=drawtext``). ``drawtext``
itself is missing from builds without libfreetype, and since FFmpeg 6.1 also from builds without libharfbuzz
(the 7.0.2 static build of imageio-ffmpeg 0.6.0 has none); ``ffmpeg_tool.BURN_IN_FILTER_OPTIONS`` lists what
is needed and ``require_burn_ins`` refuses such a build by name before a segment runs.

Escaping (FFmpeg's "Filtergraph syntax", *Notes on filtergraph escaping*): a value is read twice, first by the
filtergraph parser (quotes and backslashes; ``[],;`` end a filter's arguments), then by the filter's option
parser (quotes and backslashes; ``:`` ends a value). ``filter_value`` escapes for the option parser with
backslashes and quotes that for the graph parser, so any text or path (``:``, ``'``, ``\\``, ``,``, ``;``,
brackets, spaces at either end) reaches the filter as written; the argv needs no shell quoting. The project, shot
and take text is drawn with ``expansion=none``, so a ``%`` in it is no expansion; the counter is the one text
that is expanded (``%{eif:n+1:d:4}``).
"""

from __future__ import annotations

import atexit
import contextlib
import functools
from dataclasses import dataclass, replace
from importlib import resources
from pathlib import Path

from .errors import FFmpegBuildError
from .ffmpeg_tool import FFmpeg
from .glyphs import FONT_FILE
from .rates import Rate
from .timecode import frame_of, is_drop_frame, label_of, nominal_fps, parse_label
from .timeline import Timeline

FONT_LICENSE = "LICENSE-DejaVu.txt"
TEXT_COLOUR = "white"
BOX_COLOUR = "black@0.55"
COUNTER_DIGITS = 4
SEPARATOR = "  "


@dataclass(frozen=True)
class BurnIn:
    """What one review segment burns in.

    ``record_start_frame`` is the shot's first record frame, absolute (01:00:00:00 is 86400 at 24 fps, 107892 at
    29.97 DF); ``source_start_frame`` the record-rate frame number of the render's first used frame (the clip's
    ``source_start_frame``). Both count at ``rate``, drop frame when the rate is 29.97 or 59.94.
    """

    project: str
    shot: str
    take: str
    rate: Rate
    record_start_frame: int
    source_start_frame: int = 0

    def __post_init__(self) -> None:
        for name in ("record_start_frame", "source_start_frame"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} {getattr(self, name)} is before 00:00:00:00")

    @property
    def drop_frame(self) -> bool:
        """Whether the timecodes count drop frame (from the rate: 29.97 and 59.94 do)."""
        return is_drop_frame(self.rate)

    def label(self, frame: int) -> str:
        """The label of a frame number at this burn-in's rate and drop-frame mode (hours wrapping at 24)."""
        return label_of(frame, nominal_fps(self.rate), self.drop_frame)

    @property
    def title(self) -> str:
        """The top-left text: project, shot and take."""
        return SEPARATOR.join((self.project, self.shot, self.take))

    @property
    def source_label(self) -> str:
        """The source timecode of the segment's first frame."""
        return self.label(self.source_start_frame)

    @property
    def record_label(self) -> str:
        """The record timecode of the segment's first frame."""
        return self.label(self.record_start_frame)


def timeline_burn_ins(timeline: Timeline) -> tuple[BurnIn, ...]:
    """One ``BurnIn`` per clip of ``timeline``, in order: each shot's record start is the timeline's record start
    plus the frames of the shots before it; its source start is the clip's ``source_start_frame``."""
    hours, minutes, seconds, frames, _ = parse_label(timeline.record_start)  # ':' or ';': the rate says which
    record = frame_of(hours, minutes, seconds, frames, nominal_fps(timeline.rate), is_drop_frame(timeline.rate))
    out: list[BurnIn] = []
    for clip in timeline.clips:
        out.append(BurnIn(timeline.project, clip.shot, clip.take, timeline.rate, record, clip.source_start_frame))
        record += clip.frames
    return tuple(out)


# --------------------------------------------------------------------------- escaping


def _escape_option(text: str) -> str:
    r"""``text`` as the filter's option parser reads it back: ``\``, ``'`` and ``:`` escaped, and the spaces at
    either end (which it would strip)."""
    out = "".join("\\" + c if c in "\\':" else c for c in text)
    head = len(out) - len(out.lstrip())
    if head:
        out = "".join("\\" + c for c in out[:head]) + out[head:]
    tail = len(out) - len(out.rstrip())
    if tail:
        out = out[: len(out) - tail] + "".join("\\" + c for c in out[len(out) - tail :])
    return out


_GRAPH_SPECIAL = frozenset("\\'[],;")


def filter_value(text: str) -> str:
    """``text`` written as one option value inside a filtergraph (``-vf``, ``-filter_complex``), so that the
    filter receives exactly ``text``: option-level escaping, then quoted for the graph parser when needed."""
    option = _escape_option(text)
    if option == text and not _GRAPH_SPECIAL & set(text):
        return text
    return "'" + option.replace("'", "'\\''") + "'"


# --------------------------------------------------------------------------- layout


@dataclass(frozen=True)
class Layout:
    """Text size, box border and margin in pixels, from the frame height."""

    fontsize: int
    border: int
    margin: int

    @classmethod
    def for_height(cls, height: int) -> Layout:
        fontsize = max(8, round(height / 27))  # 40 px at 1080 lines, 27 at 720, 20 at 540, 8 below 216
        border = max(1, fontsize // 4)
        return cls(fontsize, border, border + max(2, round(height / 54)))


def drawtext(
    text: str,
    *,
    x: str,
    y: str,
    font: Path,
    layout: Layout,
    expand: bool = False,
    timecode: str | None = None,
    rate: Rate | None = None,
) -> str:
    """One ``drawtext`` filter: ``text`` (or, with ``timecode``, ``text`` followed by a timecode starting at that
    label and counting at ``rate``) on a translucent box, at ``x``/``y`` (drawtext expressions)."""
    opts = [
        ("fontfile", str(font)),
        ("text", text),
        ("fontsize", str(layout.fontsize)),
        ("fontcolor", TEXT_COLOUR),
        ("box", "1"),
        ("boxcolor", BOX_COLOUR),
        ("boxborderw", str(layout.border)),
    ]
    if timecode is not None:
        if rate is None:
            raise ValueError("a timecode needs its rate")
        opts += [("timecode", timecode), ("timecode_rate", rate.ffmpeg), ("tc24hmax", "1")]
    elif not expand:
        opts.append(("expansion", "none"))
    opts += [("x", x), ("y", y)]
    return "drawtext=" + ":".join(f"{k}={filter_value(v)}" for k, v in opts)


def counter_text(digits: int = COUNTER_DIGITS, first: int = 0) -> str:
    """The frame counter as drawtext expands it: the frame within the segment, from 1, zero-padded; ``first``: the
    frame of the shot the filter's first frame is (a section rendered from the middle of a shot, ``overlays.py``)."""
    return f"%{{eif:n+{1 + first}:d:{digits}}}"


def burnin_filter(b: BurnIn, width: int, height: int, font: Path, first: int = 0) -> str:
    """The burn-ins of one segment of ``width`` x ``height`` (the size after any downscale), as a filter chain
    to append after the conform's filters (``commands.picture_filter``): ``chain + "," + burnin_filter(...)``.

    The frame counter and both timecodes count the frames that reach the filters, so the chain must see the
    segment's first frame first (the conform trims only the end), or, with ``first``, the shot's frame ``first``
    (counted from 0): the burn-ins of a section rendered from inside the shot (``overlays.py``).
    """
    if width < 2 or height < 2:
        raise ValueError(f"a {width}x{height} picture has no room for burn-ins")
    if first:
        b = replace(b, record_start_frame=b.record_start_frame + first, source_start_frame=b.source_start_frame + first)
    lay = Layout.for_height(height)
    m = str(lay.margin)
    left, right, top, bottom = m, f"w-tw-{m}", m, f"h-th-{m}"
    common = {"font": font, "layout": lay}
    return ",".join(
        (
            drawtext(b.title, x=left, y=top, **common),
            drawtext(counter_text(first=first), x=right, y=top, expand=True, **common),
            drawtext("SRC ", x=left, y=bottom, timecode=b.source_label, rate=b.rate, **common),
            drawtext("REC ", x=right, y=bottom, timecode=b.record_label, rate=b.rate, **common),
        )
    )


# --------------------------------------------------------------------------- the font and the FFmpeg


_EXTRACTED = contextlib.ExitStack()
atexit.register(_EXTRACTED.close)


@functools.cache
def font_path() -> Path:
    """The shipped monospace font (``vidasm_assets/fonts/DejaVuSansMono.ttf``) as a file FFmpeg can open: the
    package's own file, or, when the package is imported from an archive, a copy kept until the process exits."""
    resource = resources.files("vidasm_assets") / "fonts" / FONT_FILE
    if not resource.is_file():
        raise FileNotFoundError(f"the burn-in font {FONT_FILE} is missing from the installed vidasm_assets package")
    return Path(_EXTRACTED.enter_context(resources.as_file(resource)))


def require_burn_ins(ffmpeg: FFmpeg) -> None:
    """Raise ``FFmpegBuildError`` (naming the binary, its version, what it lacks and ``FFMPEG_PATH``) when the
    chosen FFmpeg cannot draw burn-ins; nothing when it can."""
    missing = ffmpeg.capabilities.missing_burn_ins()
    if missing:
        raise FFmpegBuildError(
            f"cannot burn in with {ffmpeg.exe} (FFmpeg {ffmpeg.version}): it lacks {'; '.join(missing)} (drawtext "
            "needs an FFmpeg built with libfreetype, and from FFmpeg 6.1 on libharfbuzz too); point FFMPEG_PATH at "
            "one that has it, e.g. the bundled FFmpeg, or leave burn-ins out of the preset",
            path=ffmpeg.exe,
        )
