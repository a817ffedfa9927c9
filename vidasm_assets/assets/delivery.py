"""The deliveries: one asset per preset the project exports, encoded from the cut (its only input)."""

import dagster as dg

from ..media import versions as v
from ..media.assembly import deliver
from ..media.commands import PRESETS
from ..media.outputs import stamped
from ..media.probe import probe
from ..resources import FFmpegResource, WorkspaceResource
from . import names as n
from .automation import ROLLUP_AUTOMATION
from .metadata import media_metadata
from .results import current_input, result
from .scope import ProjectScope


def delivery_asset(p: ProjectScope, preset: str) -> dg.AssetsDefinition:
    @dg.asset(
        key=p.key(n.delivery(preset)),
        deps=[p.key(n.CUT)],
        group_name=n.DELIVERY_GROUP,
        kinds={"ffmpeg"},
        code_version=v.CODE_VERSIONS[v.Asset.DELIVERY],
        automation_condition=ROLLUP_AUTOMATION,
        pool=n.FFMPEG_POOL,
        description=f"The {preset} delivery in 06_Exports: {PRESETS[preset].description}. Encoded once from the cut.",
    )
    def _delivery(
        context: dg.AssetExecutionContext, ffmpeg: FFmpegResource, workspace: WorkspaceResource
    ) -> dg.MaterializeResult:
        project = workspace.project(p.name)
        mine = v.delivery_inputs(preset, current_input(context.instance, project, p.key(n.CUT)))
        with stamped(project.stamps(n.delivery(preset), None, mine.version)):
            path = deliver(ffmpeg.runner(context, f"{p.name} {preset}"), project, preset)
        md = {**media_metadata(probe(path)), "path": dg.MetadataValue.path(str(path)), "preset": preset}
        return result(mine, md)

    return _delivery
