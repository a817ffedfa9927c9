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
