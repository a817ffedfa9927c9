"""Transitions between sequence entries: dissolves, dips through black, fades from and to black.

**The model** (project.json, on a sequence entry): ``"transition_in": {"type": "dissolve" | "dip" | "fade_in",
"frames": N}`` is how the entry starts: a dissolve or a dip from the previous entry, or a fade up from black;
``"transition_out": {"type": "fade_out", "frames": N}`` fades the entry to black at its end. A transition is
stated on the entry it leads into, as a CMX3600 ``D`` event is the incoming event and an OTIO ``Transition``
sits before the incoming clip.

**Record length** (the NLE convention of overlapping clips, FFmpeg's ``xfade``): an entry's ``in``/``out`` are
every frame of it the cut shows, fully or in part; a dissolve or dip of N frames overlaps the last N frames of the
outgoing entry with the first N of the incoming one, so the cut is the sum of the entries minus the overlaps.
Fades take frames of their own entry and change no length. In an EDL the cut point of a dissolve is where it
starts (the ``D`` event's record in): the N frames the outgoing entry shows past that point are its media beyond
the cut, which the entry's own range must hold (``check_transitions``: a transition longer than an entry fails
naming the shot, the take and the frames needed and available).

**Smart rendering**: the shots' conforms and preset segments are built exactly as without transitions (their data
versions do not depend on any transition). The cut and each delivery take each shot's *body* from them by stream
copy and render only a *section* around each transition, from the renders (one generation) through the conform's
own filters at the same encoder settings, so sections and bodies join by stream copy. A body must start and end on
a keyframe of its shot's picture: the section extends from the last keyframe at or before the transition's first
frame to the first keyframe at or after its last (at most a GOP on either side; none for all-intra presets).
Forcing keyframes at the transition's edges in the conform instead would make every shot's conform depend on its
neighbours' transition lengths: changing one dissolve would re-encode two whole shots. Sections are cached by a
key of everything they are made from (``05_Cache/transitions/<cut|preset>/<key>``; those a build no longer uses
are removed): changing one transition renders that section alone, a shot's new render its own sections alone.

**Sound**: on the PCM (each entry's exact samples, ``assembly.clip_audios``), one graph (ffmpeg-python): a
dissolve or dip is a constant-power crossfade over the overlap's samples (``acrossfade``, ``CROSSFADE_CURVE``,
``Rate.samples_for_frames``), a fade a linear fade from or to silence (``afade``), the rest joined (``concat``);
exactly ``Timeline.total_samples``.

**Picture curves** (FFmpeg's): a dissolve's frame k of N is ``(N-k)/N`` of the outgoing picture and ``k/N`` of the
incoming one (``xfade=fade``: its first frame is the outgoing picture, the frame after it the incoming body); a dip of N
frames is the EDL's two dissolves through black (``editorial.dip_parts``: h = ceil(N/2) down, N - h up): its frame k
< h is the outgoing picture at ``(h-k)/h`` (the first untouched), frame h is black, and frame k > h the incoming
picture at ``(k-h)/(N-h)`` (``fade``, whose black is limited-range 16: ``xfade``'s ``fadeblack`` went to 0, below
black); the outgoing entry's last N - h frames of the overlap and the incoming's first h are not shown;
``fade_in`` starts black (frame k at ``k/N``), ``fade_out`` mirrors it (its last frame black).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import av
import ffmpeg

from . import commands as cmd
from .burnins import burnin_filter, font_path
from .colour import AlphaMode
from .errors import InvalidMediaError, RangeError, UnsupportedMediaError
from .outputs import atomic_output
from .overlays import drawtext_overlay
from .presets import VideoSpec, video_args
from .probe import probe, require_video, video_frames
from .project import Project
from .ranges import Frames
from .rates import AUDIO_RATE, Rate
from .runner import Run
from .shots import colour_of
from .timeline import Overlay, Timeline, TimelineClip

CROSSFADE_CURVE = "qsin"
"""The sound's crossfade under a dissolve or dip: constant power, FFmpeg's ``qsin`` ("quarter of sine wave",
``libavfilter/af_afade.c``: ``fade_gain`` is ``sin(x * pi / 2)`` of ``x = index / nb_samples``, clipped to 0-1;
``acrossfade`` gives sample k of ns the incoming sound at ``sin(pi/2 * k/ns)`` and the outgoing at
``sin(pi/2 * (ns-1-k)/ns)``, i.e. its cosine, one sample on). The two gains' squares add up to 1, so two
uncorrelated sounds (different shots' programme) keep their power through the crossfade; a linear crossfade (``tri``)
drops it by up to 3 dB in the middle (0.5^2 + 0.5^2), which pulled a cut with long dissolves below its loudness
target. NLEs default to the same: Premiere Pro's default audio transition is "Constant Power", Resolve's default
crossfade is its "+3 dB" one. The price: a sound crossfaded into itself (correlated, e.g. a shot dissolving into a
later part of the same take) rises by up to 3 dB in the middle."""

CODE_VERSION = "transitions-2"  # 2: a dip's way down ends a frame before black (one black frame, as the EDL)
"""Part of every section's cache key: a change to how sections are rendered renders them again."""
OVERLAYS_VERSION = "overlays-1"
"""Part of the cache key of a section that draws overlays: a change to how they are drawn renders those again."""


def check_transitions(clips: Sequence[TimelineClip]) -> None:
    """Every transition fits its entries: ``RangeError`` naming the shot, the take and the frames needed and
    available; ``UnsupportedMediaError`` for a placeholder in a transition or a fade_out into a dissolve."""
    for i, clip in enumerate(clips):
        prev = clips[i - 1] if i else None
        nxt = clips[i + 1] if i + 1 < len(clips) else None
        head = clip.transition_in[1] if clip.transition_in else 0
        tail = (nxt.overlap if nxt else 0) + (clip.transition_out[1] if clip.transition_out else 0)
        if (clip.transition_in or clip.transition_out or (nxt and nxt.overlap)) and clip.placeholder:
            raise UnsupportedMediaError(
                "is a placeholder and cannot take part in a transition", path=clip.source_path, shot=clip.shot
            )
        if clip.transition_out and nxt and nxt.overlap:
            raise UnsupportedMediaError(
                f"fades out and the next entry ({nxt.shot}) {nxt.transition_in[0]}s from it: use one of them",  # type: ignore[index]
                path=clip.source_path,
                shot=clip.shot,
            )
        # a fade_out's last frame is black and its fade starts on the frame before: one frame more
        needed = head + tail + (1 if clip.transition_out else 0)
        if needed > clip.frames:
            what = []
            if clip.transition_in:
                src = f" from {prev.shot}" if prev and clip.overlap else ""
                what.append(f"the {clip.transition_in[0]}{src} needs its first {head} frames")
            if nxt and nxt.overlap:
                what.append(f"the {nxt.transition_in[0]} into {nxt.shot} needs its last {nxt.overlap} frames (its "  # type: ignore[index]
                            "media beyond the cut point)")  # fmt: skip
            if clip.transition_out:
                what.append(f"the fade_out needs its last {clip.transition_out[1] + 1} frames")
            raise RangeError(
                f"take {clip.take} ({Path(clip.source_path).name}): {' and '.join(what)}, {needed} in all, but the "
                f"entry has {clip.frames} frame{'' if clip.frames == 1 else 's'} (frames {clip.source_in}-"
                f"{clip.source_in + clip.frames} of the render): lengthen the entry's in/out or shorten the transition",
                path=clip.source_path,
                shot=clip.shot,
            )


def keyframes(path: Path, rate: Rate) -> list[int]:
    """The frames (from 0, presentation order) where ``path``'s picture has a keyframe; demuxed only."""
    with av.open(str(path)) as c:
        stream = c.streams.video[0]
        pts = [(int(p.pts), p.is_keyframe) for p in c.demux(stream) if p.pts is not None and p.size]
        tb = stream.time_base
    if not pts:
        return []
    first = min(p for p, _ in pts)
    return sorted(round((p - first) * tb * rate.fraction) for p, key in pts if key)


@dataclass(frozen=True)
class Part(Frames):
    """Frames ``[start, end)`` of a clip's shared picture (its conform or segment, counted from its first frame)."""

    clip: int
    start: int
    end: int


@dataclass(frozen=True)
class Draw:
    """An overlay drawn in a section: on the section's frames ``first`` to ``last`` (inclusive, from its first)."""

    overlay: Overlay
    first: int
    last: int


@dataclass(frozen=True)
class Section:
    """What is rendered around one transition: ``a`` (and ``b`` for a dissolve or dip) from the renders; or, kind
    ``overlay`` (0 frames of transition), a stretch of one clip's body under text overlays (``overlays.py``).
    ``draws``: the overlays drawn over it."""

    kind: str
    frames: int  # the transition's frames
    a: Part
    b: Part | None = None
    draws: tuple[Draw, ...] = ()

    @property
    def length(self) -> int:
        return self.a.frames + (self.b.frames - self.frames if self.b else 0)

    def label(self, clips: Sequence[TimelineClip]) -> str:
        shots = clips[self.a.clip].shot + (f">{clips[self.b.clip].shot}" if self.b else "")
        if self.kind == "overlay":
            return f"{shots} overlay {'+'.join(d.overlay.field for d in self.draws)}"
        text = f"{shots} {self.kind} {self.frames}"
        return text + (f" + overlay {'+'.join(d.overlay.field for d in self.draws)}" if self.draws else "")


@dataclass
class Plan:
    """The cut's picture: in story order, ``Part`` (a body, stream-copied) or ``Section`` (rendered)."""

    items: list[Part | Section] = field(default_factory=list)


def _entry(timeline: Timeline, i: int) -> tuple[int, int]:
    """Clip ``i``'s frames ``[e0, e1)`` in its shared picture (which covers the span of its shot's uses)."""
    from .assembly import clip_span  # assembly imports this module

    clip = timeline.clips[i]
    e0 = clip.source_in - clip_span(timeline, clip.shot).span.start
    return e0, e0 + clip.frames


def plan_cut(timeline: Timeline, keys: Sequence[Sequence[int]]) -> Plan:
    """Bodies and sections of the cut's picture; ``keys[i]``: the keyframes of clip ``i``'s shared picture."""
    clips = timeline.clips
    n = len(clips)
    heads, tails = [], []
    for i, clip in enumerate(clips):
        e0, e1 = _entry(timeline, i)
        nxt = clips[i + 1] if i + 1 < n else None
        need_in = clip.transition_in[1] if clip.transition_in else 0
        need_out = (nxt.overlap if nxt else 0) + ((clip.transition_out[1] + 1) if clip.transition_out else 0)
        ks = [k for k in keys[i] if e0 <= k <= e1]
        up = min([k for k in ks if k >= e0 + need_in], default=e1) if need_in else e0
        down = max([k for k in ks if k <= e1 - need_out], default=e0) if need_out else e1
        if up > down:  # no whole GOP between the two transitions: their sections meet, nothing is copied
            up = down = e0 + need_in
        heads.append(up)
        tails.append(down)
    plan = Plan()
    for i, clip in enumerate(clips):
        e0, e1 = _entry(timeline, i)
        if clip.transition_in and not clip.overlap:
            plan.items.append(Section(clip.transition_in[0], clip.transition_in[1], Part(i, e0, heads[i])))
        if tails[i] > heads[i]:
            plan.items.append(Part(i, heads[i], tails[i]))
        if clip.transition_out:
            plan.items.append(Section("fade_out", clip.transition_out[1], Part(i, tails[i], e1)))
        if i + 1 < n and clips[i + 1].overlap:
            nxt = clips[i + 1]
            b0, _ = _entry(timeline, i + 1)
            assert nxt.transition_in is not None
            plan.items.append(Section(nxt.transition_in[0], nxt.overlap, Part(i, tails[i], e1),
                                      Part(i + 1, b0, heads[i + 1])))  # fmt: skip
    return plan


def _draws(overlays: Sequence[Overlay], start: int, length: int) -> tuple[Draw, ...]:
    """The overlays over record frames ``[start, start + length)``, in frames of that stretch."""
    return tuple(Draw(o, max(o.start, start) - start, min(o.end, start + length) - 1 - start)
                 for o in overlays if o.start < start + length and o.end > start)  # fmt: skip


def _hot(overlays: Sequence[Overlay], part: Part, at: int, keys: Sequence[int]) -> list[tuple[int, int]]:
    """The stretches of a body ``part`` (at record frame ``at``) that overlays cover, each widened to keyframes of
    its shared picture (``keys``; the body's own edges are keyframes), overlapping ones merged; frames of the
    shared picture."""
    ks = sorted({part.start, part.end, *(k for k in keys if part.start <= k <= part.end)})
    spans: list[tuple[int, int]] = []
    for o in overlays:
        a, b = max(o.start, at) - at + part.start, min(o.end, at + part.frames) - at + part.start
        if a >= b:
            continue
        spans.append((max(k for k in ks if k <= a), min(k for k in ks if k >= b)))
    merged: list[tuple[int, int]] = []
    for a, b in sorted(spans):
        if merged and a <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], b))
        else:
            merged.append((a, b))
    return merged


