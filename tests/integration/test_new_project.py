"""A project folder that appears while the deployment runs: once the code location has reloaded, the render
sensor and automation build all of it, shots and roll-ups, with no other step.

Ticks are driven the way the daemons drive them (sensor ticks, ``evaluate_automation_conditions`` with the
cursor carried over, the requested runs executed on the same instance), in both orders the two daemons can
take after a reload.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import dagster as dg
import pytest

from vidasm_assets.assets import names as n
from vidasm_assets.backfill import GraphQLError
from vidasm_assets.media.project import discover_projects
from vidasm_assets.media.watch import WatchCursor
from vidasm_assets.planner import plan_project
from vidasm_assets.sensors import renders

from ..support.helpers import QUIET, build_workspace
from ..support.sensor import TINY, Ticker, age, runs, through_to_delivery

pytestmark = [pytest.mark.media, pytest.mark.orchestration]
ROLLUPS = [n.TIMELINE, n.CUT, n.EDL, n.OTIO, n.delivery("web")]
SPEC = {"fps": 24, "resolution": "64x36"}


class Deployment(Ticker):
    """The render sensor plus the automation sensor, with every requested run executed in between."""

    def __init__(self, root: Path, instance: dg.DagsterInstance) -> None:
        super().__init__(root, instance)
        self.automation_cursor: str | None = None
        self.requested: Counter[str] = Counter()

    def run_sensor(self) -> dg.SensorResult:
        data = self.tick()
        for req in data.run_requests:
            result = self.defs.resolve_job_def(req.job_name).execute_in_process(
                instance=self.instance,
                partition_key=req.partition_key,
                asset_selection=list(req.asset_selection or []),
                tags=req.tags,
                run_config=QUIET,
            )
            assert result.success, req
        return data

    def run_automation(self) -> int:
        """One automation tick; what it requests is run (one run per project, as the daemon groups them)."""
        result = dg.evaluate_automation_conditions(
            defs=self.defs, instance=self.instance, cursor=self.automation_cursor
        )
        self.automation_cursor = result.cursor
        by_project: dict[str, list[dg.AssetKey]] = {}
        for key in self.defs.resolve_asset_graph().get_all_asset_keys():
            if result.get_num_requested(key):
                self.requested[key.to_user_string()] += 1
                by_project.setdefault(key.path[0], []).append(key)
        for project, keys in by_project.items():
            job = self.defs.resolve_job_def(n.assemble_job_name(project))
            assert job.execute_in_process(instance=self.instance, asset_selection=keys, run_config=QUIET).success
        return result.total_requested


@pytest.mark.parametrize("first", ["automation", "sensor"])
def test_new_project_is_built_end_to_end_after_a_reload(
    tmp_path: Path, make_project, instance: dg.DagsterInstance, first: str
) -> None:
    ws = tmp_path / "ws"
    make_project(ws, "alpha", {"sh010_v001.mp4": TINY}, SPEC)
    age(ws)
    assert all(o.success for o in build_workspace(instance, ws))
    dep = Deployment(ws, instance)
    dep.run_sensor()
    assert dep.run_automation() == 0  # everything built: nothing asked for

    make_project(ws, "gamma", {"g010_v001.mp4": TINY, "g020_v001.mp4": TINY}, SPEC)
    age(ws)
    assert runs(dep.run_sensor()) == set()  # not in this code location yet
    dep.run_automation()
    dep.reload()  # the code location reloads (see test_e2e_new_project for the real thing)
    if first == "automation":  # the automation daemon ticks before the sensor daemon does
        dep.run_automation()
    assert runs(dep.run_sensor()) == {
        ("gamma__shots", "g010", ("gamma/audio", "gamma/picture")),
        ("gamma__shots", "g020", ("gamma/audio", "gamma/picture")),
    }
    for _ in range(4):  # a few more ticks of both: the roll-ups follow, each once
        dep.run_automation()
        assert runs(dep.run_sensor()) == set()

    assert {k: v for k, v in dep.requested.items() if k.startswith("gamma/")} == {f"gamma/{a}": 1 for a in ROLLUPS}
    assert not [k for k in dep.requested if k.startswith("alpha/")]
    gamma = discover_projects(ws).projects["gamma"]
    assert gamma.delivery_path("web").is_file() and gamma.edl_path().is_file()
    plan = plan_project(instance, gamma, record=False)
    assert {it.label: it.state for it in plan.items} == {
        **{f"{a}[{s}]": "fresh" for a in (n.PICTURE, n.AUDIO) for s in ("g010", "g020")},
        **dict.fromkeys(ROLLUPS, "fresh"),
    }


@pytest.mark.parametrize("webserver", ["answers", "refuses", "unset"])
def test_sensor_asks_the_webserver_to_reload_once_per_new_project(
    tmp_path: Path, make_project, instance: dg.DagsterInstance, monkeypatch: pytest.MonkeyPatch, webserver: str
) -> None:
    """The webserver's reload itself is exercised for real in test_e2e_first_hour; here: when it is asked."""
    calls: list[tuple[str, str]] = []

    def reload(url: str, sensor_name: str) -> list[str]:
        calls.append((url, sensor_name))
        if webserver == "refuses":
            raise GraphQLError("reload of vidasm_assets.definitions refused: ReloadNotSupported")
        return ["vidasm_assets.definitions"]

    monkeypatch.setattr(renders, "reload_code_location", reload)
    ws = tmp_path / "ws"
    make_project(ws, "alpha", {"sh010_v001.mp4": TINY}, SPEC)
    age(ws)
    url = None if webserver == "unset" else "http://127.0.0.1:3999"
    t = Ticker(ws, instance, webserver_url=url)
    t.tick()
    assert calls == []  # nothing new
    make_project(ws, "gamma", {"g010_v001.mp4": TINY}, SPEC)
    make_project(ws, "delta", {"d010_v001.mp4": TINY}, SPEC)
    age(ws)
    data = t.tick()
    assert runs(data) == set()
    assert calls == ([] if url is None else [(url, "render_sensor")])  # one reload for both projects
    asked = WatchCursor.from_json(t.cursor).reloads
    assert sorted(asked) == ([] if url is None else ["delta", "gamma"])
    t.tick()
    assert len(calls) == (0 if url is None else 1)  # not again on every tick (RELOAD_RETRY_SECONDS)
    t.reload()  # what the webserver's reload does to the code location
    data = t.tick()
    assert runs(data) == {through_to_delivery("gamma", "g010"), through_to_delivery("delta", "d010")}
    assert WatchCursor.from_json(t.cursor).reloads == {}


