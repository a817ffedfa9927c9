"""Partial outputs of killed writers are cleaned up (``outputs``): files and scratch folders, never through links."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from vidasm_assets.media.outputs import Stamp, atomic_output, remove_stale_partials, stamped, stamped_version, temp_name

WRITER = """
import sys, time
from pathlib import Path
from vidasm_assets.media.outputs import temp_name
cache = Path(sys.argv[1])
pieces = temp_name(cache / "pieces")          # what assembly.scratch_folder makes
pieces.mkdir()
(pieces / "sh010_0.mov").write_bytes(b"video" * 1000)
temp_name(cache / "cut.mov").write_bytes(b"half a cut")
print("ready", flush=True)
time.sleep(60)
"""


def test_a_killed_builds_scratch_folder_and_partial_file_are_removed_and_links_left_alone(tmp_path: Path) -> None:
    cache = tmp_path / "05_Cache"
    cache.mkdir()
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "keep.mov").write_bytes(b"precious")
    writer = subprocess.Popen([sys.executable, "-c", WRITER, str(cache)], stdout=subprocess.PIPE, text=True,
                              start_new_session=True)  # fmt: skip
    try:
        assert writer.stdout is not None and writer.stdout.readline().strip() == "ready"
        mine = temp_name(cache / "live.mov")  # this process's: alive, kept
        mine.write_bytes(b"being written")
        assert remove_stale_partials([cache]) == []  # the writer is alive: nothing of it goes
    finally:
        os.killpg(writer.pid, signal.SIGKILL)
        writer.wait()
    # a link named like a dead writer's partial folder, pointing outside: no writer makes one, it is left alone
    dead = next(p.name for p in cache.iterdir() if p.is_dir())
    link = cache / dead.replace("pieces", "link")
    link.symlink_to(elsewhere, target_is_directory=True)
    removed = {p.name for p in remove_stale_partials([cache])}
    assert len(removed) == 2 and dead in removed and any(n.startswith(".cut.partial-") for n in removed), removed
    assert sorted(p.name for p in cache.iterdir()) == sorted([mine.name, link.name])
    assert (elsewhere / "keep.mov").read_bytes() == b"precious"


def test_the_next_write_into_a_folder_removes_its_dead_writers_partials(tmp_path: Path) -> None:
    """Under the daemon or on a render node nobody runs ``vidasm build``: the next output written into the folder
    (any step's ``atomic_output``) removes what a killed writer left there, and keeps a live writer's."""
    cache = tmp_path / "05_Cache"
    cache.mkdir()
    writer = subprocess.Popen([sys.executable, "-c", WRITER, str(cache)], stdout=subprocess.PIPE, text=True,
                              start_new_session=True)  # fmt: skip
    try:
        assert writer.stdout is not None and writer.stdout.readline().strip() == "ready"
    finally:
        os.killpg(writer.pid, signal.SIGKILL)
        writer.wait()
    live = temp_name(cache / "other.mov")
    live.write_bytes(b"being written by this process")
    assert len(list(cache.iterdir())) == 3
    with atomic_output(cache / "fingerprints.json") as tmp:
        tmp.write_text("{}")
    assert sorted(p.name for p in cache.iterdir()) == sorted([live.name, "fingerprints.json"])


def test_a_step_killed_before_its_rename_keeps_the_old_output_built_and_after_it_never_counts(
    tmp_path: Path,
) -> None:
    """``stamped`` around a rebuild: interrupted before the new file replaces the output, the old output and its
    stamp stand (a killed ``--all`` threw away outputs still at the wanted version); interrupted between the
    rename and the new stamp, the output has no stamp, even when the new file has the old one's size and mtime
    (file systems with coarse timestamps cannot tell them apart)."""
    out, stamp = tmp_path / "audio" / "sh010.wav", tmp_path / "stamps" / "sh010.wav.json"

    def build(version: str, data: bytes, fail: str = "") -> None:
        with stamped([Stamp(stamp, out, version)]):
            if fail == "before rename":
                raise KeyboardInterrupt
            with atomic_output(out) as tmp:
                tmp.write_bytes(data)
            if fail == "after rename":
                os.utime(out, ns=(old.st_mtime_ns, old.st_mtime_ns))  # a coarse clock: same mtime as before
                raise KeyboardInterrupt

    build("v1", b"a" * 100)
    old = out.stat()
    assert stamped_version(stamp, out) == "v1"
    with pytest.raises(KeyboardInterrupt):
        build("v2", b"b" * 100, fail="before rename")
    assert stamped_version(stamp, out) == "v1" and out.read_bytes() == b"a" * 100
    with pytest.raises(KeyboardInterrupt):
        build("v2", b"b" * 100, fail="after rename")
    assert out.stat().st_size == old.st_size and out.stat().st_mtime_ns == old.st_mtime_ns
    assert stamped_version(stamp, out) is None
    build("v2", b"b" * 100)
    assert stamped_version(stamp, out) == "v2"
