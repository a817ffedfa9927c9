"""Decompression bombs and runaway FFmpeg: refused up front by name, or stopped by a ceiling.

A bomb test runs its build in a child Python under its own address-space and file-size ceilings (RLIMIT_AS,
RLIMIT_FSIZE) and a timeout, in its own process group killed whatever happens: a regression fails the test, it
cannot take the machine's memory or disk.
"""

from __future__ import annotations

import contextlib
import json
import os
import resource
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from vidasm_assets.media.conform import conform_picture
from vidasm_assets.media.demo import RenderSpec, make_render, write_project
from vidasm_assets.media.errors import FFmpegOutOfMemoryError, FFmpegTimeoutError, MediaLimitError, SettingsError
from vidasm_assets.media.limits import Limits, limit_child
from vidasm_assets.media.probe import probe
from vidasm_assets.media.project import load_project
from vidasm_assets.media.runner import bind, run_ffmpeg
from vidasm_assets.media.shots import shot_frames
from vidasm_assets.resources import FFmpegResource

from ..support import media_sources as ms

pytestmark = pytest.mark.media

REPO = Path(__file__).resolve().parents[2]
GIB = 1 << 30
CHILD_MEMORY = 3 * GIB  # Python, Dagster and PyAV need well under 1 GB; the bomb used to take all there is
CHILD_FILES = 256 << 20  # the bomb's silence used to grow to 10 GB


def make_bomb(ffmpeg: str, dest: Path) -> Path:
    """1.5 KB of H.264: 3 frames whose timestamps are 5 hours apart, declaring 10 hours of picture, no audio."""
    return ms.run(ffmpeg, dest, [
        "-f", "lavfi", "-i", "color=c=gray:s=160x90:r=1:d=3", "-vf", "setpts=N*18000/TB",
        "-fps_mode", "passthrough", *ms.X264,
    ])  # fmt: skip


def run_capped(code: str, *args: str, timeout: float = 240) -> dict:
    """Run ``code`` in a child Python under CHILD_MEMORY and CHILD_FILES; its JSON on stdout. The child's whole
    process group (FFmpeg included) is killed on the way out, whatever happened."""

    def ceilings() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (CHILD_MEMORY, CHILD_MEMORY))
        resource.setrlimit(resource.RLIMIT_FSIZE, (CHILD_FILES, CHILD_FILES))

    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(code), *args],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
        preexec_fn=ceilings, start_new_session=True,
    )  # fmt: skip
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        pytest.fail(f"still running after {timeout} s: the bomb was not refused")
    finally:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    assert proc.returncode == 0, f"child failed (exit {proc.returncode}):\n{err[-3000:]}"
    return json.loads(out.strip().splitlines()[-1])


STEPS = """
    import json, sys
    from pathlib import Path
    from vidasm_assets.media.conform import conform_picture
    from vidasm_assets.media.loudness import normalize_audio
    from vidasm_assets.media.shots import shot_frames
    from vidasm_assets.media.probe import probe
    from vidasm_assets.media.project import load_project
    from vidasm_assets.media.runner import bind, run_ffmpeg

    root, ffmpeg = Path(sys.argv[1]), sys.argv[2]
    project = load_project(root, "bombed")
    take = project.select_take("sh010")
    info = probe(take.path)
    run = bind(ffmpeg)
    out = {}
    for step in ("frames", "picture", "audio"):
        try:
            if step == "frames":
                out["frames_made"] = shot_frames(info, project.spec.rate)
            elif step == "picture":
                conform_picture(run, project, take, info)
            else:  # as the audio asset does it
                normalize_audio(run, project, take, info, shot_frames(info, project.spec.rate))
            out[step] = "built"
        except Exception as exc:
            out[step] = [type(exc).__name__, str(exc).splitlines()[0]]
    print(json.dumps(out))
"""


def test_a_render_declaring_ten_hours_in_three_frames_is_refused_before_ffmpeg_runs(
    tmp_path: Path, ffmpeg: str
) -> None:
    folder = write_project(tmp_path, "bombed", {"fps": 24, "resolution": "160x90"})
    bomb = make_bomb(ffmpeg, folder / "03_Renders" / "sh010" / "sh010_v001.mp4")
    assert bomb.stat().st_size < 2000 and probe(bomb).video.duration > 36000  # type: ignore[union-attr]
    out = run_capped(STEPS, str(tmp_path), ffmpeg)
    assert "frames_made" not in out, out
    for step in ("frames", "picture", "audio"):
        cls, message = out[step]
        assert cls == "MediaLimitError", out
        assert message.startswith(f"{bomb}: declares 36,001 s of picture in 1.")
        assert "s per MB, limit 1,000,000: VIDASM_MAX_SECONDS_PER_MB): a damaged header or a decomp" in message
    assert not any((folder / "05_Cache").rglob("*.mov")) and not any((folder / "05_Cache").rglob("*.wav"))