def add_overlays(plan: Plan, overlays: Sequence[Overlay], keys: Sequence[Sequence[int]]) -> Plan:
    """``plan`` with the overlays drawn: a transition's section draws those over it; a body under an overlay is
    split at the keyframes around it into bodies (still stream copied) and an ``overlay`` section (rendered)."""
    if not overlays:
        return plan
    out = Plan()
    at = 0  # record frame of the item's first frame: the items joined are the cut
    for item in plan.items:
        length = item.length if isinstance(item, Section) else item.frames
        if isinstance(item, Section):
            out.items.append(replace(item, draws=_draws(overlays, at, length)))
        else:
            pos = item.start
            for a, b in _hot(overlays, item, at, keys[item.clip]):
                if a > pos:
                    out.items.append(Part(item.clip, pos, a))
                part = Part(item.clip, a, b)
                out.items.append(Section("overlay", 0, part, draws=_draws(overlays, at + a - item.start, b - a)))
                pos = b
            if item.end > pos:
                out.items.append(Part(item.clip, pos, item.end))
        at += length
    return out


# --------------------------------------------------------------------------- commands


def _seconds(frames: int, rate: Rate) -> str:
    """``frames`` at ``rate`` as decimal seconds to the microsecond (FFmpeg durations; 5.1 takes no fractions)."""
    us = round(rate.frames_to_seconds(frames) * 1_000_000)
    return f"{us // 1_000_000}.{us % 1_000_000:06d}"


