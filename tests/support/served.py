"""A tiny workspace built into a persistent SQLite ``DAGSTER_HOME``, ready for a real ``dagster dev`` to serve; and
the system tools (nginx, chromium) the tests that reach it through a proxy or a browser need."""

from __future__ import annotations

import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import pytest

from vidasm_assets.media.demo import RenderSpec, make_render, write_project

from .helpers import REPO, build_workspace

SMALL = RenderSpec(160, 90, "24", 0.5, -20)
SPEC = {"fps": 24, "resolution": "160x90"}


@dataclass
class Served:
    """A built workspace and the instance it was built in: what ``dagster dev`` then serves."""

    workspace: Path
    home: Path
    project: str
    shots: list[str]

    def env(self, ffmpeg: str) -> dict[str, str]:
        return {
            **os.environ,
            "DAGSTER_HOME": str(self.home),
            "VIDASM_WORKSPACE": str(self.workspace),
            "FFMPEG_PATH": ffmpeg,
            "DAGSTER_DISABLE_TELEMETRY": "1",
        }


def build_tiny(tmp_path: Path, ffmpeg: str, project: str = "teaser", shots: tuple[str, ...] = ("sh010", "sh020"),
               ) -> Served:  # fmt: skip
    """One project of tiny generated renders (lavfi testsrc2 and a sine), built (shots, cut, EDL, deliveries) into
    a SQLite ``DAGSTER_HOME`` with vidasm's packaged ``dagster.yaml``, as ``vidasm build`` would."""
    ws = tmp_path / "ws"
    folder = write_project(ws, project, SPEC)
    old = time.time() - 600  # long settled: the sensor of the served deployment has nothing to take
    for shot in shots:
        render = make_render(ffmpeg, folder / "03_Renders" / shot / f"{shot}_v001.mp4", SMALL)
        os.utime(render, (old, old))
    home = tmp_path / "home"
    home.mkdir()
    (home / "dagster.yaml").write_text((REPO / "vidasm_assets" / "instance" / "dagster.yaml").read_text())
    with dg.DagsterInstance.from_config(str(home)) as instance:
        outcomes = build_workspace(instance, ws)
    assert outcomes and all(o.success for o in outcomes), outcomes
    return Served(ws, home, project, list(shots))


def system_tool(name: str, package: str | None = None, candidates: tuple[str, ...] = ()) -> str:
    """A tool the machine must provide (``.ci/run`` installs its Debian ``package``). Missing: a failure under CI
    (``CI`` set), never a silent skip; elsewhere a skip that says how to get it."""
    found = shutil.which(name) or next((c for c in candidates if os.access(c, os.X_OK)), None)
    if found:
        return found
    how = f"apt-get install {package or name}"
    if os.environ.get("CI"):
        pytest.fail(f"{name} is not installed: .ci/run installs it ({how})")
    pytest.skip(f"{name} is not installed ({how}; .ci/run does)")
