"""A shot's selected render, as the build steps see it: its length in timeline frames, its colour, and a
guard that turns a render vanishing mid-build into an error that says so."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from .colour import SourceColour, source_colour
from .errors import InvalidMediaError, MediaNotFoundError, VidasmError
from .limits import check_render
from .probe import MediaInfo, VideoInfo, probe, require_video
from .project import Project, ShotRef, Take
from .rates import Rate


def shot_frames(info: MediaInfo, rate: Rate) -> int:
    """The shot's length in timeline frames: what a player presents, ``round(duration x rate)``.

    The duration is the stream's presented duration: libavformat applies MOV/MP4 edit lists to it, while the
    sample count (``nb_frames``) also counts the samples an edit list hides (a render trimmed by stream copy has
    48 coded frames and presents 36: lossless-cut #3057). So the sample count is never the shot's length.
    """
    v = require_video(info)
    frames = rate.seconds_to_frames(v.duration)
    if frames < 1:
        raise InvalidMediaError(f"{info.path}: shorter than one frame at {rate} fps", path=info.path)
    check_render(info, rate, frames)  # pixels, declared seconds per byte, frames: before any FFmpeg work
    return frames


def colour_of(video: VideoInfo) -> SourceColour:
    """The source's colour from its tags, or the documented assumptions (``colour.py``)."""
    width, height = video.width, video.height
    return source_colour(
        width=width,
        height=height,
        pix_fmt=video.pix_fmt,
        primaries=video.color_primaries,
        transfer=video.color_trc,
        matrix=video.colorspace,
        colour_range=video.color_range,
    )


def usable_take(project: Project, ref: ShotRef, probes: dict[str, MediaInfo] | None = None) -> tuple[Take, MediaInfo]:
    """The shot's selected take, probed (headers only), with a picture; a typed error naming it otherwise.

    What only the build can find (truncated data, an HDR picture the project refuses) fails the shot's build,
    not the timeline: the timeline stays a cheap, header-only view of the cut.
    """
    take = project.select_take(ref.shot)
    info = (probes or {}).get(ref.shot) or probe(take.path)
    require_video(info)
    return take, info


@contextlib.contextmanager
def _source_kept(take: Take) -> Iterator[None]:
    """Turn a failure caused by the render disappearing mid-build into an error that says so."""
    try:
        yield
    except VidasmError as exc:
        if not take.path.exists():
            raise MediaNotFoundError(f"{take.path}: the render vanished during the build", path=take.path) from exc
        raise
