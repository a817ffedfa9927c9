"""A build or a sensor tick that has nothing to do writes nothing in the workspace, and a change in one project
writes nothing in another: every path's inode, mtime and size are compared before and after."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import pytest

from vidasm_assets.media.demo import RenderSpec, make_render

from ..support.helpers import build_workspace
from ..support.sensor import TINY, Ticker, age, runs

pytestmark = [pytest.mark.media, pytest.mark.orchestration]
SPEC = {"fps": 24, "resolution": "64x36"}


def snapshot(root: Path) -> dict[str, tuple[int, int, int]]:
    """Every file and folder under ``root``: (inode, mtime_ns, size). A folder's mtime moves when anything is
    created, renamed or deleted in it, so even a temporary file shows."""
    out = {}
    for p in sorted([root, *root.rglob("*")]):
        st = p.lstat()
        out[str(p.relative_to(root))] = (st.st_ino, st.st_mtime_ns, st.st_size)
    return out


def changed(before: dict, after: dict) -> list[str]:
    return sorted(k for k in before.keys() | after.keys() if before.get(k) != after.get(k))


@pytest.fixture
def ws(tmp_path: Path, make_project, instance: dg.DagsterInstance) -> Path:
    root = tmp_path / "ws"
    make_project(root, "alpha", {"sh010_v001.mp4": TINY, "sh020_v001.mp4": TINY}, SPEC)
    make_project(root, "beta", {"b010_v001.mp4": TINY}, SPEC)
    age(root)
    assert all(o.success for o in build_workspace(instance, root))
    return root


def test_no_op_build_writes_nothing(ws: Path, instance: dg.DagsterInstance) -> None:
    before = snapshot(ws)
    assert build_workspace(instance, ws) == []  # `vidasm build` (and `vidasm status`, the same planning)
    assert changed(before, snapshot(ws)) == []


def test_no_op_sensor_ticks_write_nothing(ws: Path, instance: dg.DagsterInstance) -> None:
    before = snapshot(ws)
    t = Ticker(ws, instance)  # a first tick hashes every render (through the build's fingerprint cache)
    assert runs(t.tick()) == set()
    assert runs(t.tick()) == set()
    assert changed(before, snapshot(ws)) == []


def test_a_change_in_one_project_writes_nothing_in_another(ws: Path, instance: dg.DagsterInstance, ffmpeg: str) -> None:
    beta = snapshot(ws / "beta")
    alpha_cache = (ws / "alpha" / "05_Cache" / "fingerprints.json").read_text()
    make_render(ffmpeg, ws / "alpha" / "03_Renders" / "sh020" / "sh020_v002.mp4", RenderSpec(64, 36, "24", 0.5, -12))
    age(ws / "alpha" / "03_Renders")
    t = Ticker(ws, instance)
    t.tick()
    assert all(o.success for o in build_workspace(instance, ws))
    assert changed(beta, snapshot(ws / "beta")) == []
    # the project that changed did record its new render's fingerprint
    assert (ws / "alpha" / "05_Cache" / "fingerprints.json").read_text() != alpha_cache
