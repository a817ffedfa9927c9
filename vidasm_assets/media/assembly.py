"""The project level: the timeline from the renders' headers, placeholder slates, the cut (a stream-copy join)
and the deliveries encoded from it."""

from __future__ import annotations

import contextlib
import dataclasses
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from . import commands as cmd
from .burnins import BurnIn, timeline_burn_ins
from .cards import CARDS_DIR, card_clip, card_segment, prune_cards, render_card
from .checks import segment_mismatches
from .colour import check_hdr_policy
from .conform import segment_encoder
from .errors import (
    InvalidMediaError,
    MediaNotFoundError,
    RangeError,
    SourceTimecodeError,
    UnsupportedMediaError,
    VidasmError,
)
from .fingerprints import FingerprintCache
from .loudness import describe_tracks, selected_tracks
from .outputs import atomic_output, temp_name
from .overlays import resolve_overlays
from .presets import CUT_VIDEO, Preset, from_cut
from .probe import MediaInfo, probe, require_video, video_frames
from .project import CardRef, Project, ShotRef, list_takes
from .ranges import FrameRange, ShotSpan, entry_range, shot_uses, span_of
from .rates import Rate
from .runner import Run
from .shots import colour_of, shot_frames, usable_take
from .slate import card_lines, draw_card
from .timecode import read_source_timecode
from .timeline import Timeline, TimelineClip
from .transitions import Report, audio_cmd, check_transitions, transition_pictures
from .versions import Asset, Inputs, segment_inputs, shot_inputs, spec_facets

PLACEHOLDER_SECONDS = 2
"""A placeholder's length when nothing tells how long the shot is (no usable take of it at all)."""


def source_timecode_fields(info: MediaInfo, rate: Rate, source_in: int = 0) -> dict[str, Any]:
    """The render's start timecode as ``TimelineClip`` fields: the timecode at its own rate and drop-frame mode,
    the source in relabelled at the timeline ``rate`` (``timecode.py`` says how and why) plus ``source_in`` (the
    entry's ``in``, timeline frames), or, when the tag is not a timecode at the render's rate, why (the EDL/OTIO
    exports then fail naming the file; never 00:00:00:00). Without a timecode the source in is ``source_in``."""
    trim = {"source_in": source_in, "source_start_frame": source_in} if source_in else {}
    try:
        tc = read_source_timecode(info)
    except SourceTimecodeError as exc:
        return {"source_timecode_error": exc.message, **trim}
    if tc is None:
        return trim
    return {**trim, "source_timecode": tc, "source_start_frame": tc.to_record_frame(rate) + source_in}


def placeholder_paths(project: Project, shot: str) -> tuple[Path, Path]:
    """Where a placeholder slate's picture and audio go (beside the conformed shots, under 05_Cache)."""
    folder = project.cache_dir / "placeholder"
    return folder / f"{shot}.mov", folder / f"{shot}.wav"


def _placeholder_frames(project: Project, shot: str) -> int:
    """The shot's length from its newest take that probes, else ``PLACEHOLDER_SECONDS``."""
    rate = project.spec.rate
    for take in reversed(list_takes(project.shot_dir(shot), shot)):
        try:
            return shot_frames(probe(take.path), rate)
        except VidasmError:
            continue
    return rate.seconds_to_frames(PLACEHOLDER_SECONDS)


def _placeholder_clip(project: Project, ref: ShotRef, exc: VidasmError) -> TimelineClip:
    picture, _ = placeholder_paths(project, ref.shot)
    reason = exc.message.replace(str(project.root) + "/", "")
    try:
        take = project.select_take(ref.shot).label  # the take that is there but unusable
    except VidasmError:
        take = ref.take or "missing"
    return TimelineClip(
        shot=ref.shot,
        take=take,
        clip_name=f"{ref.shot}_PLACEHOLDER",
        source_path=str(picture),
        frames=_placeholder_frames(project, ref.shot),
        scene=ref.scene,
        beat=ref.beat,
        notes=ref.notes,
        placeholder=f"missing render: {reason}",
    )


