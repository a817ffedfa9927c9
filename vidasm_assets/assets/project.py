"""One set of assets per project, keys prefixed by the project name: the per-project glue of the stage modules.

Why a factory and not multi-dimensional partitions: the webserver and daemons only honour built-in
partition mappings, and a (project x shot) cross product invents phantom partitions (see
shared/notes/dagster-findings.md). Each project gets its own dynamic partitions of shots; project-level
assets depend on all of them with the default mapping.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import dagster as dg

from ..media.presets import Preset, needs_segments
from . import names as n
from .assembly import cut_asset
from .delivery import delivery_asset
from .editorial import export_asset, timeline_asset
from .music import mix_asset, music_source
from .scope import ProjectScope
from .segments import preset_source, segments_asset
from .shots import AUDIO, PICTURE, shot_asset
from .sources import source_assets


@dataclass
class ProjectAssets:
    project: str
    partitions: dg.DynamicPartitionsDefinition
    assets: list = field(default_factory=list)
    jobs: list = field(default_factory=list)
    presets: list[str] = field(default_factory=list)
    music: bool = False
    segments: list[str] = field(default_factory=list)  # the per-shot segment assets (presets that encode per shot)


def build_project_assets(project_name: str, presets: list[Preset], music: bool = False) -> ProjectAssets:
    """Assets, checks and jobs for one project: sources (renders, project.json facets, the exported presets, the
    music), shots, per-preset segments, editorial, assembly (and with ``music`` the mix), delivery."""
    with warnings.catch_warnings():
        # observable sources and pools are beta/preview in 1.13; we rely on them knowingly.
        warnings.simplefilter("ignore", dg.BetaWarning)
        warnings.simplefilter("ignore", dg.PreviewWarning)
        p = ProjectScope.of(project_name)
        shots = [shot_asset(p, PICTURE), shot_asset(p, AUDIO)]
        rollups = [timeline_asset(p), cut_asset(p), export_asset(p, n.EDL), export_asset(p, n.OTIO, music=music)]
        rollups += [mix_asset(p)] if music else []
        rollups += [delivery_asset(p, preset, music=music) for preset in presets]
        segments = [segments_asset(p, preset) for preset in presets if needs_segments(preset)]
        sources = [*source_assets(p), *(preset_source(p, preset) for preset in presets)]
        sources += [music_source(p)] if music else []
    shots_job = dg.define_asset_job(
        n.shots_job_name(project_name),
        selection=dg.AssetSelection.assets(*shots, *segments),
        description=f"Conform picture, normalize audio and encode the delivery segments of one shot of {project_name}.",
    )
    assemble_job = dg.define_asset_job(
        n.assemble_job_name(project_name),
        selection=dg.AssetSelection.assets(*rollups),
        description=f"Timeline, cut, EDL and deliveries of {project_name}.",
    )
    # One changed shot and everything after it in one run: one run-worker start instead of three (issue 13).
    shot_to_delivery_job = dg.define_asset_job(
        n.shot_to_delivery_job_name(project_name),
        selection=dg.AssetSelection.assets(*shots, *segments, *rollups),
        description=f"One changed shot of {project_name} through to its deliveries: its picture, audio and segments, "
        "then the timeline, cut, EDL and deliveries.",
    )
    jobs = [shots_job, assemble_job, shot_to_delivery_job]
    return ProjectAssets(project_name, p.shots, [*sources, *shots, *segments, *rollups], jobs,
                         [preset.name for preset in presets], music,
                         [n.segments(preset.name) for preset in presets if needs_segments(preset)])  # fmt: skip
