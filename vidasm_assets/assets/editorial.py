"""The editorial assets: the timeline (the cut as an edit decision model), the CMX3600 EDL, OTIO and FCP XML."""

import dagster as dg

from ..media import versions as v
from ..media.assembly import build_timeline
from ..media.editorial import write_cmx3600, write_fcp_xml, write_otio
from ..media.music import read_tracklist
from ..media.outputs import stamped, write_text_atomic
from ..media.project import Project
from ..media.timeline import Timeline
from ..resources import StepMeter, WorkspaceResource
from . import names as n
from .music import music_version_now
from .results import RollupStep, current_input, result
from .scope import ProjectScope


def timeline_asset(p: ProjectScope) -> dg.AssetsDefinition:
    @dg.asset(
        **p.asset_args(n.TIMELINE, n.EDITORIAL_STAGE, v.Asset.TIMELINE, ffmpeg=False, rollup=True),
        deps=[p.key(n.RENDER), p.key(n.EDIT_SPEC), p.key(n.PICTURE_SPEC)],
        description="The cut as an edit decision model (shots in story order, takes, exact frame durations), "
        "from render headers only. Its data version changes only when editorial content changes.",
    )
    def timeline(context: dg.AssetExecutionContext, workspace: WorkspaceResource) -> dg.MaterializeResult:
        meter = StepMeter()
        project = workspace.project(p.name)
        tl = build_timeline(project)
        mine = v.timeline_inputs(tl, project.root)
        with stamped(project.stamps(n.TIMELINE, None, mine.version)):
            write_text_atomic(project.timeline_path(), tl.to_json())
        unreadable = [f"{c.shot}: {c.source_timecode_error}" for c in tl.clips if c.source_timecode_error]
        if unreadable:  # the cut still builds; the EDL and OTIO/FCP XML refuse these shots, naming them
            context.log.warning("unreadable source timecode: " + "; ".join(unreadable))
        md = {
            "path": dg.MetadataValue.path(str(project.timeline_path())),
            "shots": len(tl.clips),
            "frames": tl.total_frames,
            "duration_s": round(float(tl.rate.frames_to_seconds(tl.total_frames)), 4),
            "fps": str(tl.rate),
            "order": ", ".join(f"{c.shot}:{c.take}" for c in tl.clips),
            **({"source_timecode_errors": "\n".join(unreadable)} if unreadable else {}),
        }
        return result(mine, md, meter=meter)

    return timeline


def _write_edl(project: Project, tl: Timeline, tv: str, **_music: object) -> tuple[v.Inputs, dict]:
    style = project.spec.editorial.edl_style
    text = write_cmx3600(tl, style=style)
    mine = v.edl_inputs(tv, style)
    with stamped(project.stamps(n.EDL, None, mine.version)):
        write_text_atomic(project.edl_path(), text)
    preview = dg.MetadataValue.md("```\n" + "\n".join(text.splitlines()[:24]) + "\n```")
    md = {"path": dg.MetadataValue.path(str(project.edl_path())), "events": len(tl.clips), "style": style.value,
          "record_start": tl.record_start, "preview": preview}  # fmt: skip
    return mine, md


def _write_otio(
    project: Project, tl: Timeline, tv: str, music: dict | None = None, music_v: str | None = None
) -> tuple[v.Inputs, dict]:
    mine = v.otio_inputs(tv, project.root, music_v)
    with stamped(project.stamps(n.OTIO, None, mine.version)):
        write_otio(tl, project.otio_path(), music=music, root=project.root)
        write_fcp_xml(tl, project.fcp_xml_path())
    md = {"path": dg.MetadataValue.path(str(project.otio_path())), "fcp_xml": dg.MetadataValue.path(
        str(project.fcp_xml_path())), "clips": len(tl.clips), "frames": tl.total_frames}  # fmt: skip
    return mine, md


EXPORTS = {
    # asset -> (its code version's key, what it writes, description)
    n.EDL: (v.Asset.EDL, _write_edl, "CMX3600 EDL of the cut for the editor's NLE (04_Project_Files/assemblies)."),
    n.OTIO: (v.Asset.OTIO, _write_otio,
             "OpenTimelineIO timeline (.otio) and FCP 7 XML (.xml) of the cut, for Resolve and Premiere."),
}  # fmt: skip


def export_asset(p: ProjectScope, name: str, *, music: bool = False) -> dg.AssetsDefinition:
    """The EDL or the OTIO/FCP XML export: written from the timeline (the OTIO with ``music``: and the music track
    of the mix's tracklist)."""
    code, write, description = EXPORTS[name]
    with_music = music and name == n.OTIO

    @dg.asset(
        **p.asset_args(name, n.EDITORIAL_STAGE, code, ffmpeg=False, rollup=True),
        deps=[p.key(n.TIMELINE), *([p.key(n.MIX), p.key(n.MUSIC)] if with_music else [])],
        description=description,
    )
    def _export(context: dg.AssetExecutionContext, workspace: WorkspaceResource) -> dg.MaterializeResult:
        step = RollupStep.start(context, workspace, p.name)
        meter, project, tl, tv = step.meter, step.project, step.timeline, step.timeline_version
        extra: dict = {}
        if with_music:  # the music as the mix laid it out (its tracklist), for the OTIO's music track
            current_input(context.instance, project, p.key(n.MIX))
            extra = {"music": read_tracklist(project), "music_v": music_version_now(project)}
        mine, md = write(project, tl, tv, **extra)
        # the media an EDL or OTIO describes: the cut's length
        return result(mine, md, meter=meter, media_s=float(tl.rate.frames_to_seconds(tl.total_frames)))

    return _export
