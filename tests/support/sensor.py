"""Ticking the render sensor by hand on a real instance, and reading what a tick asked for."""

from __future__ import annotations

import os
import time
from pathlib import Path

import dagster as dg

from vidasm_assets.assets import names as n
from vidasm_assets.definitions import build_definitions
from vidasm_assets.media.demo import RenderSpec
from vidasm_assets.resources import WorkspaceResource
from vidasm_assets.sensors.renders import SENSOR_NAME

TINY = RenderSpec(64, 36, "24", 0.5, -20)


OLD = time.time() - 3600


def age(path: Path, when: float = OLD) -> None:
    for p in [path, *path.rglob("*")] if path.is_dir() else [path]:
        os.utime(p, (when, when))


class Ticker:
    """Runs sensor ticks the way the daemon would, applying partition requests and observations."""

    def __init__(
        self, root: Path, instance: dg.DagsterInstance, settle: int = 30, webserver_url: str | None = None
    ) -> None:
        self.root, self.instance, self.settle, self.webserver_url = root, instance, settle, webserver_url
        self.cursor: str | None = None
        self.reload()

    def reload(self) -> None:
        """What a code-location reload does: re-discover the projects."""
        self.defs = build_definitions(self.root)

    def tick(self) -> dg.SensorResult:
        defs = self.defs
        sensor = defs.resolve_sensor_def(SENSOR_NAME)
        ctx = dg.build_sensor_context(
            instance=self.instance,
            instance_ref=self.instance.get_ref(),
            cursor=self.cursor,
            definitions=defs,
            resources={
                "workspace": WorkspaceResource(
                    root=str(self.root), settle_seconds=self.settle, webserver_url=self.webserver_url
                )
            },
        )
        data = sensor.evaluate_tick(ctx)
        for req in data.dynamic_partitions_requests or []:
            if isinstance(req, dg.AddDynamicPartitionsRequest):
                self.instance.add_dynamic_partitions(req.partitions_def_name, list(req.partition_keys))
            else:
                for key in req.partition_keys:
                    self.instance.delete_dynamic_partition(req.partitions_def_name, key)
        for event in data.asset_events or []:
            self.instance.report_runless_asset_event(event)
        self.cursor = data.cursor
        return data

    def run(self, req: dg.RunRequest) -> dg.ExecuteInProcessResult:
        """Execute a run the tick asked for, as the daemon's run worker would (its job, partition, selection and
        tags), in process and quietly; asserts that it succeeded."""
        result = self.defs.resolve_job_def(req.job_name).execute_in_process(
            instance=self.instance,
            partition_key=req.partition_key,
            asset_selection=list(req.asset_selection or []),
            run_config={"loggers": {"console": {"config": {"log_level": "WARNING"}}}},
            tags=req.tags,
        )
        assert result.success
        return result


def runs(data) -> set[tuple[str, str | None, tuple[str, ...]]]:
    return {
        (r.job_name, r.partition_key, tuple(sorted(k.to_user_string() for k in r.asset_selection or [])))
        for r in data.run_requests
    }


def partition_changes(data) -> set[tuple[str, str, tuple[str, ...]]]:
    out = set()
    for req in data.dynamic_partitions_requests or []:
        kind = "add" if isinstance(req, dg.AddDynamicPartitionsRequest) else "delete"
        out.add((kind, req.partitions_def_name, tuple(sorted(req.partition_keys))))
    return out


def through_to_delivery(
    project: str, shot: str, presets: tuple[str, ...] = ("web",), segments: tuple[str, ...] = ()
) -> tuple[str, str, tuple[str, ...]]:
    """The run one changed shot gets when its project is idle: its picture and audio (and its segment of each
    preset in ``segments``), then the project's roll-ups, in one run (as ``runs`` lists it)."""
    names = ["audio", "picture", *(n.segments(p) for p in segments), "timeline", "cut", "edl", "otio"]
    names += [n.delivery(p) for p in presets]
    return (n.shot_to_delivery_job_name(project), shot, tuple(sorted(f"{project}/{a}" for a in names)))