@dataclass(frozen=True)
class Source:
    """One input of a section: the render, its colour, and which of its timeline frames."""

    path: Path
    picture: cmd.PictureSource
    start: int  # first frame, in timeline frames from the render's first frame
    frames: int


def section_graph(section: Section, sources: Sequence[Source], target: cmd.Target, burn_in: str | None = None) -> str:
    """The section's ``-filter_complex``: each input through the conform's own chain (``commands.picture_filter``
    at the target's settings, with the preset's scale), then the transition, labelled ``[v]``.

    Written as a string: the conform's chain holds quoted expressions with commas, which a graph builder would
    escape again; the transition nodes are one filter each. ``burn_in``: the review burn-ins of an ``overlay``
    section (``burnins.burnin_filter`` from its first frame), drawn last as in the segments."""
    out_w, out_h = cmd.preset_size(target.width, target.height, target.video)
    scaled = (out_w, out_h) != (target.width, target.height)
    post = [f"scale=w={out_w}:h={out_h}:flags={cmd.SCALE_FLAGS}"] if scaled else []
    chains = []
    for i, s in enumerate(sources):
        t = cmd.Target(target.width, target.height, target.rate, s.frames, target.video, start=s.start)
        chains.append(f"[{i}:{cmd.PICTURE}:0]{cmd.picture_filter(t, s.picture, post=post)}[s{i}]")
    rate = target.rate
    n, a = section.frames, section.a.frames
    if section.kind == "overlay":  # the body's frames, drawn on below
        last = "[s0][v]"
    elif section.kind == "dip":  # the EDL's two dissolves: out to black over the first h frames, black, up from it
        h = (n + 1) // 2
        last = (f"[s0]trim=end_frame={a - n + h},fade=type=out:start_frame={a - n}:nb_frames={h}[d0];"
                f"[s1]trim=start_frame={h},setpts=PTS-STARTPTS,fade=type=in:start_frame=0:nb_frames={n - h}[d1];"
                "[d0][d1]concat=n=2:v=1:a=0[v]")  # fmt: skip
    elif section.b is not None:
        last = (f"[s0][s1]xfade=transition=fade:duration={_seconds(n, rate)}"
                f":offset={_seconds(a - n, rate)}[v]")  # fmt: skip
    elif section.kind == "fade_in":
        last = f"[s0]fade=type=in:start_frame=0:nb_frames={n}[v]"
    else:  # fade_out: the fade starts on the frame before its first, so its last frame is black
        last = f"[s0]fade=type=out:start_frame={a - n - 1}:nb_frames={n}[v]"
    if section.draws:  # the overlays over the section's output (overlays.py)
        font = font_path()
        draws = ",".join(drawtext_overlay(d.overlay, d.first, d.last, width=out_w, height=out_h,
                                          timeline_height=target.height, font=font) for d in section.draws)  # fmt: skip
        last = f"{last.removesuffix('[v]')}{'' if section.kind == 'overlay' else ','}{draws}[v]"
    if burn_in:
        last = f"{last.removesuffix('[v]')},{burn_in}[v]"
    return ";".join([*chains, last])


