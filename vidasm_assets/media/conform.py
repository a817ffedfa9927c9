"""Conforming a shot's picture to the timeline: one FFmpeg encode from the render (``commands.picture_filter``)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from . import commands as cmd
from .colour import AlphaMode, SourceColour, check_hdr_policy
from .errors import InvalidMediaError, UnsupportedMediaError
from .ffmpeg_tool import FFmpeg
from .hwaccel import CODEC_OF, Choice, choose_encoder, requested
from .outputs import atomic_output
from .presets import CUT_VIDEO, Preset, VideoSpec
from .probe import MediaInfo, StreamKind, probe, require_video, verify_complete, video_frames
from .project import Project, Take
from .ranges import shot_span
from .runner import Run
from .shots import _source_kept, colour_of, shot_frames


@dataclass(frozen=True)
class PictureResult:
    path: Path
    frames: int
    info: MediaInfo
    source: MediaInfo | None = None  # the render, probed with its first frame decoded
    colour: SourceColour | None = None
    trimmed: bool = False  # the shot's uses take part of the render (sequence entries' in/out; ``ranges.py``)
    alpha: AlphaMode = AlphaMode.STRAIGHT  # how the render's alpha, if it has one, was read (colour.alpha)


def conform_picture(run: Run, project: Project, take: Take, info: MediaInfo) -> PictureResult:
    """The shot's picture for the cut (``05_Cache/picture/<shot>.mov``, the conform's settings)."""
    return encode_picture(run, project, take, info, project.picture_path(take.path.parent.name), CUT_VIDEO)


def encode_segment(
    run: Run,
    project: Project,
    take: Take,
    info: MediaInfo,
    preset: Preset,
    burn_in: BurnInText | None = None,
    encoder: Choice | None = None,
) -> PictureResult:
    """The shot's picture for one preset's delivery, from the render (one generation): its segment. ``encoder``:
    a hardware encoder (``segment_encoder``), else the preset's software one."""
    assert preset.spec.video is not None
    dest = project.segment_path(preset.name, take.path.parent.name)
    return encode_picture(run, project, take, info, dest, preset.spec.video, burn_in, preset.segment_muxer[0],
                          encoder)  # fmt: skip


def segment_encoder(project: Project, preset: Preset, tool: FFmpeg | None = None) -> Choice | None:
    """The hardware encoder a preset's segments use, when the preset (``video.hardware``) or ``VIDASM_HWACCEL``
    asks for one and its one-frame trial encode succeeds (``hwaccel.choose_encoder``; otherwise software with one
    warning); None when nothing asks (no trial run). Its encoder is part of the segments' data version: hardware
    and software segments do not join by stream copy."""
    video = preset.spec.video
    if video is None or requested(video).want == "none" or video.codec not in CODEC_OF:
        return None
    width, height = cmd.preset_size(*project.spec.size, video)
    choice = choose_encoder(tool, video, rate=project.spec.rate, width=width, height=height)
    return choice if choice.hardware != "none" else None


BurnInText = Callable[[int, int], str]
"""A burn-in filter for a picture size (width, height): ``burnins.burnin_filter`` bound to one shot."""


def encode_picture(
    run: Run,
    project: Project,
    take: Take,
    info: MediaInfo,
    dest: Path,
    video: VideoSpec,
    burn_in: BurnInText | None = None,
    muxer: str = "mov",
    encoder: Choice | None = None,
) -> PictureResult:
    """Encode the render's picture through the conform's filters to ``video``'s settings, exactly the shot's frames.

    Raises ``InvalidMediaError`` naming the render when it decodes to fewer frames than its header says (truncated),
    ``UnsupportedMediaError`` for colour the project refuses, and the runner's typed errors."""
    rate = project.spec.rate
    width, height = project.spec.size
    whole = shot_frames(info, rate)
    uses = shot_span(project, take.path.parent.name, take, info, whole)
    if burn_in is not None and uses.cuts:
        raise UnsupportedMediaError(
            "used more than once with different ranges, and one segment with burn-ins cannot show two record "
            "timecodes: use it once in the cut, or export this preset without burn-ins",
            path=take.path,
            shot=take.path.parent.name,
        )
    frames = uses.span.frames
    with _source_kept(take):
        full = probe(take.path, first_frame=True)
        verify_complete(full, StreamKind.VIDEO)
    picture = require_video(full)
    colour = colour_of(picture)
    check_hdr_policy(colour, project.spec.colour.hdr, str(take.path))
    source = cmd.PictureSource.of(picture, colour, project.spec.colour.alpha)
    out_w, out_h = cmd.preset_size(width, height, video)
    with atomic_output(dest) as tmp:
        target = cmd.Target(width, height, rate, frames, video, start=uses.span.start, keyframes=uses.cuts)
        argv = cmd.segment_cmd(take.path, tmp, target, source=source,
                               burn_in=burn_in(out_w, out_h) if burn_in else None, muxer=muxer,
                               encoder=encoder)  # fmt: skip
        with _source_kept(take):
            run(argv, path=take.path, total_seconds=float(rate.frames_to_seconds(frames)))
        got = video_frames(tmp)
        if got != frames and uses.span.frames == whole:
            raise InvalidMediaError(
                f"{take.path}: decodes to {got} frames, but its header says {frames} at {rate} fps: the render is "
                "truncated or damaged",
                path=take.path,
            )
        if got != frames:
            raise InvalidMediaError(
                f"{take.path}: frames {uses.span.start}-{uses.span.end} at {rate} fps decode to {got} frames, not "
                f"{frames}: the render is truncated or damaged",
                path=take.path,
            )
    return PictureResult(dest, frames, probe(dest), full, colour, frames != whole, project.spec.colour.alpha)
