"""Conforming a shot's picture to the timeline: one FFmpeg encode from the render (``commands.picture_filter``)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from . import commands as cmd
from .colour import SourceColour, check_hdr_policy
from .errors import InvalidMediaError
from .outputs import atomic_output
from .probe import MediaInfo, StreamKind, probe, require_video, verify_complete
from .project import Project, Take
from .runner import Run
from .shots import _source_kept, colour_of, shot_frames


@dataclass(frozen=True)
class PictureResult:
    path: Path
    frames: int
    info: MediaInfo
    source: MediaInfo | None = None  # the render, probed with its first frame decoded
    colour: SourceColour | None = None


def conform_picture(run: Run, project: Project, take: Take, info: MediaInfo) -> PictureResult:
    rate = project.spec.rate
    width, height = project.spec.size
    frames = shot_frames(info, rate)
    with _source_kept(take):
        full = probe(take.path, first_frame=True)
        verify_complete(full, StreamKind.VIDEO)
    video = require_video(full)
    colour = colour_of(video)
    check_hdr_policy(colour, project.spec.colour.hdr, str(take.path))
    source = cmd.PictureSource(colour=colour, interlaced=video.interlaced)
    dest = project.picture_path(take.path.parent.name)
    with atomic_output(dest) as tmp:
        argv = cmd.conform_picture_cmd(
            take.path, tmp, width=width, height=height, rate=rate, frames=frames, source=source
        )
        with _source_kept(take):
            run(argv, path=take.path, total_seconds=float(rate.frames_to_seconds(frames)))
        out = probe(tmp)
        got = out.video.frames if out.video else 0
        if got != frames:
            raise InvalidMediaError(
                f"{take.path}: decodes to {got} frames, but its header says {frames} at {rate} fps: the render is "
                "truncated or damaged",
                path=take.path,
            )
    return PictureResult(dest, frames, probe(dest), full, colour)
