"""The Prometheus collector on a real instance: bounded reads per scrape that catch up with the event log, and
restated materializations (no work done) not counted again."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import pytest

from vidasm_assets.assets import names as n
from vidasm_assets.assets.restate import RESTATED_KEY
from vidasm_assets.media.demo import RenderSpec
from vidasm_assets.metrics import InstanceCollector

from ..support.helpers import build_workspace

pytestmark = pytest.mark.media

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def samples(collector: InstanceCollector) -> Samples:
    return {(s.name, tuple(sorted(s.labels.items()))): s.value for m in collector.collect() for s in m.samples}


def totals(got: Samples) -> Samples:
    return {k: v for k, v in got.items() if k[0] != "vidasm_metrics_catching_up"}


def test_bounded_scrapes_catch_up_and_restated_builds_count_once(
    tmp_path: Path, make_project, instance: dg.DagsterInstance
) -> None:
    make_project(tmp_path, "p", {f"s{i}_v001.mp4": RenderSpec(64, 36, "24", 0.5, -20) for i in (1, 2)},
                 {"fps": 24, "resolution": "64x36"})  # fmt: skip
    assert all(o.success for o in build_workspace(instance, tmp_path))
    everything = samples(InstanceCollector(instance))
    assert everything[("vidasm_metrics_catching_up", ())] == 0
    built = sum(v for (name, _), v in everything.items() if name == "vidasm_materializations_total")
    assert built == 2 + 2 + 5  # pictures, audios; timeline, cut, EDL, OTIO, web

    slow = InstanceCollector(instance, budget=9 + 3, page=2)  # the newest of each key (9 records), then 3 more
    first = samples(slow)
    assert first[("vidasm_metrics_catching_up", ())] == 1
    assert sum(v for (name, _), v in first.items() if name == "vidasm_materializations_total") == 3
    for key, v in everything.items():  # the newest ratio of every kind is right from the first scrape
        if key[0] == "vidasm_last_processing_ratio":
            assert first[key] == v
    for _ in range(10):
        got = samples(slow)
        if got[("vidasm_metrics_catching_up", ())] == 0:
            break
    assert totals(got) == totals(everything)

    # vidasm's restatement of a good build (assets/restate.py) repeats its metadata: no work, not counted again
    key = n.key("p", n.PICTURE)
    mat = instance.fetch_materializations(dg.AssetRecordsFilter(key, asset_partitions=["s1"]), limit=1).records[0]
    repeat = mat.asset_materialization
    assert repeat is not None
    instance.report_runless_asset_event(
        dg.AssetMaterialization(key, partition="s1", tags=repeat.tags,
                                metadata={**repeat.metadata, RESTATED_KEY: "the pin was reverted"})
    )  # fmt: skip
    assert totals(samples(slow)) == totals(everything)
    assert totals(samples(InstanceCollector(instance))) == totals(everything)