def build_timeline(project: Project, probes: dict[str, MediaInfo] | None = None) -> Timeline:
    """Probe each selected take (headers only) and lay the shots out in story order.

    A shot whose render is missing or unusable fails the timeline, naming the shot, unless the project opts
    into placeholders: then it becomes a placeholder clip of the shot's length (so does a take the project
    refuses, HDR without the tone-mapping opt-in, which is otherwise left to fail the shot's build).
    """
    rate = project.spec.rate
    width, height = project.spec.size
    clips = []
    for ref in project.entries():
        if isinstance(ref, CardRef):
            clips.append(card_clip(project, ref))
            continue
        try:
            take, info = usable_take(project, ref, probes)
            used = entry_range(ref, take, info, rate, shot_frames(info, rate))
            if project.spec.placeholders:  # a take the project refuses is as missing as no take
                check_hdr_policy(colour_of(require_video(info)), project.spec.colour.hdr, str(take.path))
        except RangeError:
            raise  # project.json asks for frames the render does not have: said, never a slate
        except VidasmError as exc:
            if project.spec.placeholders:
                clips.append(dataclasses.replace(_placeholder_clip(project, ref, exc), **_transitions(ref)))
                continue
            if exc.shot == ref.shot:
                raise
            raise exc.for_shot(ref.shot) from exc
        clips.append(
            TimelineClip(
                shot=ref.shot,
                take=take.label,
                clip_name=take.name,
                source_path=str(take.path),
                frames=used.frames,
                scene=ref.scene,
                beat=ref.beat,
                notes=ref.notes,
                audio_tracks=_tracks_note(project, ref, info),
                **source_timecode_fields(info, rate, used.start),
                **_transitions(ref),
            )
        )
    check_transitions(clips)
    if not clips:
        raise VidasmError(f"project {project.name}: no shots to assemble in {project.renders_dir}", path=project.root)
    record_start = project.spec.editorial.record_start
    return Timeline(project.name, rate, tuple(clips), record_start=record_start, width=width, height=height,
                    overlays=resolve_overlays(project, clips))  # fmt: skip


def _transitions(ref: ShotRef) -> dict[str, Any]:
    return {"transition_in": ref.transition_in, "transition_out": ref.transition_out}


def _tracks_note(project: Project, ref: ShotRef, info: MediaInfo) -> str | None:
    """What the EDL says about the shot's audio tracks: only when there was a choice to make."""
    if len(info.audio) < 2 and project.audio_tracks(ref.shot) == "all":
        return None
    return describe_tracks(info, selected_tracks(project, ref.shot, info))


def render_placeholder(run: Run, project: Project, clip: TimelineClip) -> tuple[Path, Path]:
    """The slate for a placeholder clip: a card at the conform's settings and exact-length silence."""
    rate = project.spec.rate
    width, height = project.spec.size
    picture, audio = placeholder_paths(project, clip.shot)
    lines = card_lines(project.name, clip.shot, clip.take, clip.frames, rate, clip.placeholder or "missing render")
    with atomic_output(picture) as tmp:
        card = draw_card(tmp.with_suffix(".png"), width, height, lines)
        try:
            argv = cmd.slate_picture_cmd(card, tmp, cmd.Target(width, height, rate, clip.frames))
            run(argv, path=picture, total_seconds=float(rate.frames_to_seconds(clip.frames)))
        finally:
            card.unlink(missing_ok=True)
    with atomic_output(audio) as tmp:
        run(cmd.silence_cmd(tmp, samples=rate.samples_for_frames(clip.frames)), path=audio)
    return picture, audio


def clip_span(timeline: Timeline, shot: str) -> ShotSpan:
    """What ``shot``'s per-shot outputs cover, from the timeline's uses of it (``ranges.py``): the span of its
    clips, and the cuts between them (none when it is used once, or always whole)."""
    return span_of([FrameRange(c.source_in, c.source_in + c.frames) for c in timeline.uses(shot)])