def section_cmd(section: Section, sources: Sequence[Source], dst: Path, target: cmd.Target, *,
                muxer: str = "mov", burn_in: str | None = None) -> list[str]:  # fmt: skip
    """Render one section at the target's video settings (those of the pictures it joins: same encoder arguments,
    so it joins them by stream copy)."""
    out_w, out_h = cmd.preset_size(target.width, target.height, target.video)
    inputs = [a for s in sources for a in (*s.picture.input_args, "-i", str(s.path))]
    return [
        *cmd.BASE, *cmd.progress_args(), *inputs,
        "-filter_complex", section_graph(section, sources, target, burn_in), "-map", "[v]",
        "-an", "-sn", "-dn", "-map_metadata", "-1", "-map_chapters", "-1",
        *video_args(target.video, target.rate, out_w, out_h).args,
        *cmd.BT709_TAGS,
        *(cmd.timescale_args(target.rate) if muxer == "mov" else []),
        "-f", muxer, str(dst),
    ]  # fmt: skip


def audio_cmd(timeline: Timeline, pcms: Sequence[Path], dst: Path) -> list[str]:
    """The cut's sound with its transitions, from each clip's exact PCM (``assembly.clip_audios``): one graph built
    with ffmpeg-python, compiled to arguments (the runner binds the executable)."""
    rate = timeline.rate
    cur = None
    for clip, path in zip(timeline.clips, pcms, strict=True):
        s = ffmpeg.input(str(path)).audio
        length = rate.samples_for_frames(clip.frames)
        if clip.transition_in and not clip.overlap:
            s = s.filter("afade", type="in", start_sample=0, nb_samples=rate.samples_for_frames(clip.transition_in[1]))
        if clip.transition_out:
            ns = rate.samples_for_frames(clip.transition_out[1])
            # from the sample before, as the picture's fade_out: its last sample silent (sample k of ns at (ns-1-k)/ns)
            s = s.filter("afade", type="out", start_sample=length - ns - 1, nb_samples=ns)
        if cur is None:
            cur = s
        elif clip.overlap:
            ns = rate.samples_for_frames(clip.overlap)
            cur = ffmpeg.filter([cur, s], "acrossfade", nb_samples=ns, curve1=CROSSFADE_CURVE, curve2=CROSSFADE_CURVE)
        else:
            cur = ffmpeg.filter([cur, s], "concat", n=2, v=0, a=1)
    assert cur is not None
    total = timeline.total_samples()
    cur = cur.filter("atrim", end_sample=total).filter("asetpts", "PTS-STARTPTS")
    out = ffmpeg.output(cur, str(dst), acodec="pcm_s24le", ar=AUDIO_RATE, ac=2, f="wav", map_metadata=-1)
    return [*cmd.BASE, *out.get_args()]


