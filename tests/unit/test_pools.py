"""``pools``: the ``ffmpeg`` pool's row created once before runs claim it side by side (PostgreSQL's first-claim
race), and the flock slots that hold the pool's limit on this host (every claim races)."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pytest

from tests.support.postgres import fresh_database
from vidasm_assets.assets.names import FFMPEG_POOL
from vidasm_assets.pools import HostSlots, ensure_pool, host_slots

REPO = Path(__file__).resolve().parents[2]


def _home(path: Path, limit: int, storage: str = "") -> Path:
    path.mkdir(parents=True)
    (path / "dagster.yaml").write_text(
        f"telemetry:\n  enabled: false\n{storage}concurrency:\n  pools:\n    default_limit: {limit}\n"
    )
    return path


@pytest.fixture
def sqlite_instance(tmp_path: Path) -> Iterator[dg.DagsterInstance]:
    instance = dg.DagsterInstance.from_config(str(_home(tmp_path / "home", 2)))
    yield instance
    instance.dispose()


def test_host_slots_back_the_pool_on_sqlite_sized_to_its_limit(sqlite_instance: dg.DagsterInstance) -> None:
    slots = host_slots(sqlite_instance, FFMPEG_POOL)
    assert slots is not None
    assert slots.limit == 2
    assert slots.folder.parent == Path(sqlite_instance.root_directory)
    sqlite_instance.event_log_storage.set_concurrency_slots(FFMPEG_POOL, 3)  # dagster instance concurrency set
    assert host_slots(sqlite_instance, FFMPEG_POOL).limit == 3  # type: ignore[union-attr]


def test_no_host_slots_without_a_pool_limit_or_on_an_in_memory_instance(tmp_path: Path) -> None:
    with dg.DagsterInstance.ephemeral() as instance:
        assert host_slots(instance, FFMPEG_POOL) is None
    home = tmp_path / "nolimit"
    home.mkdir()
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    instance = dg.DagsterInstance.from_config(str(home))
    try:
        assert host_slots(instance, FFMPEG_POOL) is None
    finally:
        instance.dispose()


HOLDER = """
import sys, time
from pathlib import Path
from vidasm_assets.pools import HostSlots
slots = HostSlots(Path(sys.argv[1]), "ffmpeg", int(sys.argv[2]))
with slots.hold() as i:
    Path(sys.argv[3]).write_text(str(i))
    time.sleep(float(sys.argv[4]))
"""


def _holder(folder: Path, limit: int, marker: Path, hold_s: float) -> subprocess.Popen:
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(folder), str(limit), str(marker), str(hold_s)],
        cwd=REPO,
        start_new_session=True,
    )
    deadline = time.monotonic() + 30
    while not marker.exists():
        assert proc.poll() is None and time.monotonic() < deadline, "the holder never took its slot"
        time.sleep(0.02)
    return proc


def test_a_full_host_waits_for_a_slot_and_takes_it_when_the_holder_exits(tmp_path: Path) -> None:
    folder = tmp_path / "slots"
    holder = _holder(folder, 1, tmp_path / "held", 1.5)
    t0 = time.monotonic()  # the holder has its slot for 1.5 s from about now
    waits: list[str] = []
    try:
        with HostSlots(folder, "ffmpeg", 1).hold(waits.append) as slot:
            waited = time.monotonic() - t0
            assert slot == 0
    finally:
        holder.kill()
        holder.wait()
    assert waited > 1.0, f"took the only slot {waited:.2f} s into another process's 1.5 s hold"
    assert waits == ["waiting for one of this host's 1 slot(s) of pool 'ffmpeg'"]


def test_a_second_slot_is_free_at_once_and_a_killed_holder_frees_its_own(tmp_path: Path) -> None:
    folder = tmp_path / "slots"
    holder = _holder(folder, 2, tmp_path / "held", 60)
    try:
        waits: list[str] = []
        with HostSlots(folder, "ffmpeg", 2).hold(waits.append) as slot:
            assert slot == 1 - int((tmp_path / "held").read_text())
        assert waits == []
        holder.kill()  # kill -9: the kernel releases its lock
        holder.wait()
        with HostSlots(folder, "ffmpeg", 1).hold(waits.append) as slot:
            assert slot == 0
        assert waits == []
    finally:
        holder.kill()
        holder.wait()


ENSURER = """
import sys, time
import dagster as dg
from vidasm_assets.pools import ensure_pool
instance = dg.DagsterInstance.from_config(sys.argv[1])
while time.time() < float(sys.argv[2]):
    time.sleep(0.001)
ensure_pool(instance, "ffmpeg")
"""


@pytest.mark.parametrize("kind", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_processes_ensuring_the_pool_at_once_all_succeed_with_one_row_at_the_default(tmp_path: Path, kind: str) -> None:
    """Six processes create the pool's row at the same instant (what runs of a backfill on a fresh instance do on
    their first claim): none fails, and the pool has the default limit's slots, not more."""
    with fresh_database("vidasm_pools") if kind == "postgres" else _no_database() as url:
        storage = f"storage:\n  postgres:\n    postgres_url: {url}\n" if url else ""
        home = _home(tmp_path / "home", 2, storage)
        instance = dg.DagsterInstance.from_config(str(home))  # migrates the schema once, before the race
        try:
            go = time.time() + 4
            procs = [subprocess.Popen([sys.executable, "-c", ENSURER, str(home), str(go)], cwd=REPO) for _ in range(6)]
            assert [p.wait(timeout=120) for p in procs] == [0] * 6
            limits = instance.event_log_storage.get_pool_limits()
            assert [(p.name, p.limit, p.from_default) for p in limits] == [(FFMPEG_POOL, 2, True)]
            assert instance.event_log_storage.get_concurrency_info(FFMPEG_POOL).slot_count == 2
            ensure_pool(instance, FFMPEG_POOL)  # again: nothing to do
            assert instance.event_log_storage.get_concurrency_info(FFMPEG_POOL).slot_count == 2
        finally:
            instance.dispose()


def test_a_limit_set_by_hand_is_kept(sqlite_instance: dg.DagsterInstance) -> None:
    sqlite_instance.event_log_storage.set_concurrency_slots(FFMPEG_POOL, 5)
    ensure_pool(sqlite_instance, FFMPEG_POOL)
    [limit] = sqlite_instance.event_log_storage.get_pool_limits()
    assert (limit.limit, limit.from_default) == (5, False)


class _no_database:
    def __enter__(self) -> str:
        return ""

    def __exit__(self, *exc: object) -> None:
        return None