@contextlib.contextmanager
def scratch_folder(project: Project) -> Iterator[Path]:
    """A hidden folder in ``05_Cache`` for the pieces of repeated shots (named like a partial file), removed when
    the block ends."""
    folder = temp_name(project.cache_dir / "pieces")
    folder.mkdir(parents=True)
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def clip_pictures(
    run: Run, timeline: Timeline, shared: list[Path], scratch: Path, *, muxer: str = "mov"
) -> list[list[Path]]:
    """The files that make each clip's picture, in story order: the shot's own file (``shared[i]``: its conform,
    a segment, a slate) when the clip uses all of it, else the pieces of it the clip's range takes. A shot used
    with different ranges was encoded once over their span with a keyframe at each cut (``ranges.py``); it is
    split there by stream copy, once per shot. ``InvalidMediaError`` naming the shot when a piece is not exactly
    as long as its cuts say (a keyframe missing where it was forced)."""
    split: dict[str, list[Path]] = {}
    out: list[list[Path]] = []
    for clip, path in zip(timeline.clips, shared, strict=True):
        span = None if clip.generated else clip_span(timeline, clip.shot)
        if span is None or not span.cuts:
            out.append([path])
            continue
        if clip.shot not in split:
            ext = path.suffix
            run(cmd.split_cmd(path, scratch / f"{clip.shot}_%d{ext}", span.cuts, rate=timeline.rate, muxer=muxer),
                path=path)  # fmt: skip
            pieces = [scratch / f"{clip.shot}_{i}{ext}" for i in range(len(span.cuts) + 1)]
            for piece, want in zip(pieces, span.pieces(), strict=True):
                got = video_frames(piece) if piece.is_file() else 0
                if got != want.frames:
                    raise InvalidMediaError(
                        f"{path}: the piece of frames {want.start}-{want.end} split from it has {got} frames (no "
                        "keyframe where one was forced?); rebuild the shot",
                        path=path,
                        shot=clip.shot,
                    )
            split[clip.shot] = pieces
        used = FrameRange(clip.source_in, clip.source_in + clip.frames)
        out.append([split[clip.shot][i] for i in span.piece_indices(used)])
    return out


def clip_audios(run: Run, timeline: Timeline, shared: list[Path], scratch: Path) -> list[Path]:
    """The PCM of each clip, in story order: the shot's own when the clip uses all of it, else exactly the clip's
    samples cut from it (from the sample of the clip's first frame, ``Rate.samples_for_frames``, as many samples as
    its frames span: the count a whole shot of that length has)."""
    rate = timeline.rate
    out: list[Path] = []
    for i, (clip, path) in enumerate(zip(timeline.clips, shared, strict=True)):
        span = None if clip.generated else clip_span(timeline, clip.shot)
        if span is None or not span.cuts:
            out.append(path)
            continue
        piece = scratch / f"{clip.shot}_{i}.wav"
        start = rate.samples_for_frames(clip.source_in) - rate.samples_for_frames(span.span.start)
        run(cmd.pcm_piece_cmd(path, piece, start_sample=start, samples=rate.samples_for_frames(clip.frames)),
            path=path)  # fmt: skip
        out.append(piece)
    return out