# --------------------------------------------------------------------------- building


@dataclass
class Report:
    """Which sections a build rendered and which it found already rendered (for the asset's metadata)."""

    rendered: list[str] = field(default_factory=list)
    reused: list[str] = field(default_factory=list)


def _source(timeline: Timeline, part: Part, colours: dict[str, cmd.PictureSource], alpha: AlphaMode) -> Source:
    from .assembly import clip_span

    clip = timeline.clips[part.clip]
    span = clip_span(timeline, clip.shot).span
    if clip.source_path not in colours:
        picture = require_video(probe(Path(clip.source_path), first_frame=True))
        colours[clip.source_path] = cmd.PictureSource.of(picture, colour_of(picture), alpha)
    return Source(Path(clip.source_path), colours[clip.source_path], span.start + part.start, part.frames)


def drawn_facts(overlay: Overlay) -> dict[str, Any]:
    """What an overlay's drawing on a section's frames depends on: its text and look (``drawtext_overlay``). Not
    where it sits in the record (``start``, ``frames``: a ``Draw``'s own first and last frames say which of the
    section's frames it covers) nor where project.json states it: an earlier edit that moves the overlay in the
    record leaves every section whose drawing is the same reused (a watermark over the whole cut re-rendered
    every section after any change before this)."""
    return {"text": overlay.text, "position": overlay.position, "size": overlay.size, "colour": overlay.colour,
            "box": overlay.box}  # fmt: skip


