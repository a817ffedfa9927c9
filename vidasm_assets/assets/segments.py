"""Per-shot, per-preset segments: each shot's picture encoded once for one delivery preset, from the render.

A preset whose picture differs from the conform's (``presets.needs_segments``: master, hevc, review...) gets one
partitioned asset ``segments_<preset>``; its delivery joins them by stream copy. One changed shot re-encodes that
shot's segment of every preset and nothing else; one preset's changed settings re-encode that preset only (each
preset is an observed source, ``preset_<name>``, whose data version is its settings).

A preset with burn-ins shows the record timecode, so its segments read the timeline (a shot earlier in the cut
changing length moves the record timecode of every shot after it).
"""

import dagster as dg

from ..media import versions as v
from ..media.assembly import burn_in_facts, clip_burn_in
from ..media.burnins import burnin_filter, font_path, require_burn_ins
from ..media.conform import BurnInText, encode_segment, segment_encoder
from ..media.errors import VidasmError
from ..media.outputs import stamped
from ..media.presets import Preset
from ..media.probe import probe
from ..media.project import Project
from ..media.ranges import shot_uses
from ..resources import FFmpegResource, WorkspaceResource
from . import names as n
from .metadata import media_metadata
from .results import read_timeline, result
from .scope import ProjectScope
from .shots import shot_context, take_metadata


def preset_source(p: ProjectScope, preset: Preset) -> dg.SourceAsset:
    @dg.observable_source_asset(
        key=p.key(n.preset_source(preset.name)),
        group_name=p.group,
        tags=n.stage(n.SOURCES_STAGE),
        description=f"The settings of delivery preset {preset.name!r} ({preset.origin}); its data version is the "
        "settings', so changing them rebuilds this preset's segments and delivery only.",
    )
    def _observe(workspace: WorkspaceResource) -> dg.DataVersion:
        return dg.DataVersion(v.preset_version(workspace.project(p.name).preset(preset.name)))

    return _observe


def _burn_in(
    context: dg.AssetExecutionContext, ffmpeg: FFmpegResource, project: Project, preset: Preset, shot: str, take: str
) -> tuple[dict | None, BurnInText | None]:
    """What the shot's burn-ins show (None without burn-ins), read from the built timeline, and their filter.
    ``FFmpegBuildError`` for an FFmpeg that cannot draw text."""
    if not preset.spec.burn_ins:
        return None, None
    require_burn_ins(ffmpeg.tool)
    tl, _ = read_timeline(context.instance, project)
    clip = next((c for c in tl.clips if c.shot == shot), None)
    if clip is None or clip.take != take:
        raise VidasmError(
            f"the timeline does not have take {take} of shot {shot} yet (its record timecode is unknown); build the "
            "timeline first",
            path=project.timeline_path(),
            shot=shot,
        )
    b = clip_burn_in(tl, shot)
    return burn_in_facts(b), lambda width, height: burnin_filter(b, width, height, font_path())


def segments_asset(p: ProjectScope, preset: Preset) -> dg.AssetsDefinition:
    name = n.segments(preset.name)
    deps = [p.key(n.RENDER), p.key(n.PICTURE_SPEC), p.key(n.preset_source(preset.name))]
    if preset.spec.burn_ins:
        deps.append(p.key(n.TIMELINE))

    @dg.asset(
        **p.asset_args(name, n.DELIVERY_STAGE, v.Asset.SEGMENTS, ffmpeg=True, per_shot=True, rollup=True),
        deps=deps,
        description=f"Each shot's picture for the {preset.name} delivery, encoded once from the render through "
        f"the conform's filters ({preset.description or preset.origin}).",
    )
    def _segment(
        context: dg.AssetExecutionContext, ffmpeg: FFmpegResource, workspace: WorkspaceResource
    ) -> dg.MaterializeResult:
        shot, project, take, info, inputs, meter = shot_context(context, workspace, p.name)
        now = project.preset(preset.name)  # the settings as project.json has them now
        facts, text = _burn_in(context, ffmpeg, project, now, shot, take.label)
        fp = inputs[v.Asset.PICTURE].values["render"]
        hardware = segment_encoder(project, now, ffmpeg.tool)
        mine = v.segment_inputs(fp, take.label, v.spec_facets(project), now, facts,
                                hardware.encoder if hardware else None, shot_uses(project, shot))  # fmt: skip
        if project.built_version(name, shot) == mine.version:
            # already on disk at exactly these inputs (automation asks for every review segment when the timeline
            # changes; only those whose burn-ins moved are re-encoded)
            path = project.segment_path(now.name, shot)
            md = {**media_metadata(probe(path)), **take_metadata(take, info, mine), "preset": now.name,
                  "path": dg.MetadataValue.path(str(path)), "reused": "already built from these inputs"}  # fmt: skip
            return result(mine, md, meter=meter)
        run = ffmpeg.runner(context, f"{p.name}/{shot} {name}", meter)
        with stamped(project.stamps(name, shot, mine.version)):
            res = encode_segment(run, project, take, info, now, text, hardware)
        md = {**media_metadata(res.info), **take_metadata(take, info, mine), "preset": now.name,
              "encoder": hardware.note if hardware else f"{now.spec.video.codec} (software)",  # type: ignore[union-attr]
              "path": dg.MetadataValue.path(str(res.path))}  # fmt: skip
        return result(mine, md, meter=meter)

    return _segment
