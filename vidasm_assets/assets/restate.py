"""Making the UI agree with ``vidasm status`` after a fix that needs no rebuild.

A shot whose last run failed (a bad pinned take, a broken version dropped into 03_Renders) keeps its previous
good picture and audio on disk: outputs are renamed into place only on success. Once the cause is undone (the
pin reverted, the broken version deleted) the planner and the sensor find the shot fresh, since its recorded
data version is again the expected one, and rightly build nothing. The UI, however, shows what the event log
last said (dagster 1.13.27, checked in this repository's tests):

- a partition is FAILED while its latest planned materialization has no materialization after it and its run
  failed (``instance.get_status_by_partition``, the status cache the UI's partition bar and asset health read);
- checks declared with ``check_specs`` on a partitioned asset are recorded without a partition, so a check's
  status in the UI is its newest execution, whichever shot it ran for: a failed run leaves it
  "execution failed" (and a shot deleted after a failure leaves it so) until another build of that asset runs
  (``AssetCheckExecutionRecord.targets_latest_materialization``; shared/notes/dagster-findings.md).

So vidasm records the fact instead of rebuilding: a runless ``AssetMaterialization`` repeating the good build
(same data and code version tags, same metadata, plus a ``restated`` note), followed by that build's check
evaluations, re-reported runless (``DagsterInstance.report_runless_asset_event`` takes both; a sensor returns
them in ``SensorResult.asset_events``). Nothing is re-reported for an output that failed a check, is missing
on disk, or is not at the expected version: those are rebuilt instead.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import dagster as dg

from ..media.checks import AUDIO_CHECKS, PICTURE_CHECKS
from . import names as n
from .records import failed_checks_of

RESTATED_KEY = "restated"
"""Metadata of a restated materialization or check evaluation: why vidasm repeated it."""
ORIGIN_RUN_KEY = "restated_from_run"
"""Metadata of a restated materialization: the run that built the output (its check evaluations are there)."""
PARTITION_TAG = "dagster/partition"

AssetEvent = dg.AssetMaterialization | dg.AssetCheckEvaluation


def _latest_record(
    instance: dg.DagsterInstance, key: dg.AssetKey, partitions: Sequence[str]
) -> dg.EventLogRecord | None:
    records = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=key, asset_partitions=list(partitions)), limit=1
    ).records
    return records[0] if records else None


def _origin_run(record: dg.EventLogRecord) -> str:
    mat = record.asset_materialization
    value = (mat.metadata or {}).get(ORIGIN_RUN_KEY) if mat else None
    return str(getattr(value, "value", value) or record.run_id or "")


def _check_evaluations(
    instance: dg.DagsterInstance, key: dg.AssetKey, run_id: str, names: Iterable[str] | None = None
) -> dict[str, dg.AssetCheckEvaluation]:
    """The last evaluation of each check of ``key`` in a run (the build's own results)."""
    if not run_id:
        return {}
    wanted = set(names) if names is not None else None
    found: dict[str, dg.AssetCheckEvaluation] = {}
    for entry in instance.all_logs(run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION):
        data = entry.dagster_event.asset_check_evaluation_data if entry.dagster_event else None
        if data is not None and data.asset_key == key and (wanted is None or data.check_name in wanted):
            found[data.check_name] = data
    return found


def _again(evaluation: dg.AssetCheckEvaluation, note: str) -> dg.AssetCheckEvaluation:
    return dg.AssetCheckEvaluation(
        asset_key=evaluation.asset_key,
        check_name=evaluation.check_name,
        passed=evaluation.passed,
        metadata={**evaluation.metadata, RESTATED_KEY: dg.MetadataValue.text(note)},
        severity=evaluation.severity,
        description=evaluation.description,
        blocking=evaluation.blocking,
        partition=evaluation.partition,
    )


def _restate(key: dg.AssetKey, partition: str, record: dg.EventLogRecord, note: str) -> dg.AssetMaterialization:
    mat = record.asset_materialization
    assert mat is not None
    return dg.AssetMaterialization(
        asset_key=key,
        partition=partition,
        description=mat.description,
        metadata={
            **mat.metadata,
            RESTATED_KEY: dg.MetadataValue.text(note),
            ORIGIN_RUN_KEY: dg.MetadataValue.text(_origin_run(record)),
        },
        tags=dict(mat.tags or {}),
    )


def _finished_run_partition(instance: dg.DagsterInstance, run_id: str) -> tuple[bool, str | None]:
    """(finished, partition) of a run; a deleted run counts as finished, with no partition."""
    run = instance.get_run_by_id(run_id) if run_id else None
    if run is None:
        return True, None
    return run.is_finished, run.tags.get(PARTITION_TAG)


def reconcile_shot_asset(
    instance: dg.DagsterInstance,
    project: str,
    asset: str,
    check_names: Iterable[str],
    *,
    shots: Sequence[str],
    fresh: Sequence[str],
    by: str,
) -> list[AssetEvent]:
    """Events that make a shot-level asset's UI state match vidasm's view.

    ``shots``: the project's shots now; ``fresh``: those whose output is on disk at the expected data version
    (the caller's judgement, from the same versions ``vidasm status`` uses). ``by`` names the caller in the note.
    """
    key = n.key(project, asset)
    events: list[AssetEvent] = []
    fresh = [s for s in fresh if s in shots]
    statuses = (
        instance.get_status_by_partition(
            key, fresh, dg.DynamicPartitionsDefinition(name=n.shots_partitions_name(project))
        )
        if fresh
        else None
    ) or {}
    checks_again = False
    for shot in fresh:
        if statuses.get(shot) != dg.AssetPartitionStatus.FAILED:
            continue
        record = _latest_record(instance, key, [shot])
        if record is None or record.asset_materialization is None or failed_checks_of(record.asset_materialization):
            continue
        note = f"{by}: {project}/{shot} is fresh (its output on disk is this build); its last run failed"
        events.append(_restate(key, shot, record, note))
        events += [_again(e, note) for e in _check_evaluations(instance, key, _origin_run(record)).values()]
        checks_again = True
    if checks_again:
        return events
    # A check's newest execution is the one the UI shows; when it did not pass and belongs to a shot that is
    # gone, or that is fresh, repeat the results of the newest fresh build instead.
    outdated = []
    for name in check_names:
        rec = instance.get_latest_asset_check_evaluation_record(dg.AssetCheckKey(key, name))
        evaluation = rec.evaluation if rec is not None else None  # AssetCheckEvaluationPlanned until it ran
        if rec is None or (isinstance(evaluation, dg.AssetCheckEvaluation) and evaluation.passed):
            continue
        finished, shot = _finished_run_partition(instance, rec.run_id)
        if not finished:  # still running: its result is coming
            continue
        shot = getattr(evaluation, "partition", None) or shot
        if shot not in shots or shot in fresh:
            outdated.append(name)
    if not outdated or not fresh:
        return events
    record = _latest_record(instance, key, fresh)
    if record is None or record.asset_materialization is None or failed_checks_of(record.asset_materialization):
        return events
    source = record.asset_materialization.partition
    note = f"{by}: the newest failure of this check was on a shot that is now fresh or deleted; these are {source}'s"
    events += [_again(e, note) for e in _check_evaluations(instance, key, _origin_run(record), outdated).values()]
    return events


def reconcile_shots(
    instance: dg.DagsterInstance, project: str, *, shots: Sequence[str], fresh: Sequence[str], by: str
) -> list[AssetEvent]:
    """``reconcile_shot_asset`` for a project's picture and audio (the shot-level assets with checks)."""
    events: list[AssetEvent] = []
    for asset, names in ((n.PICTURE, PICTURE_CHECKS), (n.AUDIO, AUDIO_CHECKS)):
        events += reconcile_shot_asset(instance, project, asset, names, shots=shots, fresh=fresh, by=by)
    return events