def _key(section: Section, sources: Sequence[Source], target: cmd.Target, fingerprints: dict[str, str],
         burn_in: list[Any] | None = None) -> str:  # fmt: skip
    facts: dict[str, Any] = {
        "code": CODE_VERSION, "kind": section.kind, "frames": section.frames,
        # "alpha" only for a flattened source, so the keys of sources without alpha stay what they were
        "sources": [[fingerprints[str(s.path)], s.start, s.frames, repr(s.picture),
                     *(["alpha"] if s.picture.alpha else [])] for s in sources],
        "target": [target.width, target.height, target.rate.num, target.rate.den, repr(target.video)],
    }  # fmt: skip
    if section.draws:  # what the section draws (a section without overlays keeps its key)
        facts["draws"] = [[drawn_facts(d.overlay), d.first, d.last] for d in section.draws]
        facts["overlays"] = OVERLAYS_VERSION
    if burn_in is not None:
        facts["burn_in"] = burn_in
    return hashlib.blake2b(json.dumps(facts, sort_keys=True).encode(), digest_size=12).hexdigest()


def render_sections(
    run: Run,
    project: Project,
    timeline: Timeline,
    plan: Plan,
    *,
    video: VideoSpec,
    muxer: str,
    ext: str,
    folder: str,
    report: Report,
    burn_ins: bool = False,
) -> dict[int, Path]:
    """Each section of ``plan`` as a file (index in ``plan.items`` -> path), rendered unless already in
    ``05_Cache/transitions/<folder>/`` under its key. ``burn_ins``: draw the review burn-ins (overlay sections
    only: transitions refuse burn-ins)."""
    from .fingerprints import load_fingerprints, save_fingerprints

    cache = load_fingerprints(project)
    width, height = project.spec.size
    target = cmd.Target(width, height, timeline.rate, 0, video)
    colours: dict[str, cmd.PictureSource] = {}
    out: dict[int, Path] = {}
    for index, item in enumerate(plan.items):
        if not isinstance(item, Section):
            continue
        sources = [_source(timeline, p, colours, project.spec.colour.alpha) for p in (item.a, item.b) if p is not None]
        prints = {str(s.path): cache.fingerprint(s.path) for s in sources}
        burn_in, facts = _burn_in(timeline, item, target) if burn_ins else (None, None)
        dest = project.cache_dir / "transitions" / folder / f"{_key(item, sources, target, prints, facts)}.{ext}"
        label = item.label(timeline.clips)
        if dest.is_file() and video_frames(dest) == item.length:
            report.reused.append(label)
            out[index] = dest
            continue
        with atomic_output(dest) as tmp:
            run(section_cmd(item, sources, tmp, target, muxer=muxer, burn_in=burn_in), path=dest,
                total_seconds=float(timeline.rate.frames_to_seconds(item.length)))  # fmt: skip
            got = video_frames(tmp)
            if got != item.length:
                raise InvalidMediaError(
                    f"{dest}: the {label} section has {got} frames, expected {item.length}",
                    path=dest,
                    shot=timeline.clips[item.a.clip].shot,
                )
        report.rendered.append(label)
        out[index] = dest
    save_fingerprints(project, cache)
    _prune(project.cache_dir / "transitions" / folder, set(out.values()))
    return out