def assemble_cut(run: Run, project: Project, timeline: Timeline, report: Report | None = None) -> Path:
    """Join every shot's picture and audio by stream copy, checking each is there and the right length.

    Placeholder clips get their slate rendered here, cards their picture (``cards.render_card``). A real shot
    whose outputs are missing or the wrong length fails the cut, naming the shot: a shot is never dropped silently.
    A shot used more than once with different ranges is split into the pieces each use takes (``clip_pictures``,
    ``clip_audios``).
    """
    pictures, audios, card_files = [], [], []
    for clip in timeline.clips:
        if clip.placeholder:
            pic, aud = render_placeholder(run, project, clip)
            frames = clip.frames
        elif clip.card is not None:
            pic, aud = render_card(run, project, clip)
            frames = clip.frames
            card_files += [pic, aud]
        else:
            pic, aud = project.picture_path(clip.shot), project.audio_path(clip.shot)
            frames = clip_span(timeline, clip.shot).span.frames
        for p in (pic, aud):
            if not p.is_file():
                raise MediaNotFoundError(shot=clip.shot, message=f"{p} is missing; build the shot first", path=p)
        pinfo = probe(pic)
        if not pinfo.video or pinfo.video.frames != frames:
            got = pinfo.video.frames if pinfo.video else 0
            raise InvalidMediaError(
                f"shot {clip.shot}: {pic} has {got} frames but the timeline needs {frames}; rebuild the shot",
                path=pic,
            )
        ainfo = probe(aud)
        samples = ainfo.audio[0].samples if ainfo.audio else None
        if samples != timeline.rate.samples_for_frames(frames):
            raise InvalidMediaError(
                f"shot {clip.shot}: {aud} has {samples} samples but the timeline needs "
                f"{timeline.rate.samples_for_frames(frames)}; rebuild the shot",
                path=aud,
            )
        pictures.append(pic)
        audios.append(aud)
    dest = project.cut_path()
    dest.parent.mkdir(parents=True, exist_ok=True)
    with atomic_output(dest) as tmp, scratch_folder(project) as scratch:
        if timeline.has_sections:  # bodies by stream copy, sections rendered (transitions.py, overlays.py)
            pictures = transition_pictures(run, project, timeline, pictures, scratch, video=CUT_VIDEO, muxer="mov",
                                           folder="cut", report=report or Report())  # fmt: skip
        else:
            pictures = [p for ps in clip_pictures(run, timeline, pictures, scratch) for p in ps]
        if timeline.has_transitions:  # the sound's crossfades and fades
            mixed = scratch / "sound.wav"
            run(audio_cmd(timeline, clip_audios(run, timeline, audios, scratch), mixed), path=dest)
            audios = [mixed]
        else:
            audios = clip_audios(run, timeline, audios, scratch)
        # the lists sit in 05_Cache, so every entry is a short relative path (picture/sh010.mov) whatever the
        # workspace path holds (a newline would split an absolute entry: commands.concat_list)
        base = project.cache_dir
        vlist, alist = (base / f".{tmp.stem.lstrip('.')}.{kind}.txt" for kind in ("video", "audio"))
        try:
            vlist.write_text(cmd.concat_list(pictures, base))
            alist.write_text(cmd.concat_list(audios, base))
            seconds = float(timeline.rate.frames_to_seconds(timeline.total_frames))
            run(
                cmd.assemble_cmd(vlist, alist, tmp, rate=timeline.rate),
                path=dest,
                total_seconds=seconds,
            )
        finally:
            vlist.unlink(missing_ok=True)
            alist.unlink(missing_ok=True)
        out = probe(tmp)
        if not out.video or out.video.frames != timeline.total_frames:
            got = out.video.frames if out.video else 0
            raise InvalidMediaError(f"{dest}: cut has {got} frames, expected {timeline.total_frames}", path=dest)
    prune_cards(project.cache_dir / CARDS_DIR, set(card_files))  # an edited card's old outputs
    return dest


def placeholder_segment(run: Run, project: Project, clip: TimelineClip, preset: Preset) -> Path:
    """A placeholder clip's slate at one preset's picture settings (``05_Cache/placeholder/<preset>/<shot>``)."""
    assert preset.spec.video is not None
    rate = project.spec.rate
    width, height = cmd.preset_size(*project.spec.size, preset.spec.video)
    muxer, ext = preset.segment_muxer
    dest = project.cache_dir / "placeholder" / preset.name / f"{clip.shot}.{ext}"
    lines = card_lines(project.name, clip.shot, clip.take, clip.frames, rate, clip.placeholder or "missing render")
    with atomic_output(dest) as tmp:
        card = draw_card(tmp.with_suffix(".png"), width, height, lines)
        try:
            target = cmd.Target(width, height, rate, clip.frames, preset.spec.video)
            argv = cmd.slate_picture_cmd(card, tmp, target, muxer=muxer)
            run(argv, path=dest, total_seconds=float(rate.frames_to_seconds(clip.frames)))
        finally:
            card.unlink(missing_ok=True)
    return dest


