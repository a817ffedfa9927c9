"""What every stage module needs to know about the project it makes assets for."""

from __future__ import annotations

from dataclasses import dataclass

import dagster as dg

from . import names as n


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
