"""The code location loads for Dagster's own tools, and the CLI works end to end on a real instance."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest

from vidasm_assets.assets import names as n
from vidasm_assets.definitions import build_definitions
from vidasm_assets.media.demo import RenderSpec

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def _env(tmp_path: Path, ws: Path) -> dict[str, str]:
    (tmp_path / "home").mkdir(exist_ok=True)
    return {**os.environ, "VIDASM_WORKSPACE": str(ws), "DAGSTER_HOME": str(tmp_path / "home")}


@pytest.mark.parametrize("name", ["dagster.yaml", "dagster.postgres.yaml"])
def test_packaged_instance_config_matches_repo_copy(name: str) -> None:
    packaged = REPO / "vidasm_assets" / "instance" / name
    assert packaged.read_text() == (REPO / name).read_text()


def test_definitions_shape(tmp_path: Path, make_project) -> None:
    make_project(tmp_path, "p-1", {"s1_v001.mp4": RenderSpec(64, 36, "24", 0.5, -20)},
                 {"fps": 24, "resolution": "64x36", "exports": ["web", "review"]})  # fmt: skip
    defs = build_definitions(tmp_path)
    graph = defs.resolve_asset_graph()
    keys = {k.to_user_string() for k in graph.get_all_asset_keys()}
    assert keys >= {"p-1/render", "p-1/picture", "p-1/audio", "p-1/timeline", "p-1/cut", "p-1/edl",
                    "p-1/delivery_web", "p-1/delivery_review"}  # fmt: skip
    pic = graph.get(n.key("p-1", n.PICTURE))
    assert isinstance(pic.partitions_def, dg.DynamicPartitionsDefinition)
    assert pic.partitions_def.name == "p_1__shots"
    assert pic.kinds == {"ffmpeg"} and pic.code_version
    cut = graph.get(n.key("p-1", n.CUT))
    assert cut.partitions_def is None
    for key in graph.get_all_asset_keys():
        assert graph.get(key).description, key
    defs.resolve_job_def("p_1__shots")
    defs.resolve_job_def("p_1__assemble")
    # every step that runs FFmpeg is in the ffmpeg pool, whose size dagster.yaml limits
    for key in graph.get_all_asset_keys():
        node = graph.get(key)
        if "ffmpeg" in node.kinds:
            assert defs.resolve_assets_def(key).op.pool == n.FFMPEG_POOL, key
    assert "default_limit:" in (REPO / "dagster.yaml").read_text()


STAGES = {
    "render": n.SOURCES_STAGE, "picture_spec": n.SOURCES_STAGE, "audio_spec": n.SOURCES_STAGE,
    "edit_spec": n.SOURCES_STAGE, "preset_web": n.SOURCES_STAGE, "preset_review": n.SOURCES_STAGE,
    "picture": n.SHOTS_STAGE, "audio": n.SHOTS_STAGE, "timeline": n.EDITORIAL_STAGE, "edl": n.EDITORIAL_STAGE,
    "otio": n.EDITORIAL_STAGE, "cut": n.ASSEMBLY_STAGE, "segments_review": n.DELIVERY_STAGE,
    "delivery_web": n.DELIVERY_STAGE, "delivery_review": n.DELIVERY_STAGE,
}  # fmt: skip


def test_one_group_per_project_stages_as_tags(tmp_path: Path, make_project) -> None:
    """The lineage view of a group is one project's whole pipeline; the stage of each asset is its tag."""
    spec = {"fps": 24, "resolution": "64x36", "exports": ["web", "review"]}
    for name in ("p-1", "other"):
        make_project(tmp_path, name, {"s1_v001.mp4": RenderSpec(64, 36, "24", 0.5, -20)}, spec)
    defs = build_definitions(tmp_path)
    graph = defs.resolve_asset_graph()
    for key in graph.get_all_asset_keys():
        project, asset = key.path
        node = graph.get(key)
        assert node.group_name == {"p-1": "p_1", "other": "other"}[project], key
        assert node.tags.get(n.STAGE_TAG) == STAGES[asset], key
    p1 = {k for k in graph.get_all_asset_keys() if k.path[0] == "p-1"}
    assert dg.AssetSelection.groups("p_1", include_sources=True).resolve(graph) == p1
    assert len(p1) == len(STAGES)
    shots = dg.AssetSelection.tag(n.STAGE_TAG, n.SHOTS_STAGE).resolve(graph)
    assert {k.to_user_string() for k in shots} == {"p-1/picture", "p-1/audio", "other/picture", "other/audio"}


