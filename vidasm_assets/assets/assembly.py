"""The cut: every shot joined in story order by stream copy, from outputs that may be read (``current_input``)."""

import dagster as dg

from ..media import versions as v
from ..media.assembly import assemble_cut, expected_shot_inputs
from ..media.checks import CUT_CHECKS, cut_checks
from ..media.errors import VidasmError
from ..media.fingerprints import load_fingerprints, save_fingerprints
from ..media.outputs import stamped
from ..media.overlays import require_overlays
from ..media.probe import probe
from ..media.project import Project
from ..media.thumbnails import make_contact_sheet
from ..media.timeline import Timeline
from ..media.transitions import Report
from ..resources import FFmpegResource, WorkspaceResource
from . import names as n
from .metadata import image_markdown, media_metadata
from .results import RollupStep, check_specs, current_input, result
from .scope import ProjectScope


def shot_versions(instance: dg.DagsterInstance, project: Project, timeline: Timeline) -> dict[str, tuple[str, str]]:
    """(picture, audio) version of every real shot of the timeline, each readable and built from the render the
    timeline names (the cut never uses an older render); ``VidasmError`` naming the shot otherwise."""
    shots: dict[str, tuple[str, str]] = {}
    cache = load_fingerprints(project)
    for clip in timeline.clips:
        if clip.generated:  # a slate or a card, rendered by assemble_cut; the timeline's version covers it
            continue
        pv = current_input(instance, project, n.key(project.name, n.PICTURE), clip.shot)
        av = current_input(instance, project, n.key(project.name, n.AUDIO), clip.shot)
        wanted = expected_shot_inputs(project, clip, cache)
        if (pv, av) != (wanted[v.Asset.PICTURE].version, wanted[v.Asset.AUDIO].version):
            raise VidasmError(
                f"its picture/audio were not built from {clip.clip_name} (its last build failed or is stale); "
                "build the shot first, the cut never uses an older render",
                path=clip.source_path,
                shot=clip.shot,
            )
        shots[clip.shot] = (pv, av)
    save_fingerprints(project, cache)
    return shots


def cut_asset(p: ProjectScope) -> dg.AssetsDefinition:
    @dg.asset(
        **p.asset_args(n.CUT, n.ASSEMBLY_STAGE, v.Asset.CUT, ffmpeg=True, rollup=True),
        deps=[p.key(n.PICTURE), p.key(n.AUDIO), p.key(n.TIMELINE)],
        check_specs=check_specs(p.key(n.CUT), CUT_CHECKS),
        description="All shots joined in story order by stream copy (no re-encode): H.264 picture, PCM audio, "
        "frame-exact joins.",
    )
    def cut(
        context: dg.AssetExecutionContext, ffmpeg: FFmpegResource, workspace: WorkspaceResource
    ) -> dg.MaterializeResult:
        step = RollupStep.start(context, workspace, p.name)
        meter, project, tl, tv = step.meter, step.project, step.timeline, step.timeline_version
        mine = v.cut_inputs(tv, shot_versions(context.instance, project, tl), v.crossfade_of(tl))
        if tl.overlays:
            require_overlays(ffmpeg.tool)
        run = ffmpeg.runner(context, f"{p.name} cut", meter)
        sections = Report()
        with stamped(project.stamps(n.CUT, None, mine.version)):
            path = assemble_cut(run, project, tl, sections)
        posters = [(f"{c.shot} {c.take}", None if c.placeholder else project.poster_path(c.shot)) for c in tl.clips]
        sheet = make_contact_sheet(posters, project.contact_sheet_path())
        md = {
            **media_metadata(probe(path)),
            "contact_sheet": image_markdown(sheet.path, alt=f"{p.name} contact sheet"),
            "path": dg.MetadataValue.path(str(path)),
            "shots": len(tl.clips),
            "expected_frames": tl.total_frames,
            "placeholders": ", ".join(c.shot for c in tl.clips if c.placeholder) or "none",
            **({"transitions_rendered": "; ".join(sections.rendered) or "none",
                "transitions_reused": "; ".join(sections.reused) or "none"} if tl.has_sections else {}),
        }  # fmt: skip
        return result(mine, md, cut_checks(run, project, tl, path), meter=meter)

    return cut
