"""Measuring helpers for tests: real decoding and real parsers, never log text."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import dagster as dg
import pytest

from vidasm_assets.make import make
from vidasm_assets.media.loudness import measure_loudness
from vidasm_assets.media.runner import bind
from vidasm_assets.planner import Outcome


@dataclass
class Built:
    """A workspace built once for a module: its root, the instance it was built in, and what the build did."""

    root: Path
    instance: dg.DagsterInstance
    outcomes: list[Outcome]


REPO = Path(__file__).resolve().parents[2]
BUILDS = Path(os.environ.get("VIDASM_FFMPEG_BUILDS") or REPO / ".venv" / "ffmpeg-builds")


def ffmpeg_build(version: str) -> str:
    """Another FFmpeg build (``scripts/ffmpeg-builds.sh`` extracts them from older imageio-ffmpeg wheels).
    Missing: a failure under CI (``CI`` set), else a skip that says how to get it."""
    exe = BUILDS / version / "ffmpeg"
    if exe.is_file():
        return str(exe)
    if os.environ.get("CI"):
        pytest.fail(f"{exe} is missing: scripts/ffmpeg-builds.sh fetches it (CI must run it)")
    pytest.skip(f"FFmpeg {version} not at {exe}: run scripts/ffmpeg-builds.sh")


def set_spec(folder: Path, **changes: object) -> None:
    pj = folder / "project.json"
    data = json.loads(pj.read_text())
    data.update(changes)
    pj.write_text(json.dumps(data))


QUIET = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}


def build_workspace(
    instance: dg.DagsterInstance, root: Path, projects: list[str] | None = None, jobs: int | None = 1
) -> list[Outcome]:
    """``vidasm build`` through its one entry point (``make.make``), quietly; the outcome of every run.

    One shot run at a time by default: these tests are about what a build makes, and two worker processes would
    cost each build a few seconds of start-up. ``jobs=None`` is the CLI's default (workers up to the pool limit),
    which tests/integration/test_parallel_build.py and the CLI tests of tests/e2e run."""
    return make(root, projects, instance=instance, run_config=QUIET, jobs=jobs).outcomes


def last_storage_id(instance: dg.DagsterInstance) -> int:
    """The newest event-log id: everything recorded later is what a build did."""
    return instance.event_log_storage.get_maximum_record_id() or 0


def materialized_since(instance: dg.DagsterInstance, after: int) -> set[str]:
    """Asset (partition) labels materialized after a storage id, read from the event log."""
    out = set()
    for key in instance.get_asset_keys():
        records = instance.fetch_materializations(
            dg.AssetRecordsFilter(asset_key=key, after_storage_id=after), limit=10000
        ).records
        for r in records:
            mat = r.asset_materialization
            assert mat is not None
            label = mat.asset_key.to_user_string()
            out.add(f"{label}[{mat.partition}]" if mat.partition else label)
    return out


def decoded_audio_samples(path: Path) -> int:
    with av.open(str(path)) as c:
        return sum(f.samples for f in c.decode(audio=0))


def video_frames_and_duration(path: Path) -> tuple[int, Fraction]:
    """Frames by decoding, and the stream's duration."""
    with av.open(str(path)) as c:
        s = c.streams.video[0]
        n = sum(1 for _ in c.decode(video=0))
        return n, Fraction(s.duration) * s.time_base


def loudness(ffmpeg: str, path: Path) -> tuple[float, float | None]:
    return measure_loudness(bind(ffmpeg), path)


def rebuild(root: Path, instance: dg.DagsterInstance) -> set[str]:
    """Build ``root`` again (every run must succeed) and return what it materialized, from the event log."""
    mark = last_storage_id(instance)
    outcomes = build_workspace(instance, root)
    assert outcomes and all(o.success for o in outcomes), [o.message for o in outcomes if not o.success]
    return materialized_since(instance, mark)


@contextlib.contextmanager
def built_instance(root: Path, home: Path) -> Iterator[dg.DagsterInstance]:
    """A temporary instance in ``home`` on which ``root`` was built from scratch, every run a success."""
    with dg.DagsterInstance.local_temp(tempdir=str(home)) as instance:
        rebuild(root, instance)
        yield instance


@contextlib.contextmanager
def forked(root: Path, instance: dg.DagsterInstance, into: Path) -> Iterator[tuple[Path, dg.DagsterInstance]]:
    """A copy of a built workspace and of the instance it was built in, for a test that changes it: the module's
    build stays as it was, so every test holds in any order.

    The copy is a moved workspace, so this checks what a move costs on the way: the first build rewrites each
    project's timeline and OTIO/FCP XML only (they name the renders by path; nothing is encoded again), a second
    build nothing."""
    shutil.copytree(root, into / "workspace", symlinks=True)  # copy2: modification times kept, as mv and rsync -a
    shutil.copytree(instance.root_directory, into / "home", symlinks=True)
    projects = sorted(p.parent.name for p in (into / "workspace").glob("*/project.json"))
    with dg.DagsterInstance.local_temp(tempdir=str(into / "home")) as copy:
        assert rebuild(into / "workspace", copy) == {f"{p}/{a}" for p in projects for a in ("timeline", "otio")}
        mark = last_storage_id(copy)
        assert build_workspace(copy, into / "workspace") == [] and materialized_since(copy, mark) == set()
        yield into / "workspace", copy


@contextlib.contextmanager
def forked_project(
    built: tuple[Path, Path, dg.DagsterInstance], into: Path
) -> Iterator[tuple[Path, Path, dg.DagsterInstance]]:
    """``forked`` for a module's ``(root, project folder, instance)`` build: the copy in the same shape."""
    root, folder, instance = built
    with forked(root, instance, into) as (copy, copied):
        yield copy, copy / folder.relative_to(root), copied