def test_a_presets_edit_that_changes_the_assets_asks_for_a_reload_once(
    tmp_path: Path, make_project, instance: dg.DagsterInstance, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A workspace presets.json that gives web its own per-shot segments (crf 23: no longer the conform's settings)
    adds assets; until the code location reloads, automation's runs of the old ones fail. The sensor asks the
    webserver to reload, as for a new project: once (not on every tick), and not again once reloaded; taking the
    override away (web back to the cut's picture) asks again."""
    calls: list[str] = []
    monkeypatch.setattr(renders, "reload_code_location", lambda url, sensor: calls.append(url) or ["vidasm"])
    ws = tmp_path / "ws"
    make_project(ws, "alpha", {"sh010_v001.mp4": TINY}, SPEC)
    age(ws)
    t = Ticker(ws, instance, webserver_url="http://127.0.0.1:3999")
    t.tick()
    assert calls == []
    web = {"container": "mp4", "video": {"codec": "libx264", "crf": 23}, "audio": {"codec": "aac"}}
    (ws / "presets.json").write_text(json.dumps({"web": web}))
    age(ws)
    t.tick()
    assert calls == ["http://127.0.0.1:3999"]
    t.tick()
    assert len(calls) == 1  # not again on every tick (RELOAD_RETRY_SECONDS)
    t.reload()
    assert n.key("alpha", n.segments("web")) in t.defs.resolve_asset_graph().get_all_asset_keys()
    t.tick()
    assert len(calls) == 1 and WatchCursor.from_json(t.cursor).reloads == {}
    (ws / "presets.json").unlink()
    age(ws)
    t.tick()
    assert len(calls) == 2
