"""The music bed (``media/music.py``): the observed music (tracks and settings) and the mix the deliveries take
their sound from. Defined for a project that has music (``Project.has_music``); a music change rebuilds the mix,
the OTIO (its music track) and the deliveries' sound, never a picture."""

import dagster as dg

from ..media import versions as v
from ..media.checks import MIX_CHECKS, mix_checks
from ..media.errors import VidasmError
from ..media.fingerprints import load_fingerprints, save_fingerprints
from ..media.music import build_mix, music_values
from ..media.outputs import stamped
from ..media.probe import probe
from ..media.project import Project
from ..resources import FFmpegResource, WorkspaceResource
from . import names as n
from .metadata import media_metadata
from .results import RollupStep, check_specs, current_input, result
from .scope import ProjectScope


def music_version_now(project: Project) -> str:
    """The music's data version as the files are now (fingerprinted; a missing or unreadable track names the file)."""
    cache = load_fingerprints(project)
    values = music_values(project, cache)
    save_fingerprints(project, cache)
    if values is None:
        raise VidasmError(f"project {project.name} has no music (music/ is empty or project.json says "
                          '"music": false)', path=project.root)  # fmt: skip
    return v.music_version(values)


def music_source(p: ProjectScope) -> dg.SourceAsset:
    @dg.observable_source_asset(
        key=p.key(n.MUSIC),
        group_name=p.group,
        tags=n.stage(n.SOURCES_STAGE),
        description="The music bed's tracks (project.json music.tracks, else the music/ folder) and settings; its "
        "data version is their content and settings, so a new track rebuilds the mix and the deliveries' sound only.",
    )
    def _observe(workspace: WorkspaceResource) -> dg.DataVersion:
        return dg.DataVersion(music_version_now(workspace.project(p.name)))

    return _observe


def mix_asset(p: ProjectScope) -> dg.AssetsDefinition:
    @dg.asset(
        **p.asset_args(n.MIX, n.ASSEMBLY_STAGE, v.Asset.MIX, ffmpeg=True, rollup=True),
        deps=[p.key(n.CUT), p.key(n.TIMELINE), p.key(n.MUSIC), p.key(n.AUDIO_SPEC)],
        check_specs=check_specs(p.key(n.MIX), MIX_CHECKS),
        description="The delivered sound: the cut's programme with the music bed looped or trimmed to its length, "
        "faded out, ducked under the programme (sidechain compression), the mix at the loudness target; the "
        "tracklist beside the EDL.",
    )
    def mix(
        context: dg.AssetExecutionContext, ffmpeg: FFmpegResource, workspace: WorkspaceResource
    ) -> dg.MaterializeResult:
        step = RollupStep.start(context, workspace, p.name)
        meter, project, tl = step.meter, step.project, step.timeline
        cut_v = current_input(context.instance, project, p.key(n.CUT))
        mine = v.mix_inputs(project, cut_v, music_version_now(project))
        run = ffmpeg.runner(context, f"{p.name} mix", meter)
        cache = load_fingerprints(project)
        with stamped(project.stamps(n.MIX, None, mine.version)):
            res = build_mix(run, project, tl, cache)
        save_fingerprints(project, cache)
        info = probe(project.mix_path())
        a = res.audio
        md = {
            **media_metadata(info),
            "path": dg.MetadataValue.path(str(project.mix_path())),
            "tracklist": dg.MetadataValue.path(str(project.tracklist_paths()[0])),
            "tracks": ", ".join(t.title for t in res.tracks),
            "plays": len(res.placements),
            "samples": tl.total_samples(),
            "music_lufs_before_gain": round(res.bed_lufs, 2),
            "music_gain_db": res.gain_db,
            "duck_db": res.duck_db,
            "mode": a.mode.value,
            "normalization": a.normalization_type or "none",
            "loudness_lufs": a.output_i if a.output_i is not None else float("nan"),
            "true_peak_dbtp": a.output_tp if a.output_tp is not None else float("nan"),
        }
        return result(mine, md, mix_checks(project, a, info, tl.total_samples()), meter=meter)

    return mix
