"""The deliveries: one asset per preset the project exports.

A preset at the conform's settings (the built-in ``web``) is the cut's picture copied; any other joins its
per-shot segments (``segments.py``) by stream copy. The sound is the cut's PCM encoded once; ``stems`` is the
sound alone.
"""

import dagster as dg

from ..media import versions as v
from ..media.assembly import deliver, expected_segment_inputs
from ..media.errors import VidasmError
from ..media.fingerprints import load_fingerprints, save_fingerprints
from ..media.outputs import stamped
from ..media.overlays import require_overlays
from ..media.presets import Preset, needs_segments
from ..media.probe import probe
from ..media.project import Project
from ..media.timeline import Timeline
from ..resources import FFmpegResource, WorkspaceResource
from . import names as n
from .metadata import media_metadata
from .results import RollupStep, current_input, result
from .scope import ProjectScope


def segment_versions(
    instance: dg.DagsterInstance, project: Project, timeline: Timeline, preset: Preset
) -> dict[str, str] | None:
    """The version of each real shot's segment of ``preset`` (None for a preset without segments), each readable
    and built from the render the timeline names; ``VidasmError`` naming the shot otherwise."""
    if not needs_segments(preset):
        return None
    key = n.key(project.name, n.segments(preset.name))
    cache = load_fingerprints(project)
    out: dict[str, str] = {}
    for clip in timeline.clips:
        if clip.generated:
            continue
        got = current_input(instance, project, key, clip.shot)
        if got != expected_segment_inputs(project, timeline, clip, cache, preset).version:
            raise VidasmError(
                f"its {preset.name} segment was not built from {clip.clip_name} with the preset's current settings; "
                "build the segment first",
                path=project.segment_path(preset.name, clip.shot),
                shot=clip.shot,
            )
        out[clip.shot] = got
    save_fingerprints(project, cache)
    return out


def delivery_asset(p: ProjectScope, preset: Preset, *, music: bool = False) -> dg.AssetsDefinition:
    deps = [p.key(n.CUT), p.key(n.TIMELINE), p.key(n.preset_source(preset.name))]
    if needs_segments(preset):
        deps.append(p.key(n.segments(preset.name)))
    if music:  # its sound is the mix (programme and music bed)
        deps.append(p.key(n.MIX))
    how = "its shots' segments joined by stream copy" if needs_segments(preset) else "from the cut"
    how += ", its sound the mix with the music bed" if music else ""

    @dg.asset(
        **p.asset_args(n.delivery(preset.name), n.DELIVERY_STAGE, v.Asset.DELIVERY, ffmpeg=True, rollup=True),
        deps=deps,
        description=f"The {preset.name} delivery in 06_Exports, {how}: {preset.description or preset.origin}.",
    )
    def _delivery(
        context: dg.AssetExecutionContext, ffmpeg: FFmpegResource, workspace: WorkspaceResource
    ) -> dg.MaterializeResult:
        step = RollupStep.start(context, workspace, p.name)
        meter, project, tl = step.meter, step.project, step.timeline
        now = project.preset(preset.name)
        if tl.overlays and needs_segments(now):  # sections drawn at the preset's settings (overlays.py)
            require_overlays(ffmpeg.tool)
        cut_v = current_input(context.instance, project, p.key(n.CUT))
        mix_v = current_input(context.instance, project, p.key(n.MIX)) if music else None
        mine = v.delivery_inputs(now, cut_v, segment_versions(context.instance, project, tl, now), mix_v)
        sound = project.mix_path() if music else None
        with stamped(project.stamps(n.delivery(preset.name), None, mine.version)):
            path = deliver(ffmpeg.runner(context, f"{p.name} {preset.name}", meter), project, preset.name, tl,
                           sound=sound)  # fmt: skip
        info = probe(path)
        seconds = float(info.duration) or 1.0
        md = {**media_metadata(info), "path": dg.MetadataValue.path(str(path)), "preset": preset.name,
              "bitrate_kbps": round(info.size * 8 / seconds / 1000, 1)}  # fmt: skip
        return result(mine, md, meter=meter)

    return _delivery
