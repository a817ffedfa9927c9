"""The real thing: `dagster dev` (webserver + daemon) on PostgreSQL, driven through the GraphQL API.

A new version of one shot lands in 03_Renders; the sensor, the shot run and automation must rebuild exactly
that shot's partitions and its project's roll-ups, and nothing in the other project. Then a backfill across
both projects completes. The dagster dev process group is killed at the end, even on failure.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from vidasm_assets.backfill import graphql, launch_backfill, wait_for_backfill
from vidasm_assets.media.demo import RenderSpec, make_render, write_project

from ..support.dagster_dev import _free_port, active_runs, dagster_dev, failed_runs
from ..support.postgres import fresh_database

pytestmark = [pytest.mark.media, pytest.mark.postgres, pytest.mark.orchestration]

TINY = RenderSpec(64, 36, "24", 0.5, -20)
PROJECTS = {"alpha": ["sh010", "sh020"], "beta": ["b010", "b020"]}
ROLLUPS = ["timeline", "cut", "edl", "otio", "delivery_web"]

MATERIALIZATIONS = """
query Mats($path: [String!]!) {
  assetOrError(assetKey: {path: $path}) {
    __typename
    ... on Asset { assetMaterializations(limit: 1000) { partition timestamp runId } }
  }
}
"""


@pytest.fixture
def database() -> Iterator[str]:
    with fresh_database() as url:
        yield url


def materialized(url: str, since_ms: float = 0) -> set[str]:
    out = set()
    for project in PROJECTS:
        for asset in ["picture", "audio", *ROLLUPS]:
            data = graphql(url, MATERIALIZATIONS, {"path": [project, asset]})["assetOrError"]
            if data["__typename"] != "Asset":
                continue
            for m in data["assetMaterializations"]:
                if float(m["timestamp"]) > since_ms:
                    out.add(f"{project}/{asset}[{m['partition']}]" if m["partition"] else f"{project}/{asset}")
    return out


def wait_until(predicate, timeout: float, what: str, url: str, log: Path) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            failed = "\n".join(failed_runs(url))
            raise AssertionError(f"timed out waiting for {what}; failed runs:\n{failed}\n{log.read_text()[-3000:]}")
        time.sleep(2)


def everything() -> set[str]:
    out = set()
    for project, shots in PROJECTS.items():
        out |= {f"{project}/{a}[{s}]" for s in shots for a in ("picture", "audio")}
        out |= {f"{project}/{a}" for a in ROLLUPS}
    return out


def settled_and(url: str, want: set[str], since_ms: float = 0):
    return lambda: want <= materialized(url, since_ms) and not active_runs(url)


def test_dagster_dev_on_postgres_rebuilds_exactly_and_backfills(tmp_path: Path, database: str, ffmpeg: str) -> None:
    ws = tmp_path / "ws"
    old = time.time() - 600
    for project, shots in PROJECTS.items():
        folder = write_project(ws, project, {"fps": 24, "resolution": "64x36"})
        for shot in shots:
            path = make_render(ffmpeg, folder / "03_Renders" / shot / f"{shot}_v001.mp4", TINY)
            os.utime(path, (old, old))
    home = tmp_path / "home"
    home.mkdir()
    packaged = Path(__file__).resolve().parents[2] / "vidasm_assets" / "instance" / "dagster.postgres.yaml"
    (home / "dagster.yaml").write_text(packaged.read_text())
    env = {
        **os.environ,
        "DAGSTER_HOME": str(home),
        "VIDASM_PG_URL": database,
        "VIDASM_WORKSPACE": str(ws),
        "VIDASM_SENSOR_INTERVAL": "5",
        "VIDASM_SETTLE_SECONDS": "2",
        "FFMPEG_PATH": ffmpeg,
        "DAGSTER_DISABLE_TELEMETRY": "1",
    }
    log = tmp_path / "dagster_dev.log"
    with dagster_dev(env, tmp_path, _free_port(), log) as url:
        # the sensor finds every shot and automation assembles both projects
        wait_until(settled_and(url, everything()), 420, "the first build", url, log)
        time.sleep(12)  # two more sensor/automation intervals: nothing else may start
        assert not active_runs(url)
        mark = time.time() * 1000

        new = make_render(
            ffmpeg, ws / "alpha" / "03_Renders" / "sh020" / "sh020_v002.mp4", RenderSpec(64, 36, "24", 1, -9)
        )
        os.utime(new, (time.time() - 5, time.time() - 5))
        expected = {"alpha/picture[sh020]", "alpha/audio[sh020]", *(f"alpha/{a}" for a in ROLLUPS)}
        wait_until(settled_and(url, expected, mark), 300, "the rebuild of alpha/sh020", url, log)
        time.sleep(12)
        assert not active_runs(url)
        assert materialized(url, mark) == expected

        # a backfill across both projects (what a preset change calls for) completes
        mark = time.time() * 1000
        backfill_id = launch_backfill(url)
        assert wait_for_backfill(url, backfill_id, timeout=420) in ("COMPLETED", "COMPLETED_SUCCESS")
        assert everything() <= materialized(url, mark)
