"""Reading what the Dagster instance recorded: the make-side of staleness."""

from __future__ import annotations

import json
from collections.abc import Iterable

import dagster as dg

from . import names as n

DATA_VERSION_TAG = "dagster/data_version"
INPUTS_KEY = "inputs"
"""Materialization metadata: the named inputs the output was built from (``media.versions.Inputs.to_record``)."""
FAILED_CHECKS_KEY = "failed_checks"
"""Materialization metadata: the blocking checks that failed on that output (``"none"`` when all passed)."""
# The step's metrics, as floats (the UI plots numeric metadata over time; ``vidasm metrics`` exports them):
WALL_KEY = "wall_s"
"""Seconds the step took, from the asset body's start to its result."""
MEDIA_KEY = "media_s"
"""Seconds of media the step produced: the output's duration."""
RATIO_KEY = "processing_ratio"
"""``wall_s / media_s``: seconds of work per second of media (below 1: faster than real time)."""
FFMPEG_KEY = "ffmpeg_s"
"""Seconds the step's FFmpeg commands ran, added up."""


def latest_materialization(
    instance: dg.DagsterInstance, key: dg.AssetKey, partition: str | None = None
) -> dg.AssetMaterialization | None:
    records = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=key, asset_partitions=[partition] if partition else None), limit=1
    ).records
    return records[0].asset_materialization if records else None


def recorded_version(instance: dg.DagsterInstance, key: dg.AssetKey, partition: str | None = None) -> str | None:
    """The data version of the latest materialization (per partition), or None if never built."""
    mat = latest_materialization(instance, key, partition)
    return (mat.tags or {}).get(DATA_VERSION_TAG) if mat else None


def failed_checks(instance: dg.DagsterInstance, key: dg.AssetKey, partition: str | None = None) -> list[str]:
    """The blocking checks the latest materialization failed (empty when it passed them all or has none)."""
    mat = latest_materialization(instance, key, partition)
    return failed_checks_of(mat)


def failed_checks_of(mat: dg.AssetMaterialization | None) -> list[str]:
    if mat is None:
        return []
    value = (mat.metadata or {}).get(FAILED_CHECKS_KEY)
    text = getattr(value, "value", value)
    return [] if not text or text == "none" else [t.strip() for t in str(text).split(",")]


def metric(mat: dg.AssetMaterialization | None, name: str) -> float | None:
    """A numeric metadata entry of a materialization (``WALL_KEY`` ...), None when it has none."""
    value = (mat.metadata or {}).get(name) if mat is not None else None
    value = getattr(value, "value", value)
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def recorded_inputs(mat: dg.AssetMaterialization | None) -> dict | None:
    """The named inputs a materialization recorded (None for ones made before inputs were recorded)."""
    if mat is None:
        return None
    value = (mat.metadata or {}).get(INPUTS_KEY)
    data = getattr(value, "data", value)
    return data if isinstance(data, dict) else None


def recorded_observation(instance: dg.DagsterInstance, key: dg.AssetKey, partition: str | None = None) -> str | None:
    records = instance.fetch_observations(
        dg.AssetRecordsFilter(asset_key=key, asset_partitions=[partition] if partition else None), limit=1
    ).records
    if not records:
        return None
    obs = records[0].event_log_entry.asset_observation
    return (obs.tags or {}).get(DATA_VERSION_TAG) if obs else None


HANDED_TAG = "vidasm/observes"
"""On a run the render sensor launches through to delivery: the observations its tick handed to the run
(``sensors/renders.hand_to_runs``), which the run's first shot step records (``handed_tag``)."""


def handed_tag(observations: Iterable[dg.AssetObservation]) -> str:
    """``HANDED_TAG``'s value: ``[[asset key, partition or null, data version], ...]`` as JSON."""
    return json.dumps(
        [[o.asset_key.to_user_string(), o.partition, (o.tags or {})[DATA_VERSION_TAG]] for o in observations],
        separators=(",", ":"),
    )


def handed_observations(tag: str | None) -> list[dg.AssetObservation]:
    """The observations a ``handed_tag`` value holds (none for a run without one)."""
    return [
        dg.AssetObservation(asset_key=dg.AssetKey.from_user_string(key), partition=part, tags={DATA_VERSION_TAG: ver})
        for key, part, ver in json.loads(tag or "[]")
    ]


def not_recorded(instance: dg.DagsterInstance, observations: Iterable[dg.AssetObservation]) -> list:
    """Those of ``observations`` whose data version is not the latest the instance observed for their asset."""
    return [
        o
        for o in observations
        if recorded_observation(instance, o.asset_key, o.partition) != (o.tags or {})[DATA_VERSION_TAG]
    ]


def latest_versions(
    instance: dg.DagsterInstance, key: dg.AssetKey, partitions: list[str], *, observations: bool = False
) -> dict[str, str | None]:
    """Latest data version per partition in a few paged queries, not one query per partition."""
    found: dict[str, str | None] = {}
    wanted = set(partitions)
    if not wanted:
        return found
    fetch = instance.fetch_observations if observations else instance.fetch_materializations
    cursor = None
    while len(found) < len(wanted):
        page = fetch(dg.AssetRecordsFilter(asset_key=key, asset_partitions=sorted(wanted)), limit=1000, cursor=cursor)
        for rec in page.records:
            entry = rec.event_log_entry
            event = entry.asset_observation if observations else entry.asset_materialization
            if event is None or event.partition in found or event.partition not in wanted:
                continue
            found[event.partition] = (event.tags or {}).get(DATA_VERSION_TAG)
        if not page.has_more:
            break
        cursor = page.cursor
    return {p: found.get(p) for p in partitions}


PROJECT_TAG = "vidasm/project"
INTERRUPTED_TAG = "vidasm/interrupted"
"""Set on a run failed by ``make.reclaim_dead_runs`` (its process was killed), so ``vidasm status`` can say so."""
"""The tag naming the project a run builds (``vidasm build``, the render sensor)."""
QUEUED = (dg.DagsterRunStatus.QUEUED, dg.DagsterRunStatus.NOT_STARTED)
"""Waiting runs: queued, or created and not launched yet (neither holds a worker or a pool slot)."""
IN_PROGRESS = (
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
    dg.DagsterRunStatus.CANCELING,
    dg.DagsterRunStatus.SUSPENDED,
)
"""Runs that started and have not finished (Dagster's own in-progress statuses)."""


def run_project(run: dg.DagsterRun, projects: Iterable[str] = ()) -> str:
    """The project a run builds: its ``vidasm/project`` tag (vidasm build, the render sensor), else its assets'
    key prefix (automation, the UI), else its job's name (``<project>__shots``; ``projects`` gives back a name
    whose ``-`` the job name wrote ``_``)."""
    if run.tags.get(PROJECT_TAG):
        return run.tags[PROJECT_TAG]
    if run.asset_selection:
        return next(iter(run.asset_selection)).path[0]
    prefix = run.job_name.rsplit("__", 1)[0]
    return next((p for p in sorted(projects) if n.safe(p) == prefix), prefix)


def busy_projects(instance: dg.DagsterInstance, projects: Iterable[str] = ()) -> set[str]:
    """The projects with a run queued or in progress (one query for all of them)."""
    runs = instance.get_runs(filters=dg.RunsFilter(statuses=[*QUEUED, *IN_PROGRESS]))
    return {run_project(run, projects) for run in runs}