def test_dagster_definitions_validate(tmp_path: Path, make_project) -> None:
    ws = tmp_path / "ws"
    make_project(ws, "demo", {"s1_v001.mp4": RenderSpec(64, 36, "24", 0.5, -20)}, {"fps": 24, "resolution": "64x36"})
    out = subprocess.run(
        [str(BIN / "dagster"), "definitions", "validate", "-m", "vidasm_assets.definitions"],
        env=_env(tmp_path, ws), capture_output=True, text=True, timeout=300, cwd=tmp_path,
    )  # fmt: skip
    assert out.returncode == 0, out.stdout + out.stderr
    assert "Validation successful" in out.stdout + out.stderr
    # dg, from the project's pyproject [tool.dg]: the same definitions, by the project's own code location
    env = {**_env(tmp_path, ws), "VIRTUAL_ENV": str(BIN.parent)}
    dg_out = subprocess.run([str(BIN / "dg"), "check", "defs"], env=env, capture_output=True, text=True, timeout=300,
                            cwd=REPO)  # fmt: skip
    assert dg_out.returncode == 0, dg_out.stdout + dg_out.stderr
    assert "All definitions loaded successfully" in dg_out.stdout + dg_out.stderr
    listed = subprocess.run([str(BIN / "dg"), "list", "defs", "--json"], env=env, capture_output=True, text=True,
                            timeout=300, cwd=REPO)  # fmt: skip
    assert listed.returncode == 0 and "demo/picture" in listed.stdout, listed.stdout + listed.stderr