def _burn_in(timeline: Timeline, section: Section, target: cmd.Target) -> tuple[str, list[Any]]:
    """The review burn-ins of an overlay section (from the shot's frame it starts at) and what they show."""
    from .assembly import burn_in_facts, clip_burn_in

    if section.b is not None or section.kind != "overlay":
        raise UnsupportedMediaError(f"the {section.kind} is not rendered with burn-ins yet")
    clip = timeline.clips[section.a.clip]
    first = section.a.start - _entry(timeline, section.a.clip)[0]
    b = clip_burn_in(timeline, clip.shot)
    out_w, out_h = cmd.preset_size(target.width, target.height, target.video)
    return burnin_filter(b, out_w, out_h, font_path(), first=first), [burn_in_facts(b), first]


def _prune(folder: Path, used: set[Path]) -> None:
    """Remove the sections this cut or delivery no longer uses (another transition length, an older render);
    hidden partial files are left to ``outputs``' clean-up of dead writers."""
    if folder.is_dir():
        for f in folder.iterdir():
            if f.is_file() and not f.name.startswith(".") and f not in used:
                f.unlink(missing_ok=True)


def _split(run: Run, timeline: Timeline, plan: Plan, shared: Sequence[Path], scratch: Path, muxer: str
           ) -> dict[tuple[int, int, int], list[Path]]:  # fmt: skip
    """The bodies, each as the pieces of its shot's shared picture split at every body edge (keyframes)."""
    by_file: dict[Path, set[int]] = {}
    for item in plan.items:
        if isinstance(item, Part):
            by_file.setdefault(shared[item.clip], set()).update((item.start, item.end))
    pieces: dict[Path, tuple[list[int], list[Path]]] = {}
    for n, (path, edges) in enumerate(by_file.items()):
        total = video_frames(path)
        cuts = tuple(sorted(e for e in edges if 0 < e < total))
        if not cuts:
            pieces[path] = ([0, total], [path])
            continue
        pattern = scratch / f"body{n}_%d{path.suffix}"
        run(cmd.split_cmd(path, pattern, cuts, rate=timeline.rate, muxer=muxer), path=path)
        files = [scratch / f"body{n}_{i}{path.suffix}" for i in range(len(cuts) + 1)]
        bounds = [0, *cuts, total]
        for f, a, b in zip(files, bounds, bounds[1:], strict=False):
            got = video_frames(f) if f.is_file() else 0
            if got != b - a:
                raise InvalidMediaError(
                    f"{path}: the piece of frames {a}-{b} split from it has {got} frames (no keyframe there?); "
                    "rebuild the shot",
                    path=path,
                )
        pieces[path] = (bounds, files)
    out = {}
    for item in plan.items:
        if isinstance(item, Part):
            bounds, files = pieces[shared[item.clip]]
            out[(item.clip, item.start, item.end)] = files[bounds.index(item.start) : bounds.index(item.end)]
    return out


def transition_pictures(
    run: Run,
    project: Project,
    timeline: Timeline,
    shared: Sequence[Path],
    scratch: Path,
    *,
    video: VideoSpec,
    muxer: str,
    folder: str,
    report: Report,
    burn_ins: bool = False,
) -> list[Path]:
    """The files whose stream-copy join is the cut's (or a delivery's) picture with its transitions: the bodies
    split from each clip's shared picture (``shared[i]``: its conform or segment) and the sections rendered."""
    keys = {p: keyframes(p, timeline.rate) for p in dict.fromkeys(shared)}
    plan = add_overlays(plan_cut(timeline, [keys[p] for p in shared]), timeline.overlays, [keys[p] for p in shared])
    ext = shared[0].suffix.lstrip(".")
    sections = render_sections(run, project, timeline, plan, video=video, muxer=muxer, ext=ext, folder=folder,
                               report=report, burn_ins=burn_ins)  # fmt: skip
    bodies = _split(run, timeline, plan, shared, scratch, muxer)
    files: list[Path] = []
    for index, item in enumerate(plan.items):
        files += [sections[index]] if isinstance(item, Section) else bodies[(item.clip, item.start, item.end)]
    return files
