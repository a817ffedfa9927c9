"""The one Definitions object: a set of assets per project in ``VIDASM_WORKSPACE``.

Projects are discovered when the code location loads: a brand-new project folder needs a reload, which the
render sensor asks the webserver for when ``VIDASM_WEBSERVER_URL`` is set (``vidasm ui`` sets it; see
``reload.py``). New shots and versions are dynamic partitions and need none.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import dagster as dg

from .assets import build_project_assets
from .farm import executor_def
from .media.errors import VidasmError
from .media.presets import BUILTIN_PRESETS
from .media.project import NAME_RE, Project, discover_projects
from .resources import FFmpegResource, WorkspaceResource
from .sensors import build_render_sensor, default_watch_seconds
from .settings import workspace_root

log = logging.getLogger("vidasm")


def build_definitions(root: Path | str | None = None) -> dg.Definitions:
    """Definitions for the workspace at ``root``; an invalid project.json still gets its assets, which fail
    with the validation message, so one broken project never hides the others."""
    explicit = root is not None
    ws_root = Path(root).resolve() if explicit else workspace_root()
    ws = discover_projects(ws_root)
    assets: list = []
    jobs: list = []
    presets: dict[str, list[str]] = {}
    music: set[str] = set()
    segments: dict[str, list[str]] = {}
    for name in sorted([*ws.projects, *ws.errors]):
        if name in ws.errors and not NAME_RE.fullmatch(name):
            continue  # an invalid folder name (projé: str.isalnum() is true of é) cannot be an asset key
        if name in ws.clashing:
            continue  # its job names would be another project's: refused by name (discover_projects)
        project_presets = ws.projects[name].exports() if name in ws.projects else [BUILTIN_PRESETS["web"]]
        pa = build_project_assets(name, project_presets, _has_music(ws.projects.get(name)))
        presets[name] = pa.presets
        segments[name] = pa.segments
        if pa.music:
            music.add(name)
        assets += pa.assets
        jobs += pa.jobs
    if not explicit:  # loaded as a code location: its log is where a broken project is said; the CLI says it itself
        for name, err in ws.errors.items():
            log.error("project %s: %s", name, err)
    options: dict = (
        {"settle_seconds": dg.EnvVar.int("VIDASM_SETTLE_SECONDS")} if os.environ.get("VIDASM_SETTLE_SECONDS") else {}
    )
    if os.environ.get("VIDASM_WEBSERVER_URL"):
        options["webserver_url"] = dg.EnvVar("VIDASM_WEBSERVER_URL")
    if explicit or not os.environ.get("VIDASM_WORKSPACE"):
        workspace = WorkspaceResource(root=str(ws_root), **options)
    else:
        workspace = WorkspaceResource(root=dg.EnvVar("VIDASM_WORKSPACE"), **options)
    interval = int(os.environ.get("VIDASM_SENSOR_INTERVAL") or 30)
    watch_env = os.environ.get("VIDASM_SENSOR_WATCH_SECONDS")  # unset: the rest of the daemon's loop if interval < 5
    watch = float(watch_env) if watch_env else default_watch_seconds(interval)
    sensors = [
        build_render_sensor(
            presets, jobs, minimum_interval_seconds=interval, music=music, segments=segments, watch_seconds=watch
        ),
        dg.AutomationConditionSensorDefinition(
            "vidasm_automation",
            target=dg.AssetSelection.all(),
            minimum_interval_seconds=interval,
            default_status=dg.DefaultSensorStatus.RUNNING,
            description="Rebuilds each project's timeline, cut, EDL and deliveries once its shots are rebuilt.",
        ),
    ]
    ffmpeg = FFmpegResource(ffmpeg_path=dg.EnvVar("FFMPEG_PATH")) if os.environ.get("FFMPEG_PATH") else FFmpegResource()
    return dg.Definitions(
        assets=assets,
        jobs=jobs,
        sensors=sensors if jobs else [],
        # in process by default; VIDASM_EXECUTOR=celery sends each step to the render nodes' workers (farm.py)
        executor=executor_def(),
        resources={"ffmpeg": ffmpeg, "workspace": workspace},
    )


def _has_music(project: Project | None) -> bool:
    """Whether the project gets the music assets (an unreadable music/ folder: none; the build says why)."""
    try:
        return project is not None and project.has_music()
    except VidasmError:
        return False


@dg.definitions
def defs() -> dg.Definitions:
    return build_definitions()
