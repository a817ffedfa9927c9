"""After a fix that needs no rebuild, what the UI reads from the instance agrees with `vidasm status`.

A shot's run fails (a bad pinned take, a broken version dropped in), then the cause is undone (pin reverted,
version deleted): the shot is fresh again with its earlier outputs. Read back what the UI shows: the partition
status (``get_status_by_partition``, the UI's partition bar and asset health), the latest materialization per
partition, and each check's newest execution (the UI's check status).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import dagster as dg
import pytest

from vidasm_assets.assets import names as n
from vidasm_assets.assets.records import DATA_VERSION_TAG, latest_materialization
from vidasm_assets.assets.restate import RESTATED_KEY
from vidasm_assets.media.checks import AUDIO_CHECKS, PICTURE_CHECKS
from vidasm_assets.media.project import discover_projects
from vidasm_assets.planner import plan_project

from ..support.helpers import QUIET, build_workspace
from ..support.sensor import TINY, Ticker, age, runs, through_to_delivery

pytestmark = [pytest.mark.media, pytest.mark.orchestration]
SHOT_ASSETS = {n.PICTURE: PICTURE_CHECKS, n.AUDIO: AUDIO_CHECKS}
FAILED = dg.AssetPartitionStatus.FAILED
MATERIALIZED = dg.AssetPartitionStatus.MATERIALIZED


def partition_status(instance: dg.DagsterInstance, project: str, asset: str) -> dict[str, object]:
    shots = instance.get_dynamic_partitions(n.shots_partitions_name(project))
    pd = dg.DynamicPartitionsDefinition(name=n.shots_partitions_name(project))
    return dict(instance.get_status_by_partition(n.key(project, asset), shots, pd) or {})


def check_states(instance: dg.DagsterInstance, project: str) -> dict[str, str]:
    """Each check's newest execution as the UI resolves it: passed / failed / not evaluated (its run failed)."""
    out = {}
    for asset, checks in SHOT_ASSETS.items():
        for name in checks:
            rec = instance.get_latest_asset_check_evaluation_record(dg.AssetCheckKey(n.key(project, asset), name))
            assert rec is not None
            ev = rec.evaluation
            if not isinstance(ev, dg.AssetCheckEvaluation):  # planned in a run that failed before evaluating it
                out[f"{asset}:{name}"] = "not evaluated"
            else:
                out[f"{asset}:{name}"] = "passed" if ev.passed else "failed"
    return out


def all_checks(state: str) -> dict[str, str]:
    return {f"{a}:{c}": state for a, checks in SHOT_ASSETS.items() for c in checks}


def run_requested(t: Ticker, data: dg.SensorResult) -> list[bool]:
    """Execute what the sensor asked for, as the daemon would; returns each run's success."""
    out = []
    for req in data.run_requests:
        result = t.defs.resolve_job_def(req.job_name).execute_in_process(
            instance=t.instance,
            partition_key=req.partition_key,
            asset_selection=list(req.asset_selection or []),
            run_config=QUIET,
            raise_on_error=False,
        )
        out.append(result.success)
    return out


def set_sequence(folder: Path, sequence: list[dict]) -> None:
    pj = folder / "project.json"
    spec = json.loads(pj.read_text())
    spec["sequence"] = sequence
    pj.write_text(json.dumps(spec))


@pytest.fixture
def built(tmp_path: Path, make_project, instance: dg.DagsterInstance) -> Path:
    ws = tmp_path / "ws"
    folder = make_project(
        ws, "alpha", {"sh010_v001.mp4": TINY, "sh020_v001.mp4": TINY}, {"fps": 24, "resolution": "64x36"}
    )
    set_sequence(folder, [{"shot": "sh010"}, {"shot": "sh020", "take": "v001"}])
    age(ws)
    assert all(o.success for o in build_workspace(instance, ws))
    return ws


def break_then_fix(ws: Path, example: str) -> tuple[callable, callable]:
    folder = ws / "alpha"
    broken = folder / "03_Renders" / "sh020" / "sh020_v003.mp4"

    def cause() -> None:
        broken.write_bytes(b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 4000)  # not media: the shot run fails
        age(broken)
        if example == "bad pin":
            set_sequence(folder, [{"shot": "sh010"}, {"shot": "sh020", "take": "v003"}])
        else:  # a new version is the one used once nothing pins v001
            set_sequence(folder, [{"shot": "sh010"}, {"shot": "sh020"}])

    def fix() -> None:
        if example == "bad pin":
            set_sequence(folder, [{"shot": "sh010"}, {"shot": "sh020", "take": "v001"}])
        else:
            broken.unlink()

    return cause, fix


