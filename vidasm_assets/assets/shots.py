"""Per-shot assets (partitioned by shot): the conformed picture and the normalized audio."""

import dagster as dg

from ..media import versions as v
from ..media.checks import AUDIO_CHECKS, PICTURE_CHECKS, audio_checks, picture_checks
from ..media.conform import conform_picture
from ..media.errors import VidasmError
from ..media.fingerprints import load_fingerprints, render_fingerprint, save_fingerprints
from ..media.loudness import normalize_audio
from ..media.outputs import stamped
from ..media.probe import MediaInfo, probe
from ..media.project import Project, Take
from ..media.shots import shot_frames
from ..resources import FFmpegResource, WorkspaceResource
from . import names as n
from .metadata import audio_report, media_metadata, picture_report
from .results import check_specs, result
from .scope import ProjectScope


def shot_context(
    workspace: WorkspaceResource, project_name: str, shot: str
) -> tuple[Project, Take, MediaInfo, dict[v.Asset, v.Inputs]]:
    """The shot's project, selected take (probed) and the inputs its picture and audio are built from."""
    project = workspace.project(project_name)
    if shot not in project.shots():
        raise VidasmError(f"shot {shot} is not in project {project_name}'s sequence", path=project.root)
    take = project.select_take(shot)
    info = probe(take.path)
    cache = load_fingerprints(project)
    fp = render_fingerprint(take, cache)
    save_fingerprints(project, cache)
    return project, take, info, v.shot_inputs(fp, take.label, v.spec_facets(project))


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


def picture_asset(p: ProjectScope) -> dg.AssetsDefinition:
    @dg.asset(
        key=p.key(n.PICTURE),
        partitions_def=p.shots,
        deps=[p.key(n.RENDER), p.key(n.PICTURE_SPEC)],
        group_name=n.SHOTS_GROUP,
        kinds={"ffmpeg"},
        code_version=v.CODE_VERSIONS[v.Asset.PICTURE],
        pool=n.FFMPEG_POOL,
        check_specs=check_specs(p.key(n.PICTURE), PICTURE_CHECKS),
        description="The shot conformed to the timeline: size (letter/pillarbox), constant fps, yuv420p, "
        "BT.709, closed GOP H.264 at the web delivery's settings so the cut can be a stream copy.",
    )
    def picture(
        context: dg.AssetExecutionContext, ffmpeg: FFmpegResource, workspace: WorkspaceResource
    ) -> dg.MaterializeResult:
        shot = context.partition_key
        project, take, info, inputs = shot_context(workspace, p.name, shot)
        mine = inputs[v.Asset.PICTURE]
        with stamped(project.stamps(n.PICTURE, shot, mine.version)):
            res = conform_picture(ffmpeg.runner(context, f"{p.name}/{shot} picture"), project, take, info)
        md = {
            **media_metadata(res.info),
            **take_metadata(take, info, mine),
            **picture_report(res),
            "path": dg.MetadataValue.path(str(res.path)),
        }
        return result(mine, md, picture_checks(project, res))

    return picture


def audio_asset(p: ProjectScope) -> dg.AssetsDefinition:
    @dg.asset(
        key=p.key(n.AUDIO),
        partitions_def=p.shots,
        deps=[p.key(n.RENDER), p.key(n.AUDIO_SPEC)],
        group_name=n.SHOTS_GROUP,
        kinds={"ffmpeg"},
        code_version=v.CODE_VERSIONS[v.Asset.AUDIO],
        pool=n.FFMPEG_POOL,
        check_specs=check_specs(p.key(n.AUDIO), AUDIO_CHECKS),
        description="The shot's audio: 48 kHz stereo PCM, two-pass EBU R128 loudness normalized, exactly as "
        "long as the picture (silence when the render has none).",
    )
    def audio(
        context: dg.AssetExecutionContext, ffmpeg: FFmpegResource, workspace: WorkspaceResource
    ) -> dg.MaterializeResult:
        shot = context.partition_key
        project, take, info, inputs = shot_context(workspace, p.name, shot)
        mine = inputs[v.Asset.AUDIO]
        run = ffmpeg.runner(context, f"{p.name}/{shot} audio")
        with stamped(project.stamps(n.AUDIO, shot, mine.version)):
            res = normalize_audio(run, project, take, info, shot_frames(info, project.spec.rate))
        out = probe(res.path)
        md = {
            **media_metadata(out),
            **take_metadata(take, info, mine),
            **audio_report(res),
            "path": dg.MetadataValue.path(str(res.path)),
            "target_lufs": project.spec.audio.loudness_lufs,
            "ceiling_dbtp": project.spec.audio.true_peak_db,
        }
        return result(mine, md, audio_checks(project, res, out))

    return audio