def delivery_segments(run: Run, project: Project, timeline: Timeline, preset: Preset) -> list[Path]:
    """The segment of every clip of the timeline for ``preset``, in story order, each checked to be there and
    exactly the clip's length (placeholder clips get their slate rendered at the preset's settings), then
    checked to be stream-copy compatible with each other (``checks.segment_mismatches``).

    Raises ``MediaNotFoundError``/``InvalidMediaError`` naming the shot's segment."""
    paths = []
    for clip in timeline.clips:
        if clip.placeholder:
            paths.append(placeholder_segment(run, project, clip, preset))
            continue
        if clip.card is not None:
            paths.append(card_segment(run, project, clip, preset))
            continue
        seg = project.segment_path(preset.name, clip.shot)
        if not seg.is_file():
            raise MediaNotFoundError(shot=clip.shot, message=f"{seg} is missing; build the shot's segment", path=seg)
        got = video_frames(seg)
        frames = clip_span(timeline, clip.shot).span.frames
        if got != frames:
            raise InvalidMediaError(
                f"shot {clip.shot}: {seg} has {got} frames but the timeline needs {frames}; rebuild it",
                path=seg,
                shot=clip.shot,
            )
        paths.append(seg)
    cards = {p for c, p in zip(timeline.clips, paths, strict=True) if c.card is not None}
    if cards:  # an edited card's old segments go
        prune_cards(project.cache_dir / CARDS_DIR / preset.name, cards)
    problem = segment_mismatches(list(dict.fromkeys(paths)))
    if problem:
        raise InvalidMediaError(f"{project.name} {preset.name}: segments cannot be joined: {problem}",
                                path=paths[0])  # fmt: skip
    return paths


def deliver(run: Run, project: Project, preset_name: str, timeline: Timeline, *, sound: Path | None = None) -> Path:
    """Encode one delivery (``06_Exports/<project>_<preset>.<ext>``).

    Its picture is its per-shot segments joined by stream copy (``delivery_segments``), or the cut's own picture
    for a preset at the conform's settings (``presets.from_cut``); its sound is the cut's sample-exact PCM
    encoded once; a sound-only preset (stems) is the cut's sound alone. The result is checked to have exactly
    the timeline's frames. Raises ``MediaNotFoundError`` for a missing cut or segment, ``InvalidMediaError``
    for a segment of the wrong length, incompatible segments or a delivery of the wrong length. ``sound``: another
    sound than the cut's (the mix with the music bed, ``music.py``), exactly the cut's samples."""
    preset = project.preset(preset_name)
    cut = project.cut_path()
    for needed, what in ((cut, "the cut is missing; assemble it first"), (sound, "the mix is missing; build it")):
        if needed is not None and not needed.is_file():
            raise MediaNotFoundError(f"{needed}: {what}", path=needed)
    dest = project.delivery_path(preset_name)
    rate = project.spec.rate
    seconds = float(rate.frames_to_seconds(timeline.total_frames))
    with atomic_output(dest) as tmp:
        if preset.spec.video is None:
            run(cmd.stems_cmd(sound or cut, tmp, preset=preset), path=dest, total_seconds=seconds)
            return dest
        if from_cut(preset):
            run(cmd.join_cmd(None, cut, tmp, preset=preset, rate=rate, title=project.name, sound=sound), path=dest,
                total_seconds=seconds)  # fmt: skip
        else:
            segments = delivery_segments(run, project, timeline, preset)
            listing = project.cache_dir / f".{tmp.stem.lstrip('.')}.segments.txt"
            with scratch_folder(project) as scratch:
                files = _delivery_pictures(run, project, timeline, preset, segments, scratch)
                try:
                    listing.write_text(cmd.concat_list(files, project.cache_dir))
                    argv = cmd.join_cmd(listing, cut, tmp, preset=preset, rate=rate, title=project.name, sound=sound)
                    run(argv, path=dest, total_seconds=seconds)
                finally:
                    listing.unlink(missing_ok=True)
        got = video_frames(tmp)
        if got != timeline.total_frames:
            raise InvalidMediaError(f"{dest}: {got} frames, the timeline has {timeline.total_frames}", path=dest)
    return dest