BUILD = """
    import json, sys
    from pathlib import Path
    import dagster as dg
    from tests.support.helpers import build_workspace

    root, home = Path(sys.argv[1]), sys.argv[2]
    with dg.DagsterInstance.local_temp(tempdir=home) as instance:
        outcomes = build_workspace(instance, root)
    print(json.dumps([[o.project, o.label, o.success, o.message] for o in outcomes]))
"""


def test_the_bomb_fails_its_shot_by_name_and_the_other_project_builds(tmp_path: Path, ffmpeg: str) -> None:
    spec = {"fps": 24, "resolution": "64x36"}
    folder = write_project(tmp_path, "bombed", spec)
    make_render(ffmpeg, folder / "03_Renders" / "sh010" / "sh010_v001.mp4", RenderSpec(64, 36, "24", 0.5, -20))
    bomb = make_bomb(ffmpeg, folder / "03_Renders" / "sh020" / "sh020_v001.mp4")
    good = write_project(tmp_path, "good", spec)
    make_render(ffmpeg, good / "03_Renders" / "g010" / "g010_v001.mp4", RenderSpec(64, 36, "24", 0.5, -20))
    (tmp_path / "home").mkdir()
    outcomes = run_capped(BUILD, str(tmp_path), str(tmp_path / "home"))
    failed = {(p, label): msg for p, label, ok, msg in outcomes if not ok}
    assert {p for p, _, ok, _ in outcomes if ok} >= {"good"}
    assert (good / "06_Exports" / "good_web.mp4").is_file()
    shot = next(msg for (p, label), msg in failed.items() if p == "bombed" and label.startswith("sh020"))
    assert str(bomb) in shot and "VIDASM_MAX_SECONDS_PER_MB" in shot
    assert failed[("bombed", "cut, EDL, deliveries")] == "not assembled: failed sh020"


# --------------------------------------------------------------------------- each limit, read at call time


@pytest.fixture
def render(tmp_path: Path, ffmpeg: str):
    folder = write_project(tmp_path, "p", {"fps": 24, "resolution": "160x90"})
    make_render(ffmpeg, folder / "03_Renders" / "sh010" / "sh010_v001.mp4", RenderSpec(160, 90, "24", 1.0, -20))
    project = load_project(tmp_path, "p")
    take = project.select_take("sh010")
    return project, take, probe(take.path)


@pytest.mark.parametrize(
    ("var", "value", "says"),
    [
        (
            "VIDASM_MAX_FRAMES",
            "23",
            "1 s is 24 frames at 24 fps, over the limit of 23 frames a shot (VIDASM_MAX_FRAMES)",
        ),
        (
            "VIDASM_MAX_PIXELS",
            "14399",
            "160x90 is 14,400 pixels a picture, over the limit of 14,399 (VIDASM_MAX_PIXELS;",
        ),
        ("VIDASM_MAX_SECONDS_PER_MB", "1", "s per MB, limit 1: VIDASM_MAX_SECONDS_PER_MB): a damaged header"),
    ],
)
def test_each_render_limit_names_the_file_and_its_variable(
    render, monkeypatch: pytest.MonkeyPatch, var: str, value: str, says: str
) -> None:
    project, take, info = render
    assert shot_frames(info, project.spec.rate) == 24
    monkeypatch.setenv(var, value)  # after import: limits are read when used
    with pytest.raises(MediaLimitError) as exc:
        shot_frames(info, project.spec.rate)
    assert str(exc.value).startswith(f"{take.path}: ") and says in str(exc.value)
    monkeypatch.setenv(var, "0")  # 0: off
    assert shot_frames(info, project.spec.rate) == 24