@pytest.mark.parametrize("example", ["bad pin", "broken version"])
def test_sensor_makes_the_ui_agree_after_a_fix(built: Path, instance: dg.DagsterInstance, example: str) -> None:
    t = Ticker(built, instance)
    assert runs(t.tick()) == set()
    good = {a: latest_materialization(instance, n.key("alpha", a), "sh020") for a in SHOT_ASSETS}
    cause, fix = break_then_fix(built, example)
    if example == "broken version":
        set_sequence(built / "alpha", [{"shot": "sh010"}, {"shot": "sh020"}])  # v001 is the newest: no change yet
        assert runs(t.tick()) == set()
    auto = dg.evaluate_automation_conditions(defs=t.defs, instance=instance).cursor
    cause()
    data = t.tick()
    assert runs(data) == {through_to_delivery("alpha", "sh020")}
    assert run_requested(t, data) == [False]
    for a in SHOT_ASSETS:  # what the UI showed before this fix
        assert partition_status(instance, "alpha", a) == {"sh010": MATERIALIZED, "sh020": FAILED}
    assert check_states(instance, "alpha") == all_checks("not evaluated")

    fix()
    data = t.tick()
    assert runs(data) == set()  # nothing to rebuild: the earlier outputs are the right ones
    restated = [e for e in data.asset_events if isinstance(e, dg.AssetMaterialization)]
    assert sorted((e.asset_key.to_user_string(), e.partition) for e in restated) == [
        ("alpha/audio", "sh020"),
        ("alpha/picture", "sh020"),
    ]
    for a in SHOT_ASSETS:
        assert partition_status(instance, "alpha", a) == {"sh010": MATERIALIZED, "sh020": MATERIALIZED}
        mat = latest_materialization(instance, n.key("alpha", a), "sh020")
        assert mat is not None and good[a] is not None
        assert mat.tags[DATA_VERSION_TAG] == good[a].tags[DATA_VERSION_TAG]
        assert RESTATED_KEY in mat.metadata and mat.metadata["path"] == good[a].metadata["path"]
    assert check_states(instance, "alpha") == all_checks("passed")
    plan = plan_project(instance, discover_projects(built).projects["alpha"], record=False)
    assert {it.state for it in plan.items} == {"fresh"}
    # said once: the next tick has nothing to say
    again = t.tick()
    assert runs(again) == set() and not again.asset_events
    # and automation has nothing to do either (README "nothing runs"): the restated builds are no new data, so
    # the roll-ups built from them are not asked for again (they were: the cut and the delivery)
    result = dg.evaluate_automation_conditions(defs=t.defs, instance=instance, cursor=auto)
    asked = {
        k.to_user_string() for k in t.defs.resolve_asset_graph().get_all_asset_keys() if result.get_num_requested(k)
    }
    assert asked == set()


def test_vidasm_build_makes_the_ui_agree_after_a_broken_version_is_deleted(
    built: Path, instance: dg.DagsterInstance
) -> None:
    """The same through the CLI's planner (`vidasm build` / `vidasm status`), no sensor involved."""
    cause, fix = break_then_fix(built, "broken version")
    cause()
    outcomes = build_workspace(instance, built)
    assert [o.success for o in outcomes] == [False, False]  # the shot, then "not assembled"
    assert partition_status(instance, "alpha", n.PICTURE)["sh020"] == FAILED
    fix()
    assert build_workspace(instance, built) == []  # nothing to build
    for a in SHOT_ASSETS:
        assert partition_status(instance, "alpha", a) == {"sh010": MATERIALIZED, "sh020": MATERIALIZED}
    assert check_states(instance, "alpha") == all_checks("passed")


def test_shot_folder_deleted_after_a_failure(built: Path, instance: dg.DagsterInstance) -> None:
    """Its partition goes (also when the sensor never saw the shot), and the checks' newest execution is no
    longer the deleted shot's failed run."""
    cause, _ = break_then_fix(built, "broken version")
    cause()
    assert [o.success for o in build_workspace(instance, built)] == [False, False]
    assert check_states(instance, "alpha") == all_checks("not evaluated")
    pj = built / "alpha" / "project.json"
    pj.write_text(json.dumps({k: v for k, v in json.loads(pj.read_text()).items() if k != "sequence"}))
    shutil.rmtree(built / "alpha" / "03_Renders" / "sh020")  # no sequence: the shots are the folders
    data = Ticker(built, instance).tick()  # a sensor with no cursor yet: the first tick after a restart
    assert ("alpha__assemble", None) in {(r[0], r[1]) for r in runs(data)}
    assert instance.get_dynamic_partitions("alpha__shots") == ["sh010"]
    assert check_states(instance, "alpha") == all_checks("passed")
    assert partition_status(instance, "alpha", n.PICTURE) == {"sh010": MATERIALIZED}
