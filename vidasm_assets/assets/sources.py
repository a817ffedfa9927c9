"""Observed sources: each shot's selected render (its content fingerprint) and project.json's facets."""

import dagster as dg

from ..media import versions as v
from ..media.errors import VidasmError
from ..media.fingerprints import load_fingerprints, render_fingerprint, save_fingerprints
from ..resources import WorkspaceResource
from . import names as n
from .scope import ProjectScope

FACET_DESCRIPTIONS = {
    v.Asset.PICTURE_SPEC: "project.json's picture settings (resolution, fps, HDR policy).",
    v.Asset.AUDIO_SPEC: "project.json's audio settings (loudness target, true peak, tracks, fps).",
    v.Asset.EDIT_SPEC: "project.json's sequence: order, pinned takes, story metadata, EDL settings.",
}


def render_source(p: ProjectScope) -> dg.SourceAsset:
    @dg.observable_source_asset(
        key=p.key(n.RENDER),
        partitions_def=p.shots,
        group_name=p.group,
        tags=n.stage(n.SOURCES_STAGE),
        description="The selected take of each shot in 03_Renders; its data version is the take's content hash.",
    )
    def render(context, workspace: WorkspaceResource) -> dg.DataVersionsByPartition:
        project = workspace.project(p.name)
        cache = load_fingerprints(project)
        versions: dict[str, str] = {}
        for shot in context.instance.get_dynamic_partitions(p.shots.name):
            try:
                versions[shot] = render_fingerprint(project.select_take(shot), cache)
            except VidasmError as exc:
                context.log.warning(str(exc))
                versions[shot] = v.NO_RENDER
        save_fingerprints(project, cache)
        return dg.DataVersionsByPartition(versions)

    return render


def spec_source(p: ProjectScope, facet: v.Asset) -> dg.SourceAsset:
    @dg.observable_source_asset(key=p.key(facet.value), group_name=p.group, tags=n.stage(n.SOURCES_STAGE),
                                description=FACET_DESCRIPTIONS[facet])  # fmt: skip
    def _observe(workspace: WorkspaceResource) -> dg.DataVersion:
        return dg.DataVersion(v.facet_versions(workspace.project(p.name))[facet])

    return _observe


def source_assets(p: ProjectScope) -> list[dg.SourceAsset]:
    return [render_source(p), *(spec_source(p, f) for f in v.SPEC_FACETS)]
