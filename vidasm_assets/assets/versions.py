"""Reading what the Dagster instance recorded: the make-side of staleness."""

from __future__ import annotations

import dagster as dg

DATA_VERSION_TAG = "dagster/data_version"


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


def recorded_observation(instance: dg.DagsterInstance, key: dg.AssetKey, partition: str | None = None) -> str | None:
    records = instance.fetch_observations(
        dg.AssetRecordsFilter(asset_key=key, asset_partitions=[partition] if partition else None), limit=1
    ).records
    if not records:
        return None
    obs = records[0].event_log_entry.asset_observation
    return (obs.tags or {}).get(DATA_VERSION_TAG) if obs else None
