"""Per-shot assets (partitioned by shot): the conformed picture and the normalized audio."""

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import dagster as dg

from ..media import versions as v
from ..media.checks import AUDIO_CHECKS, PICTURE_CHECKS, CheckOutcome, audio_checks, picture_checks
from ..media.conform import conform_picture
from ..media.errors import VidasmError
from ..media.fingerprints import load_fingerprints, render_fingerprint, save_fingerprints
from ..media.loudness import normalize_audio
from ..media.outputs import stamped
from ..media.probe import MediaInfo, probe
from ..media.project import Project, Take
from ..media.ranges import shot_uses
from ..media.runner import Run
from ..media.shots import shot_frames
from ..media.thumbnails import make_poster
from ..resources import FFmpegResource, StepMeter, WorkspaceResource
from . import names as n
from .metadata import audio_report, image_markdown, media_metadata, picture_report
from .records import DATA_VERSION_TAG, HANDED_TAG, handed_observations, not_recorded
from .results import check_specs, result
from .scope import ProjectScope


class ShotContext(NamedTuple):
    """What a per-shot step starts from: its shot (the partition), project, selected take (probed), the inputs its
    picture and audio are built from, and the step's meter."""

    shot: str
    project: Project
    take: Take
    info: MediaInfo
    inputs: dict[v.Asset, v.Inputs]
    meter: StepMeter


def shot_context(context: dg.AssetExecutionContext, workspace: WorkspaceResource, project_name: str) -> ShotContext:
    """The ``ShotContext`` of the partition ``context`` runs; raises ``VidasmError`` for a shot not in the sequence
    and the take selection's and probe's errors."""
    meter = StepMeter()
    shot = context.partition_key
    project = workspace.project(project_name)
    if shot not in project.shots():
        raise VidasmError(f"shot {shot} is not in project {project_name}'s sequence", path=project.root)
    take = project.select_take(shot)
    info = probe(take.path)
    cache = load_fingerprints(project)
    fp = render_fingerprint(take, cache)
    save_fingerprints(project, cache)
    inputs = v.shot_inputs(fp, take.label, v.spec_facets(project), shot_uses(project, shot))
    record_observations(context, project_name, shot, fp)
    return ShotContext(shot, project, take, info, inputs, meter)


def record_observations(context: dg.AssetExecutionContext, project: str, shot: str, fp: str) -> None:
    """Record the observations the render sensor handed to this run (``sensors/renders.hand_to_runs``), then
    the render this step builds from as the render partition's observed data version, unless the instance
    already has them: Dagster then records them as this materialization's input versions, so the built shot is
    never shown stale against the render it was made from, whoever launched the run.

    The sensor hands a one-run change's observations to its run because, recorded by its tick, they land before
    that run exists: an automation tick in between saw the timeline's sources updated and nothing in progress,
    and built the timeline a second time in a run of its own (measured: BENCHMARKS.md "Reacting to renders")."""
    mine = dg.AssetObservation(asset_key=n.key(project, n.RENDER), partition=shot, tags={DATA_VERSION_TAG: fp})
    handed = [
        o
        for o in handed_observations(context.run.tags.get(HANDED_TAG))
        if o.asset_key.path[0] == project and o.asset_key != mine.asset_key  # the render: what this step reads
    ]
    for obs in not_recorded(context.instance, [*handed, mine]):
        context.log_event(obs)


def take_metadata(take: Take, info: MediaInfo, inputs: v.Inputs) -> dict:
    src = info.video
    md = {
        "take": take.label,
        "render": dg.MetadataValue.path(str(take.path)),
        "render_fingerprint": inputs.values["render"],
    }
    if src:
        md["source"] = f"{src.width}x{src.height} {float(src.rate or 0):.3f} fps {src.codec}"
    tracks = [f"{a.codec} {a.sample_rate} Hz {a.layout}" + (f" ({a.title})" if a.title else "") for a in info.audio]
    md["source_audio"] = "; ".join(tracks) or "none"
    return md


@dataclass(frozen=True)
class ShotStep:
    """One per-shot asset: which facet of project.json it reads, its checks, and how it builds its output
    (returning the output's path, what the UI shows about it, and its checks' outcomes)."""

    asset: v.Asset
    facet: str
    checks: Mapping[str, str]
    description: str
    build: Callable[[Run, Project, Take, MediaInfo], tuple[Path, dict, list[CheckOutcome]]]


def _conform(run: Run, project: Project, take: Take, info: MediaInfo) -> tuple[Path, dict, list[CheckOutcome]]:
    res = conform_picture(run, project, take, info)
    shot = take.path.parent.name
    poster = make_poster(run, res.path, project.poster_path(shot), frames=res.frames, rate=project.spec.rate)
    md = {**media_metadata(res.info), **picture_report(res), "poster": image_markdown(poster, alt=shot)}
    return res.path, md, picture_checks(project, res)


def _normalize(run: Run, project: Project, take: Take, info: MediaInfo) -> tuple[Path, dict, list[CheckOutcome]]:
    res = normalize_audio(run, project, take, info, shot_frames(info, project.spec.rate))
    out = probe(res.path)
    md = {
        **media_metadata(out),
        **audio_report(res),
        "target_lufs": project.spec.audio.loudness_lufs,
        "ceiling_dbtp": project.spec.audio.true_peak_db,
    }
    return res.path, md, audio_checks(project, res, out)


_DESCRIPTIONS = {
    v.Asset.PICTURE: "The shot conformed to the timeline: size (letter/pillarbox), constant fps, yuv420p, BT.709, "
    "closed GOP H.264 at the web delivery's settings so the cut can be a stream copy.",
    v.Asset.AUDIO: "The shot's audio: 48 kHz stereo PCM, two-pass EBU R128 loudness normalized, exactly as long as "
    "the picture (silence when the render has none).",
}
PICTURE = ShotStep(v.Asset.PICTURE, n.PICTURE_SPEC, PICTURE_CHECKS, _DESCRIPTIONS[v.Asset.PICTURE], _conform)
AUDIO = ShotStep(v.Asset.AUDIO, n.AUDIO_SPEC, AUDIO_CHECKS, _DESCRIPTIONS[v.Asset.AUDIO], _normalize)


def shot_asset(p: ProjectScope, step: ShotStep) -> dg.AssetsDefinition:
    name = step.asset.value

    @dg.asset(
        **p.asset_args(name, n.SHOTS_STAGE, step.asset, ffmpeg=True, per_shot=True),
        deps=[p.key(n.RENDER), p.key(step.facet)],
        check_specs=check_specs(p.key(name), dict(step.checks)),
        description=step.description,
    )
    def _shot(
        context: dg.AssetExecutionContext, ffmpeg: FFmpegResource, workspace: WorkspaceResource
    ) -> dg.MaterializeResult:
        shot, project, take, info, inputs, meter = shot_context(context, workspace, p.name)
        mine = inputs[step.asset]
        run = ffmpeg.runner(context, f"{p.name}/{shot} {name}", meter)
        with stamped(project.stamps(name, shot, mine.version)):
            path, md, outcomes = step.build(run, project, take, info)
        md = {**md, **take_metadata(take, info, mine), "path": dg.MetadataValue.path(str(path))}
        return result(mine, md, outcomes, meter=meter)

    return _shot
