"""What every stage module needs to know about the project it makes assets for."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import dagster as dg

from ..media import versions as v
from . import names as n
from .automation import ROLLUP_AUTOMATION


@dataclass(frozen=True)
class ProjectScope:
    """One project's name, its shot partitions, and its asset keys (``<project>/<asset>``)."""

    name: str
    shots: dg.DynamicPartitionsDefinition

    @classmethod
    def of(cls, project: str) -> ProjectScope:
        return cls(project, dg.DynamicPartitionsDefinition(name=n.shots_partitions_name(project)))

    def key(self, asset: str) -> dg.AssetKey:
        return n.key(self.name, asset)

    @property
    def group(self) -> str:
        """The project's asset group (one per project: the lineage view shows one project's pipeline)."""
        return n.group(self.name)

    def asset_args(
        self, asset: str, stage: str, code: v.Asset, *, ffmpeg: bool, per_shot: bool = False, rollup: bool = False
    ) -> dict[str, Any]:
        """The ``@dg.asset`` arguments a built asset shares with the others: its key, the project's group, its
        stage tag (``vidasm/stage``) and code version; an FFmpeg-running asset the ``ffmpeg`` kind and pool (the
        pool bounds FFmpeg steps across runs); a per-shot asset the shot partitions; a roll-up the roll-up
        automation condition (``automation.ROLLUP_AUTOMATION``)."""
        args: dict[str, Any] = {
            "key": self.key(asset),
            "group_name": self.group,
            "tags": n.stage(stage),
            "code_version": v.CODE_VERSIONS[code],
        }
        if ffmpeg:
            args |= {"kinds": {"ffmpeg"}, "pool": n.FFMPEG_POOL}
        if per_shot:
            args["partitions_def"] = self.shots
        if rollup:
            args["automation_condition"] = ROLLUP_AUTOMATION
        return args
