"""The one versions table: for every asset, which named inputs make its data version.

Make's arithmetic lives here and nowhere else. An asset's data version is a hash of its kind, its step's code
version and its inputs (the render's content fingerprint, the project.json settings the step uses, the versions
of the assets it reads). The assets return it, the planner and the sensor compute what it would be now, and
because the inputs are kept by name (recorded with each materialization), a stale asset can say what changed:
"take v002 -> v003", "project.json resolution: 1920x1080 -> 1280x720", "code version audio-2 -> audio-3".

Pure: no Dagster, no FFmpeg, no file reads beyond what the caller passes in.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path, PurePath
from typing import Any

from . import transitions
from .colour import AlphaMode
from .presets import Preset
from .project import CardEntry, Project, SequenceEntry, stable_hash
from .timeline import Timeline


class Asset(str, Enum):
    """Every kind of asset a project has (keys ``<project>/<value>``; deliveries are ``delivery_<preset>``)."""

    RENDER = "render"
    PICTURE_SPEC = "picture_spec"
    AUDIO_SPEC = "audio_spec"
    EDIT_SPEC = "edit_spec"
    PICTURE = "picture"
    AUDIO = "audio"
    TIMELINE = "timeline"
    CUT = "cut"
    EDL = "edl"
    OTIO = "otio"
    DELIVERY = "delivery"  # delivery_<preset>
    SEGMENTS = "segments"  # segments_<preset>: one shot's picture at a preset's settings (partitioned by shot)
    PRESET = "preset"  # preset_<preset>: the observed settings of one delivery preset
    MUSIC = "music"  # observed: the music tracks' content and the music.* settings (music.py)
    MIX = "mix"  # the programme with the music bed, ducked, at the loudness target (the deliveries' sound)


NO_RENDER = "missing"
"""The observed data version of a shot whose selected take cannot be read (the sensor reports why)."""
SPEC_FACETS: tuple[Asset, ...] = (Asset.PICTURE_SPEC, Asset.AUDIO_SPEC, Asset.EDIT_SPEC)
SHOT_ASSETS: tuple[Asset, ...] = (Asset.PICTURE, Asset.AUDIO)
"""Per-shot (partitioned) assets, in build order."""

CODE_VERSIONS: Mapping[Asset, str] = {
    # Bump one when its step's output changes for the same inputs: that step and everything after it go stale.
    Asset.PICTURE: "picture-3",  # 3: every wide gamut converted (colour.py)
    Asset.AUDIO: "audio-2",
    Asset.TIMELINE: "timeline-2",  # 2: source timecode at the render's own rate
    Asset.CUT: "cut-2",
    Asset.EDL: "edl-1",
    Asset.OTIO: "otio-2",  # 2: a dip's two Transitions say the whole dip and their part (issue 12)
    Asset.DELIVERY: "delivery-2",  # 2: joined from per-shot segments (issue 11)
    Asset.SEGMENTS: "segments-1",
    Asset.MIX: "mix-1",
}


@dataclass(frozen=True)
class Inputs:
    """What one asset's output is made from: ``values`` make the data version; ``context`` only explains it
    (the take's label: a new take with the same content is not a new input)."""

    asset: Asset
    values: Mapping[str, Any]
    context: Mapping[str, Any] = field(default_factory=dict)

    @property
    def code(self) -> str:
        return CODE_VERSIONS[self.asset]

    @property
    def version(self) -> str:
        return stable_hash(self.asset.value, self.code, dict(self.values))

    def to_record(self) -> dict[str, Any]:
        """What a materialization keeps to explain itself later (``explain``)."""
        return {"code": self.code, "values": dict(self.values), "context": dict(self.context)}


# ---------------------------------------------------------------- project.json facets


def _rate(project: Project) -> list[int]:
    return [project.spec.rate.num, project.spec.rate.den]


def _tracks(project: Project) -> dict[str, Any]:
    """The project's audio track choice and each shot's own; only what differs from the default "all"."""
    own = {r.shot: list(r.audio_tracks) if isinstance(r.audio_tracks, tuple) else r.audio_tracks
           for r in project.sequence() if r.audio_tracks is not None}  # fmt: skip
    out: dict[str, Any] = {}
    if project.spec.audio.tracks != "all":
        out["audio.tracks"] = project.spec.audio.tracks
    if own:
        out["audio_tracks per shot"] = dict(sorted(own.items()))
    return out


def _cards(project: Project) -> dict[str, Any]:
    """The sequence's cards with their place in it (none: no key, so a sequence without cards keeps its
    version). A card is no shot's input: it reaches the timeline and what is made from it only."""
    cards = [[i, e.id, e.card, e.seconds, e.background, e.colour, e.notes]
             for i, e in enumerate(project.spec.entries or []) if isinstance(e, CardEntry)]  # fmt: skip
    return {"cards": cards} if cards else {}


def spec_facets(project: Project) -> dict[Asset, dict[str, Any]]:
    """The project.json settings each step uses, by name (the observed ``*_spec`` sources)."""
    s = project.spec
    ed = s.editorial
    # in/out only on trimmed entries, so a sequence without trims keeps its version
    refs = [[r.shot, r.take, r.scene, r.beat, r.notes, *([r.in_, r.out] if r.trimmed else [])]
            for r in project.sequence()]  # fmt: skip
    return {
        Asset.PICTURE_SPEC: {
            "resolution": s.resolution,
            "fps": _rate(project),
            "colour.hdr": s.colour.hdr,
            **_alpha(project),
        },
        Asset.AUDIO_SPEC: {
            "audio.loudness_lufs": s.audio.loudness_lufs,
            "audio.true_peak_db": s.audio.true_peak_db,
            "fps": _rate(project),
            **_tracks(project),
        },
        Asset.EDIT_SPEC: {
            "sequence": refs,
            **_cards(project),
            "fps": _rate(project),
            "editorial.edl_style": ed.edl_style,
            "editorial.record_start": ed.record_start,
            "placeholders": s.placeholders,
            **_tracks(project),  # the EDL says which audio tracks each event uses
            **_transitions(project),
            **_overlays(project),
        },
    }


def _alpha(project: Project) -> dict[str, Any]:
    """``colour.alpha`` when it is not the default, so the pictures of a project that never set it keep their
    versions."""
    alpha = project.spec.colour.alpha
    return {} if alpha is AlphaMode.STRAIGHT else {"colour.alpha": alpha.value}


def _overlays(project: Project) -> dict[str, Any]:
    """Text overlays (overlays.py): each entry's by its place in the sequence, and the cut's; only when there are
    any, so a project without keeps its version. No shot's input: they reach the timeline and what is made from it
    (the cut's and the deliveries' sections that draw them)."""
    own = [[i, [o.model_dump() for o in e.overlays]] for i, e in enumerate(project.spec.entries or [])
           if isinstance(e, SequenceEntry) and e.overlays]  # fmt: skip
    cut = [o.model_dump() for o in project.spec.overlays]
    return {**({"overlays per entry": own} if own else {}), **({"overlays": cut} if cut else {})}


def _transitions(project: Project) -> dict[str, Any]:
    """Each entry's transitions (transitions.py), only when there are any: a sequence without keeps its version."""
    t = [[list(x) if x else None for x in (r.transition_in, r.transition_out)] for r in project.sequence()]
    return {"transitions": t} if any(a or b for a, b in t) else {}


def facet_version(facet: Asset, values: Mapping[str, Any]) -> str:
    """The data version of an observed project.json facet."""
    return stable_hash(facet.value, dict(values))


def facet_versions(project: Project) -> dict[Asset, str]:
    return {f: facet_version(f, v) for f, v in spec_facets(project).items()}


# ---------------------------------------------------------------- shots


def _uses(uses: list[list[Any]] | None) -> dict[str, Any]:
    return {} if uses is None else {"in/out": uses}


def shot_inputs(
    render_fp: str, take: str, facets: Mapping[Asset, Mapping[str, Any]], uses: list[list[Any]] | None = None
) -> dict[Asset, Inputs]:
    """Picture and audio of one shot: the selected take's content, the settings each step uses and, when a sequence
    entry trims the shot, the ``in``/``out`` of its uses (``ranges.shot_uses``: only this shot's, so one entry's
    trim rebuilds one shot)."""
    context = {"take": take}
    return {
        Asset.PICTURE: Inputs(Asset.PICTURE, {"render": render_fp, **facets[Asset.PICTURE_SPEC], **_uses(uses)},
                              context),
        Asset.AUDIO: Inputs(Asset.AUDIO, {"render": render_fp, **facets[Asset.AUDIO_SPEC], **_uses(uses)}, context),
    }  # fmt: skip


# ---------------------------------------------------------------- project roll-ups


def located_timeline(timeline: Timeline, root: Path) -> dict[str, Any]:
    """The timeline as a dict, each clip's file relative to the project folder ``root`` (files outside it stay as
    they are): what the timeline says wherever the workspace is mounted."""
    out = timeline.to_dict()
    for clip in out["clips"]:
        path = PurePath(clip["source_path"])
        if clip["source_path"] and path.is_relative_to(root):
            clip["source_path"] = path.relative_to(root).as_posix()
    return out


def timeline_inputs(timeline: Timeline, root: Path) -> Inputs:
    """The timeline: its editorial content (order, takes, lengths, source timecodes, story metadata), with its
    files relative to the project folder ``root``: a workspace moved or mounted at another path keeps every
    version, so its cut and deliveries are not encoded again (the timeline file itself is rewritten, and the
    OTIO/FCP XML, which name the files by absolute URL; ``planner``)."""
    return Inputs(Asset.TIMELINE, {"timeline": located_timeline(timeline, root)})


def cut_inputs(timeline_v: str, shots: Mapping[str, tuple[str, str]], crossfade: str | None = None) -> Inputs:
    """The cut: the timeline and the picture and audio version of each real shot (placeholders are in the
    timeline's own version). ``shots``: shot -> (picture version, audio version). ``crossfade``: the sound's
    crossfade curve (``transitions.CROSSFADE_CURVE``), for a timeline with dissolves or dips only (a cut without
    keeps its version; ``crossfade_of``)."""
    values: dict[str, Any] = {"timeline": timeline_v, "shots": {s: list(v) for s, v in shots.items()}}
    if crossfade is not None:
        values["crossfade"] = crossfade
    return Inputs(Asset.CUT, values)


def crossfade_of(timeline: Timeline) -> str | None:
    """The crossfade curve the cut's sound uses, when its timeline has any overlap (a dissolve or dip)."""
    return transitions.CROSSFADE_CURVE if any(c.overlap for c in timeline.clips) else None


def edl_inputs(timeline_v: str, style: str) -> Inputs:
    return Inputs(Asset.EDL, {"timeline": timeline_v, "editorial.edl_style": style})


def otio_inputs(timeline_v: str, root: Path, music_v: str | None = None) -> Inputs:
    """The OTIO/FCP XML: the timeline, the project folder ``root`` (both files name the media by absolute file
    URL: a moved workspace rewrites them) and, with a music bed, the music (its track in the .otio)."""
    values = {"timeline": timeline_v, "location": str(root), **({"music": music_v} if music_v else {})}
    return Inputs(Asset.OTIO, values)


def music_version(values: Mapping[str, Any]) -> str:
    """The observed data version of the music (``music.music_values``: tracks' content, play order, settings)."""
    return stable_hash(Asset.MUSIC.value, dict(values))


def mix_inputs(project: Project, cut_v: str, music_v: str) -> Inputs:
    """The mix: the cut (its sound is the programme the bed is ducked under), the music, the loudness target."""
    a = project.spec.audio
    return Inputs(Asset.MIX, {"cut": cut_v, "music": music_v, "audio.loudness_lufs": a.loudness_lufs,
                              "audio.true_peak_db": a.true_peak_db})  # fmt: skip


def preset_version(preset: Preset) -> str:
    """The observed data version of a delivery preset (``preset_<name>``): its settings, not its description."""
    return stable_hash(Asset.PRESET.value, preset.settings())


def segment_inputs(
    render_fp: str,
    take: str,
    facets: Mapping[Asset, Mapping[str, Any]],
    preset: Preset,
    burn_in: Mapping[str, Any] | None = None,
    encoder: str | None = None,
    uses: list[list[Any]] | None = None,
) -> Inputs:
    """One shot's segment of one preset: the render, the picture settings, the preset's settings, for a preset
    with burn-ins what they show (``assembly.burn_in_facts``), the hardware encoder when one is used (None:
    the preset's software encoder), and the shot's trimmed uses (``ranges.shot_uses``)."""
    values: dict[str, Any] = {"render": render_fp, **facets[Asset.PICTURE_SPEC], "preset": preset.settings(),
                              **_uses(uses)}  # fmt: skip
    if burn_in is not None:
        values["burn_in"] = dict(burn_in)
    if encoder is not None:
        values["encoder"] = encoder
    return Inputs(Asset.SEGMENTS, values, {"take": take})


def delivery_inputs(
    preset: Preset, cut_v: str, segments: Mapping[str, str] | None = None, mix_v: str | None = None
) -> Inputs:
    """A delivery: its preset's settings, the cut (its sound, and its picture for a preset at the conform's
    settings), for a preset with segments each real shot's segment version (``shot -> version``) and, with a
    music bed, the mix (its sound then)."""
    values: dict[str, Any] = {"preset": preset.settings(), "cut": cut_v}
    if segments is not None:
        values["segments"] = dict(segments)
    if mix_v is not None:
        values["mix"] = mix_v
    return Inputs(Asset.DELIVERY, values)


def rollup_inputs(
    project: Project,
    timeline: Timeline,
    shots: Mapping[str, tuple[str, str]],
    segments: Mapping[str, Mapping[str, str]] | None = None,
    music_v: str | None = None,
) -> dict[str, Inputs]:
    """Every project-level asset's inputs, keyed by asset name (``delivery_<preset>`` for deliveries).
    ``segments``: preset -> shot -> segment version, for the presets that have segments; ``music_v``: the
    music's version when the project has a music bed (then a ``mix`` too)."""
    tl = timeline_inputs(timeline, project.root)
    cut = cut_inputs(tl.version, shots, crossfade_of(timeline))
    out: dict[str, Inputs] = {
        Asset.TIMELINE.value: tl,
        Asset.CUT.value: cut,
        Asset.EDL.value: edl_inputs(tl.version, project.spec.editorial.edl_style),
        Asset.OTIO.value: otio_inputs(tl.version, project.root, music_v),
    }
    mix = mix_inputs(project, cut.version, music_v) if music_v else None
    if mix is not None:
        out[Asset.MIX.value] = mix
    for preset in project.exports():
        segs = (segments or {}).get(preset.name)
        out[f"{Asset.DELIVERY.value}_{preset.name}"] = delivery_inputs(preset, cut.version, segs,
                                                                       mix.version if mix else None)  # fmt: skip
    return out


# ---------------------------------------------------------------- reasons


def _short(value: Any, limit: int = 40) -> str:
    text = value if isinstance(value, str) else json.dumps(value, separators=(",", ":"), default=str)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _flat(d: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, val in d.items():
        if isinstance(val, Mapping):
            out.update(_flat(val, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = val
    return out


def _dict_change(was: Mapping[str, Any], now: Mapping[str, Any]) -> str:
    """``video.crf 20 -> 22, audio.bitrate 192k -> 128k``: the leaves that differ."""
    a, b = _flat(was), _flat(now)
    keys = sorted(k for k in set(a) | set(b) if a.get(k) != b.get(k))
    text = ", ".join(f"{k} {_short(a.get(k), 16)} -> {_short(b.get(k), 16)}" for k in keys[:4])
    return text + ("…" if len(keys) > 4 else "")


def explain(expected: Inputs, recorded: Mapping[str, Any] | None) -> str:
    """Why ``expected`` differs from what was recorded (``Inputs.to_record`` of the last build), in words.

    Reason codes in doit's spirit, most specific first: the code version, the take, the render's content, a
    named project.json setting, an upstream asset. ``recorded`` None (built before inputs were recorded):
    "inputs or code changed".
    """
    if not recorded:
        return "inputs or code changed"
    reasons: list[str] = []
    if recorded.get("code") != expected.code:
        reasons.append(f"code version {recorded.get('code')} -> {expected.code}")
    before = recorded.get("values") or {}
    for name, now in expected.values.items():
        was = before.get(name)
        if was == now:
            continue
        if name == "render":
            old_take, new_take = (recorded.get("context") or {}).get("take"), expected.context.get("take")
            reasons.append(
                f"take {old_take} -> {new_take}" if old_take != new_take else f"render {new_take} re-rendered"
            )
        elif name in ("shots", "segments") and isinstance(was, dict) and isinstance(now, dict):
            changed = sorted(s for s in set(was) | set(now) if was.get(s) != now.get(s))
            what = "shot(s)" if name == "shots" else "segment(s)"
            more = "…" if len(changed) > 8 else ""
            reasons.append(f"{what} rebuilt or changed: " + ", ".join(changed[:8]) + more)
        elif name in ("preset", "burn_in") and isinstance(was, dict) and isinstance(now, dict):
            reasons.append(f"{name.replace('_', '-')} " + _dict_change(was, now))
        elif name in ("timeline", "cut", "music", "mix"):
            reasons.append(f"the {name} changed")
        elif name == "location":
            reasons.append(f"the workspace moved: {_short(was, 60)} -> {_short(now, 60)}" if was else
                           "where the media is now recorded")  # fmt: skip
        else:
            reasons.append(f"project.json {name}: {_short(was)} -> {_short(now)}")
    gone = [n for n in before if n not in expected.values]
    reasons += [f"project.json {n} removed" for n in gone]
    return "; ".join(reasons) or "inputs or code changed"


# ---------------------------------------------------------------- make's decision


State = str  # "fresh" | "stale" | "missing" | "failed"


def decide(
    expected: Inputs,
    *,
    recorded: str | None,
    recorded_inputs: Mapping[str, Any] | None,
    on_disk: str | None,
    failed_checks: list[str],
    last_run_failed: bool | str | None,
    force: bool = False,
    moved: bool = False,
) -> tuple[State, str]:
    """Is one asset (partition) fresh, and if not, why: make's decision as a pure function.

    ``recorded`` is the data version of its latest materialization, ``on_disk`` the version its output files
    are stamped with (None: missing, unstamped or changed since). Fresh means all three agree with what the
    inputs are now, and the output passed its blocking checks. ``moved``: the output names its files by a path
    that is no longer theirs (the timeline of a workspace moved to another path): rewritten, same version.
    """
    if force:
        return "stale", "forced (--all)"
    if recorded is None:
        state, reason = "missing", "never built"
    elif recorded != expected.version:
        state, reason = "stale", explain(expected, recorded_inputs)
    elif on_disk is None:
        state, reason = "missing", "output missing, unstamped or changed since it was built"
    elif on_disk != recorded:
        state, reason = "stale", "the output on disk is not the one recorded (an interrupted build)"
    elif moved:
        state, reason = "stale", "it names its renders at their old path (the workspace moved)"
    elif failed_checks:
        return "failed", f"failed check(s) {', '.join(failed_checks)}"
    else:
        return "fresh", ""
    if last_run_failed == "interrupted":
        return "failed", f"last build was interrupted: its process was killed ({reason})"
    if last_run_failed:
        return "failed", f"last build failed ({reason})"
    return state, reason
