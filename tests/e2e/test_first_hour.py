"""The first hour under a real `dagster dev` (webserver + daemon, SQLite DAGSTER_HOME in tmp), read through the
webserver's GraphQL API the way the UI reads it.

1. A new project folder appears while it runs: with ``VIDASM_WEBSERVER_URL`` set (what ``vidasm ui`` does)
   nobody does anything, and the project's shots, timeline, cut, EDL, OTIO and delivery are built, each once.
2. A broken version of one of its shots is dropped in (its run fails), then deleted: the shot is fresh again
   with its earlier outputs, and the UI says so (partition status and each check's latest execution; asset
   health is not served by an OSS SQLite instance).

The dagster dev process group is killed at the end, even on failure.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from vidasm_assets.backfill import graphql
from vidasm_assets.media.demo import RenderSpec, make_render, write_project

from ..support.dagster_dev import _free_port, active_runs, dagster_dev, failed_runs

pytestmark = [pytest.mark.media, pytest.mark.orchestration]
TINY = RenderSpec(64, 36, "24", 0.5, -20)
ROLLUPS = ["timeline", "cut", "edl", "otio", "delivery_web"]
SPEC = {"fps": 24, "resolution": "64x36"}

MATERIALIZATIONS = """
query Mats($path: [String!]!) { assetOrError(assetKey: {path: $path}) { __typename
  ... on Asset { assetMaterializations(limit: 1000) { partition runId } } } }
"""
UI_STATE = """
query State($path: [String!]!) {
  assetNodeOrError(assetKey: {path: $path}) { __typename ... on AssetNode {
    assetPartitionStatuses { __typename ... on DefaultPartitionStatuses { materializedPartitions failedPartitions } }
    assetChecksOrError { __typename ... on AssetChecks { checks { name
      executionForLatestMaterialization { status runId } } } } } }
}
"""
FAILED_SHOT_RUNS = """
query { runsOrError(filter: {statuses: [FAILURE], tags: [{key: "vidasm/project", value: "gamma"}]}) { __typename
  ... on Runs { results { runId tags { key value } } } } }
"""


def materializations(url: str, project: str, asset: str) -> list[str | None]:
    data = graphql(url, MATERIALIZATIONS, {"path": [project, asset]})["assetOrError"]
    return [m["partition"] for m in data["assetMaterializations"]] if data["__typename"] == "Asset" else []


def ui_state(url: str, project: str, asset: str) -> dict:
    data = graphql(url, UI_STATE, {"path": [project, asset]})
    node = data["assetNodeOrError"]
    parts = node["assetPartitionStatuses"]
    checks = {c["name"]: c["executionForLatestMaterialization"] for c in node["assetChecksOrError"]["checks"]}
    return {
        "materialized": sorted(parts["materializedPartitions"]),
        "failed": sorted(parts["failedPartitions"]),
        "checks": {name: (ex or {}).get("status") for name, ex in checks.items()},
    }


def wait_for(predicate, timeout: float, what: str, url: str, log: Path) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(
                f"timed out waiting for {what}; failed runs:\n" + "\n".join(failed_runs(url)) + log.read_text()[-4000:]
            )
        time.sleep(2)


def test_first_hour_under_dagster_dev(tmp_path: Path, ffmpeg: str) -> None:
    ws = tmp_path / "ws"
    old = time.time() - 600
    alpha = write_project(ws, "alpha", SPEC)
    os.utime(make_render(ffmpeg, alpha / "03_Renders" / "sh010" / "sh010_v001.mp4", TINY), (old, old))
    home = tmp_path / "home"
    home.mkdir()
    packaged = Path(__file__).resolve().parents[2] / "vidasm_assets" / "instance" / "dagster.yaml"
    (home / "dagster.yaml").write_text(packaged.read_text())
    port = _free_port()
    env = {
        **os.environ,
        "DAGSTER_HOME": str(home),
        "VIDASM_WORKSPACE": str(ws),
        "VIDASM_SENSOR_INTERVAL": "2",
        "VIDASM_SETTLE_SECONDS": "1",
        "VIDASM_WEBSERVER_URL": f"http://127.0.0.1:{port}",
        "FFMPEG_PATH": ffmpeg,
        "DAGSTER_DISABLE_TELEMETRY": "1",
    }
    log = tmp_path / "dagster_dev.log"
    with dagster_dev(env, tmp_path, port, log) as url:
        wait_for(
            lambda: bool(materializations(url, "alpha", "delivery_web")) and not active_runs(url),
            300, "alpha's first build", url, log,
        )  # fmt: skip

        # 1. a new project folder, and nothing else
        staging = tmp_path / "incoming"
        gamma = write_project(staging, "gamma", SPEC)
        for shot in ("g010", "g020"):
            os.utime(make_render(ffmpeg, gamma / "03_Renders" / shot / f"{shot}_v001.mp4", TINY), (old, old))
        gamma = gamma.rename(ws / "gamma")  # appears at once, as a copy into the share would end
        wait_for(
            lambda: bool(materializations(url, "gamma", "delivery_web")) and not active_runs(url),
            300, "gamma's delivery", url, log,
        )  # fmt: skip
        time.sleep(8)  # a few more sensor and automation ticks: nothing else may start
        assert not active_runs(url)
        assert (gamma / "06_Exports" / "gamma_web.mp4").is_file()
        assert (gamma / "04_Project_Files" / "assemblies" / "gamma.edl").is_file()
        assert {a: materializations(url, "gamma", a) for a in ROLLUPS} == {a: [None] for a in ROLLUPS}
        for asset in ("picture", "audio"):
            assert sorted(materializations(url, "gamma", asset)) == ["g010", "g020"]

        # 2. a broken version of g020, then deleted
        broken = gamma / "03_Renders" / "g020" / "g020_v002.mp4"
        broken.write_bytes(b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 4000)
        os.utime(broken, (old, old))

        def g020_failed() -> bool:
            runs = graphql(url, FAILED_SHOT_RUNS)["runsOrError"]["results"]
            tags = [{t["key"]: t["value"] for t in r["tags"]} for r in runs]
            return any(t.get("dagster/partition") == "g020" for t in tags) and not active_runs(url)

        wait_for(g020_failed, 180, "the failed run of g020", url, log)
        before = ui_state(url, "gamma", "picture")
        assert before["failed"] == ["g020"]
        assert set(before["checks"].values()) == {"EXECUTION_FAILED"}

        broken.unlink()

        def ui_agrees() -> bool:
            states = [ui_state(url, "gamma", a) for a in ("picture", "audio")]
            return not active_runs(url) and all(
                s["failed"] == []
                and s["materialized"] == ["g010", "g020"]
                and set(s["checks"].values()) == {"SUCCEEDED"}
                for s in states
            )

        wait_for(ui_agrees, 180, "the UI to show g020 fresh", url, log)