@pytest.mark.media
def test_cli_build_status_and_failure_summary(tmp_path: Path, make_project) -> None:
    ws = tmp_path / "ws"
    make_project(ws, "good", {"s1_v001.mp4": RenderSpec(64, 36, "24", 0.5, -20)}, {"fps": 24, "resolution": "64x36"})
    bad = make_project(ws, "bad", {"b1_v001.mp4": RenderSpec(64, 36, "24", 0.5, -20)},
                       {"fps": 24, "resolution": "64x36"})  # fmt: skip
    (bad / "03_Renders" / "b1" / "b1_v002.mp4").write_text("not a video")
    env = _env(tmp_path, ws)
    vidasm = str(BIN / "vidasm")
    out = subprocess.run([vidasm, "build"], env=env, capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert out.returncode == 1, out.stdout + out.stderr
    assert "2 failed" in out.stderr and "b1_v002.mp4" in out.stderr and "not assembled" in out.stderr
    assert (ws / "good" / "06_Exports" / "good_web.mp4").is_file()
    assert (tmp_path / "home" / "dagster.yaml").is_file()
    # the history is in the persistent instance a later `dagster dev` would open
    with dg.DagsterInstance.from_config(str(tmp_path / "home")) as inst:
        runs = inst.get_runs()
        assert {r.job_name for r in runs} >= {"good__shots", "good__assemble", "bad__shots"}
        assert inst.get_dynamic_partitions("good__shots") == ["s1"]
    (bad / "03_Renders" / "b1" / "b1_v002.mp4").unlink()
    st = subprocess.run([vidasm, "status"], env=env, capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert "failed" in st.stdout and "fresh" in st.stdout
    # one project, as `vidasm build` takes them (piped: one tab-separated line per asset)
    one = subprocess.run([vidasm, "status", "good"], env=env, capture_output=True, text=True, timeout=300, cwd=tmp_path)
    lines = [ln.split("\t") for ln in one.stdout.splitlines() if "\t" in ln]
    assert one.returncode == 0 and lines and {ln[0] for ln in lines} == {"good"}, one.stdout + one.stderr
    nope = subprocess.run(
        [vidasm, "status", "nope"], env=env, capture_output=True, text=True, timeout=300, cwd=tmp_path
    )
    assert nope.returncode == 2 and "no project 'nope'" in nope.stdout + nope.stderr, nope.stdout + nope.stderr
    # status "changes nothing": pointed at a home with no instance (run from elsewhere), it makes none there and says
    # so, instead of a new empty instance whose report calls every built asset "never built"
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    lost = subprocess.run([vidasm, "status"], env={**env, "DAGSTER_HOME": str(elsewhere / ".dagster_home")},
                          capture_output=True, text=True, timeout=300, cwd=elsewhere)  # fmt: skip
    assert f"no Dagster instance at {elsewhere / '.dagster_home'}" in lost.stdout + lost.stderr, lost.stdout
    assert list(elsewhere.iterdir()) == []
    ok = subprocess.run([vidasm, "build", "bad"], env=env, capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert (ws / "bad" / "06_Exports" / "bad_web.mp4").is_file()
    # --all rebuilds everything of a project even when fresh, as runs in the same instance
    with dg.DagsterInstance.from_config(str(tmp_path / "home")) as inst:
        before = len(inst.get_runs())
    again = subprocess.run([vidasm, "build", "--all", "good"], env=env, capture_output=True, text=True, timeout=300,
                           cwd=tmp_path)  # fmt: skip
    assert again.returncode == 0, again.stdout + again.stderr
    with dg.DagsterInstance.from_config(str(tmp_path / "home")) as inst:
        new_runs = inst.get_runs()[: len(inst.get_runs()) - before]
        assert sorted(r.job_name for r in new_runs) == ["good__assemble", "good__shots"]
        cfg = (tmp_path / "home" / "dagster.yaml").read_text()
        assert f"default_limit: {os.cpu_count()}" in cfg


def test_vidasm_ui_started_as_a_background_job_stops_on_sigterm(tmp_path: Path) -> None:
    """A script's background job (`vidasm ui &`), a service wrapper: SIGINT is ignored from the start. Dagster maps
    SIGTERM to SIGINT's disposition, so `dagster dev` ignored SIGTERM too and only SIGKILL stopped it (nothing
    ever left); SIGTERM to the group now stops every process of it. Within 90 s: the webserver may restart its
    code server when the group's SIGTERM reaches that first (Dagster's proxy server manager, seen under load),
    and the new one leaves at its heartbeat timeout (45 s). The test stops the group by SIGKILL if it does not."""
    import signal
    import time

    from tests.support.dagster_dev import _free_port, wait_for_webserver

    ws = tmp_path / "ws"
    ws.mkdir()
    port = _free_port()
    log = tmp_path / "ui.log"

    def as_background_job() -> None:  # what a non-interactive shell does to `cmd &`
        signal.signal(signal.SIGINT, signal.SIG_IGN)

    with open(log, "wb") as out:
        proc = subprocess.Popen([str(BIN / "vidasm"), "ui", "--port", str(port)], env=_env(tmp_path, ws),
                                cwd=tmp_path, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                start_new_session=True, preexec_fn=as_background_job)  # fmt: skip
    try:
        wait_for_webserver(f"http://127.0.0.1:{port}", proc, log, "vidasm ui")
        os.killpg(proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + 90
        left = True
        while left and time.monotonic() < deadline:
            time.sleep(0.5)
            proc.poll()  # reap vidasm ui itself (our child): a zombie is still in the group for pgrep
            left = subprocess.run(["pgrep", "-g", str(proc.pid)], capture_output=True).returncode == 0
        assert not left, "processes of the group still running 90 s after SIGTERM:\n" + log.read_text()[-2000:]
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
