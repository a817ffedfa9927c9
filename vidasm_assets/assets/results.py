"""What every asset body shares: its result (data version, named inputs, check results, the step's metrics) and
the guarded read of what it consumes (``current_input``: built, passed its checks, and the file on disk is the one
recorded)."""

from __future__ import annotations

from dataclasses import dataclass

import dagster as dg

from ..media import versions as v
from ..media.checks import CheckOutcome
from ..media.errors import VidasmError
from ..media.project import Project
from ..media.timeline import Timeline
from ..resources import StepMeter, WorkspaceResource
from . import names as n
from .metadata import metadata_safe
from .records import (
    FAILED_CHECKS_KEY,
    FFMPEG_KEY,
    INPUTS_KEY,
    MEDIA_KEY,
    RATIO_KEY,
    WALL_KEY,
    failed_checks,
    recorded_version,
)


def check_specs(key: dg.AssetKey, checks: dict[str, str]) -> list[dg.AssetCheckSpec]:
    """Blocking checks: a failed one stops the downstream assets of the same run (and ``current_input`` stops
    those of later runs)."""
    return [dg.AssetCheckSpec(name, asset=key, blocking=True, description=text) for name, text in checks.items()]


def step_metrics(meter: StepMeter, media_s: float | None) -> dict[str, dg.MetadataValue]:
    """The step's wall time, the FFmpeg time in it, the seconds of media it produced and their ratio, as float
    metadata (the UI plots each over time on the asset page). No ratio for an output without a duration."""
    wall = round(meter.wall_s, 4)
    md = {WALL_KEY: dg.MetadataValue.float(wall), FFMPEG_KEY: dg.MetadataValue.float(round(meter.ffmpeg_s, 4))}
    if media_s is not None and media_s > 0:
        md[MEDIA_KEY] = dg.MetadataValue.float(float(media_s))
        md[RATIO_KEY] = dg.MetadataValue.float(wall / float(media_s))
    return md


def result(
    inputs: v.Inputs,
    metadata: dict,
    outcomes: list[CheckOutcome] | None = None,
    *,
    meter: StepMeter,
    media_s: float | None = None,
) -> dg.MaterializeResult:
    """A materialization at ``inputs``' data version, with the named inputs in its metadata (a later status
    says what changed), the step's metrics (``step_metrics``: ``meter``'s times; ``media_s``, by default the
    output's ``duration_s`` metadata, as ``media_metadata`` reports it) and, when the asset has checks, their
    results and the names of the failed ones (``FAILED_CHECKS_KEY``: a consumer in a later run reads them and
    refuses the output)."""
    if media_s is None:
        media_s = _duration(metadata.get("duration_s"))
    md = {**metadata, INPUTS_KEY: dg.MetadataValue.json(inputs.to_record()), **step_metrics(meter, media_s)}
    results = None
    if outcomes is not None:
        md[FAILED_CHECKS_KEY] = ", ".join(c.name for c in outcomes if not c.passed) or "none"
        results = [
            dg.AssetCheckResult(
                check_name=c.name,
                passed=bool(c.passed),
                severity=dg.AssetCheckSeverity.ERROR,
                metadata=metadata_safe(c.metadata),
                description=c.summary,
            )
            for c in outcomes
        ]
    return dg.MaterializeResult(data_version=dg.DataVersion(inputs.version), metadata=md, check_results=results)


def _duration(value: object) -> float | None:
    value = getattr(value, "value", value)
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def current_input(
    instance: dg.DagsterInstance, project: Project, key: dg.AssetKey, partition: str | None = None
) -> str:
    """The recorded data version of an upstream output this step reads, after checking that it may be read: it
    was built, passed its blocking checks, and the file on disk is the one recorded (its stamp). Raises
    ``VidasmError`` naming the output otherwise: a consumer never reads what a crash, a failed check or a hand
    edit left behind."""
    asset = key.path[-1]
    label = f"{asset} of shot {partition}" if partition else asset
    recorded = recorded_version(instance, key, partition)
    outputs = project.outputs(asset, partition)
    if recorded is None:
        raise VidasmError(f"{project.name}: the {label} has not been built", path=outputs[0])
    failed = failed_checks(instance, key, partition)
    if failed:
        raise VidasmError(
            f"{project.name}: the {label} failed check(s) {', '.join(failed)}; an output that failed a blocking "
            "check is never used (fix the render or the settings and rebuild it)",
            path=outputs[0],
        )
    if project.built_version(asset, partition) != recorded:
        raise VidasmError(
            f"{project.name}: {outputs[0]} is not the {label} recorded as built (a build was interrupted, or the "
            "file was changed by hand); rebuild it",
            path=outputs[0],
        )
    return recorded


def read_timeline(instance: dg.DagsterInstance, project: Project) -> tuple[Timeline, str]:
    """The one loader of the timeline its consumers (cut, EDL, OTIO) use: typed, with its recorded version."""
    version = current_input(instance, project, n.key(project.name, n.TIMELINE))
    return Timeline.from_json(project.timeline_path().read_text()), version


@dataclass
class RollupStep:
    """What a roll-up step (cut, EDL, OTIO, mix, delivery) starts from: its meter (running from now), the project as
    project.json says now, and the timeline it reads with the timeline's recorded version."""

    meter: StepMeter
    project: Project
    timeline: Timeline
    timeline_version: str

    @classmethod
    def start(cls, context: dg.AssetExecutionContext, workspace: WorkspaceResource, project: str) -> RollupStep:
        meter = StepMeter()  # first: the step's wall time includes reading the project and the timeline
        loaded = workspace.project(project)
        return cls(meter, loaded, *read_timeline(context.instance, loaded))