def test_an_output_past_the_size_limit_stops_ffmpeg_and_leaves_nothing(
    render, ffmpeg: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    project, take, info = render
    monkeypatch.setenv("VIDASM_MAX_OUTPUT_BYTES", "4K")
    with pytest.raises(MediaLimitError) as exc:
        conform_picture(bind(ffmpeg), project, take, info)
    assert str(exc.value).splitlines()[0] == (
        f"{take.path}: FFmpeg's output reached the file size limit of 4.0 KiB and FFmpeg was stopped "
        "(VIDASM_MAX_OUTPUT_BYTES)"
    )
    assert not list(project.picture_path("sh010").parent.iterdir())


def test_ffmpeg_runs_under_a_memory_ceiling_that_is_named_when_hit(
    render, ffmpeg: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    project, take, info = render
    monkeypatch.setenv("VIDASM_MAX_FFMPEG_MEMORY", "48M")
    with pytest.raises(FFmpegOutOfMemoryError) as exc:
        conform_picture(bind(ffmpeg), project, take, info)
    first = str(exc.value).splitlines()[0]
    assert first.startswith(f"{take.path}: FFmpeg ") and "under its memory ceiling of 48.0 MiB" in first
    assert "VIDASM_MAX_FFMPEG_MEMORY raises the ceiling" in first
    monkeypatch.delenv("VIDASM_MAX_FFMPEG_MEMORY")
    assert conform_picture(bind(ffmpeg), project, take, info).frames == 24


def test_the_runner_sets_both_ceilings_on_its_ffmpeg(ffmpeg: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Read back from the running FFmpeg's /proc/<pid>/limits: what the environment says, in bytes."""
    monkeypatch.setenv("VIDASM_MAX_FFMPEG_MEMORY", "6G")
    monkeypatch.setenv("VIDASM_MAX_OUTPUT_BYTES", "300M")
    marker = f"testsrc2=s=64x36:d=20:r={os.getpid() % 1000 + 2}"
    seen: dict[str, str] = {}

    def watch() -> None:
        for _ in range(100):
            pids = subprocess.run(["pgrep", "-f", marker], capture_output=True, text=True).stdout.split()
            if pids:
                time.sleep(0.3)  # the ceilings are set right after the spawn
                for line in Path(f"/proc/{pids[0]}/limits").read_text().splitlines():
                    if line.startswith(("Max address space", "Max file size")):
                        seen[line[:17].strip()] = line.split()[-3]
                return
            time.sleep(0.05)

    watcher = threading.Thread(target=watch)
    watcher.start()
    with pytest.raises(FFmpegTimeoutError):  # the runner kills its child's group on the way out
        run_ffmpeg([ffmpeg, "-hide_banner", "-nostdin", "-re", "-f", "lavfi", "-i", marker, "-f", "null", "-"],
                   timeout=3)  # fmt: skip
    watcher.join()
    assert seen == {"Max address space": str(6 * GIB), "Max file size": str(300 << 20)}


def test_ceilings_are_set_on_the_child_and_never_raise_an_inherited_one() -> None:
    def inherited() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (GIB, GIB))

    for want, expected in ((16 * GIB, GIB), (GIB // 2, GIB // 2)):
        child = subprocess.Popen(["sleep", "30"], preexec_fn=inherited, start_new_session=True)
        try:
            applied = limit_child(child.pid, Limits(ffmpeg_memory_bytes=want, output_bytes=GIB))
            assert resource.prlimit(child.pid, resource.RLIMIT_AS) == (expected, expected)
            assert resource.prlimit(child.pid, resource.RLIMIT_FSIZE)[0] == GIB
            assert applied.memory_bytes == expected and applied.output_bytes == GIB
            assert applied.inherited == ({"memory_bytes"} if expected < want else set())  # named in its error
        finally:
            os.killpg(child.pid, signal.SIGKILL)
            child.wait()


def test_a_bad_setting_is_named_and_leaves_no_ffmpeg_running(
    ffmpeg: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VIDASM_MAX_FFMPEG_MEMORY", "plenty")
    marker = f"testsrc2=s=64x36:d=30:r={os.getpid() % 1000 + 1}"  # this test's own child, by its arguments
    with pytest.raises(SettingsError, match=r"VIDASM_MAX_FFMPEG_MEMORY='plenty' is not a number"):
        run_ffmpeg([ffmpeg, "-hide_banner", "-nostdin", "-re", "-f", "lavfi", "-i", marker, "-f", "null", "-"])
    time.sleep(0.5)
    running = subprocess.run(["pgrep", "-f", marker], capture_output=True, text=True).stdout.split()
    for pid in running:  # stop a leaked child before failing
        with contextlib.suppress(ProcessLookupError):
            os.kill(int(pid), signal.SIGKILL)
    assert not running


def test_the_ffmpeg_timeout_comes_from_the_environment_unless_configured(
    ffmpeg: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    slow = ["-hide_banner", "-nostdin", "-y", "-re", "-f", "lavfi", "-i", "testsrc2=s=64x36:d=30", "-f", "null", "-"]
    monkeypatch.setenv("VIDASM_FFMPEG_TIMEOUT", "0.5")
    with pytest.raises(FFmpegTimeoutError, match=r"timed out after 0\.5 s"):
        FFmpegResource().runner()(slow, path=tmp_path / "x")
    with pytest.raises(FFmpegTimeoutError, match=r"timed out after 0\.3 s"):  # the resource's config wins
        FFmpegResource(timeout_seconds=0.3).runner()(slow, path=tmp_path / "x")