def _delivery_pictures(
    run: Run, project: Project, timeline: Timeline, preset: Preset, segments: list[Path], scratch: Path
) -> list[Path]:
    """What a segment preset's delivery joins: the clips' segments (or their pieces), or with transitions the
    bodies and the sections rendered at the preset's settings (``transitions.py``)."""
    muxer = preset.segment_muxer[0]
    if not timeline.has_sections:
        return [p for ps in clip_pictures(run, timeline, segments, scratch, muxer=muxer) for p in ps]
    assert preset.spec.video is not None
    if (preset.spec.burn_ins and timeline.has_transitions) or segment_encoder(project, preset) is not None:
        raise UnsupportedMediaError(
            f"{project.name} {preset.name}: transitions are not rendered with burn-ins, nor transitions or text "
            "overlays on a hardware encoder, yet; export this preset without them",
            path=project.root / "project.json",
        )
    return transition_pictures(run, project, timeline, segments, scratch, video=preset.spec.video, muxer=muxer,
                               folder=preset.name, report=Report(), burn_ins=preset.spec.burn_ins)  # fmt: skip


def expected_shot_inputs(project: Project, clip: TimelineClip, cache: FingerprintCache) -> dict[Asset, Inputs]:
    """The picture and audio inputs a clip's shot must have been built from for the cut to use it (the render
    the timeline names, as it is now on disk)."""
    return shot_inputs(_clip_fingerprint(clip, cache), clip.take, spec_facets(project), shot_uses(project, clip.shot))


def expected_segment_inputs(
    project: Project, timeline: Timeline, clip: TimelineClip, cache: FingerprintCache, preset: Preset
) -> Inputs:
    """The inputs a clip's segment of ``preset`` must have been built from for its delivery to use it (the render
    the timeline names as it is now on disk; for burn-ins, what they show at the clip's place in the cut)."""
    burn_in = burn_in_facts(clip_burn_in(timeline, clip.shot)) if preset.spec.burn_ins else None
    hardware = segment_encoder(project, preset)
    return segment_inputs(_clip_fingerprint(clip, cache), clip.take, spec_facets(project), preset, burn_in,
                          hardware.encoder if hardware else None, shot_uses(project, clip.shot))  # fmt: skip


def _clip_fingerprint(clip: TimelineClip, cache: FingerprintCache) -> str:
    path = Path(clip.source_path)
    if not path.is_file():
        raise MediaNotFoundError(shot=clip.shot, message=f"{path} vanished since the timeline was built", path=path)
    return cache.fingerprint(path)


def clip_burn_in(timeline: Timeline, shot: str) -> BurnIn:
    """What the burn-ins of ``shot`` show at its place in ``timeline`` (``KeyError`` for a shot not in it)."""
    return {b.shot: b for b in timeline_burn_ins(timeline)}[shot]


def burn_in_facts(b: BurnIn) -> dict[str, Any]:
    """A burn-in's content by name, for the segment's data version: a shot earlier in the cut changing length
    moves this shot's record timecode, so its segment is rebuilt; nothing else about the cut touches it."""
    return {"project": b.project, "shot": b.shot, "take": b.take, "record_start_frame": b.record_start_frame,
            "source_start_frame": b.source_start_frame}  # fmt: skip
