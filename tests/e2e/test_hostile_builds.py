"""Hostile or broken input through the real CLI and planner: one clear error each, the other projects still build.

Unreadable files are made unreadable for real: the suite runs as root, whom permissions do not stop, so the CLI
runs without root's file-permission capabilities (``without_root_file_access``) over chmod-000 renders, shot
folders and project.json. Every process a test starts runs
in its own process group, killed on the way out whatever happened.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import dagster as dg
import pytest

from vidasm_assets.assets import names as n
from vidasm_assets.media.demo import DEMO_MARKER, DEMO_PROJECTS, RenderSpec, make_demo_workspace, make_render
from vidasm_assets.media.demo import write_project as write_demo_project
from vidasm_assets.media.limits import human_bytes
from vidasm_assets.media.locks import LOCK_NAME
from vidasm_assets.media.project import discover_projects
from vidasm_assets.planner import execute_plan, plan_workspace

from ..support.helpers import QUIET, build_workspace, video_frames_and_duration

pytestmark = pytest.mark.media

REPO = Path(__file__).resolve().parents[2]
SPEC = {"fps": 24, "resolution": "64x36"}
TINY = RenderSpec(64, 36, "24", 0.5, -20)


def run_group(argv: list[str], *, timeout: float, preexec: Callable[[], None] | None = None, **kw) -> tuple[int, str]:
    """Run a command in its own session; (exit status, stdout + stderr). Its process group is killed on the way
    out, even when the test fails or times out."""
    proc = subprocess.Popen(
        argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True,
        preexec_fn=preexec, **kw,
    )  # fmt: skip
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        pytest.fail(f"{argv[:4]} still running after {timeout} s")
    finally:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    return proc.returncode, out


def timed_lines(argv: list[str], env: dict[str, str], timeout: float = 120) -> tuple[int, list[tuple[float, str]]]:
    """(exit status, [(monotonic time the line arrived, line)]) of a command's merged output; its process group
    is killed at the timeout and on the way out."""
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
                            start_new_session=True)  # fmt: skip

    def kill() -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)

    watchdog = threading.Timer(timeout, kill)
    watchdog.start()
    lines: list[tuple[float, str]] = []
    try:
        assert proc.stdout is not None
        lines = [(time.monotonic(), line) for line in proc.stdout]
        proc.wait()
    finally:
        watchdog.cancel()
        kill()
        proc.wait()
    if proc.returncode == -signal.SIGKILL:
        pytest.fail(f"{argv[:4]} still running after {timeout} s")
    return proc.returncode, lines


def vidasm(*args: str, env: dict[str, str], timeout: float = 300, **kw) -> tuple[int, str]:
    return run_group([sys.executable, "-m", "vidasm_assets.cli", *args], timeout=timeout, env=env, **kw)


def cli_env(home: Path, **extra: str) -> dict[str, str]:
    env = {**os.environ, "PYTHONPATH": str(REPO), "DAGSTER_HOME": str(home), "COLUMNS": "400", **extra}
    env["PYTHONUNBUFFERED"] = "1"
    env.pop("VIDASM_WORKSPACE", None)
    return env


# --------------------------------------------------------------------------- unreadable and broken, as a user


def without_root_file_access() -> None:
    """Make permissions bind root too, in a child about to exec: drop CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH
    (linux/capability.h: 1 and 2) from the bounding set (prctl PR_CAPBSET_DROP = 24), so the program it execs runs
    as root without them and a chmod-000 file of root's is unreadable to it. (Running as ``nobody`` is not
    possible here: the interpreter lives under /root, mode 0700.)"""
    libc = ctypes.CDLL(None, use_errno=True)
    for cap in (1, 2):
        if libc.prctl(24, cap, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP)")


def as_user() -> dict:
    """Unreadable means unreadable: root runs the CLI without its file-permission override."""
    return {"preexec": without_root_file_access} if os.geteuid() == 0 else {}


def test_broken_projects_fail_once_each_by_name_and_the_good_one_builds(tmp_path: Path, ffmpeg: str) -> None:
    ws, home, elsewhere = tmp_path / "ws", tmp_path / "home", tmp_path / "elsewhere"
    home.mkdir()
    elsewhere.mkdir()

    def project(name: str, shots: list[str], spec: dict | None = None) -> Path:
        folder = write_demo_project(ws, name, spec or SPEC)
        for shot in shots:
            make_render(ffmpeg, folder / "03_Renders" / shot / f"{shot}_v001.mp4", TINY)
        return folder

    project("good", ["g010", "g020"], {**SPEC, "sequence": [{"shot": "g010"}]})  # g020: not in the sequence
    locked_render = project("lockedrender", ["r010"]) / "03_Renders" / "r010" / "r010_v001.mp4"
    locked_folder = project("lockedfolder", ["f010"]) / "03_Renders" / "f010"
    locked_json = project("lockedjson", ["j010"]) / "project.json"
    binary = b'{"fps": 24, "notes": "caf\xe9"}'
    (project("binary", ["u010"]) / "project.json").write_bytes(binary)
    (project("deep", ["d010"]) / "project.json").write_text('{"a": ' + "[" * 1000 + "]" * 1000 + "}")
    huge = project("huge", ["h010"]) / "project.json"
    huge.write_text(json.dumps({"sequence": [{"shot": "h010"}] * 300_000}))
    project("norender", ["n010"], {**SPEC, "sequence": [{"shot": "n010"}, {"shot": "n020"}]})
    outside = project("outside", ["o010"])
    shutil.rmtree(outside / "06_Exports")
    (outside / "06_Exports").symlink_to(elsewhere)
    who = as_user()
    locked_render.chmod(0)
    locked_folder.chmod(0)
    locked_json.chmod(0)
    probe_read = [sys.executable, "-c", f"open({str(locked_json)!r})"]
    assert "PermissionError" in run_group(probe_read, timeout=60, **who)[1]  # the files really are unreadable

    env = cli_env(home)
    code, out = vidasm("build", "-w", str(ws), env=env, **who)
    assert code == 1, out
    assert "Traceback" not in out, out
    assert (ws / "good" / "06_Exports" / "good_web.mp4").is_file(), out
    assert (ws / "norender" / "06_Exports").exists() and not any(elsewhere.iterdir())
    # each project's error is said once (not by discovery, definitions, planner and summary in turn)
    said_once = [
        f"{locked_json}: cannot be read (Permission denied)",
        f"{ws / 'binary' / 'project.json'}: not UTF-8 text (byte 0xe9 at offset {binary.index(0xE9)}, line 1)",
        f"{ws / 'deep' / 'project.json'}: nested more than 32 levels deep, over the limit "
        "(VIDASM_MAX_PROJECT_JSON_DEPTH=32",
        f"{huge}: {human_bytes(huge.stat().st_size)} is over the project.json size limit of 4.0 MiB "
        "(VIDASM_MAX_PROJECT_JSON_BYTES)",
        f"{ws / 'outside' / '06_Exports'} resolves to {elsewhere}, outside the workspace {ws}",
        f"{ws / 'good' / '03_Renders'}: shot folder(s) not built: g020 (not in project.json's sequence)",
    ]
    for text in said_once:
        assert out.count(text) == 1, f"{text!r} said {out.count(text)} times:\n{out}"
    assert f"{locked_render}: cannot be read (permission denied)" in out
    assert f"{locked_folder}: the shot folder cannot be read (permission denied)" in out
    assert f"shot n020: no shot folder {ws / 'norender' / '03_Renders' / 'n020'} (the sequence names" in out
    assert "not assembled: failed n020" in out
    with dg.DagsterInstance.from_config(str(home)) as inst:
        runs = inst.get_runs()
        assert {r.job_name for r in runs} >= {"good__shots", "good__assemble", "norender__shots", "lockedrender__shots"}
        # a shot without any render is an error for the shot, not a run launched to fail
        assert not [r for r in runs if r.tags.get("dagster/partition") == "n020"]

    code, out = vidasm("status", "-w", str(ws), env=env, **who)
    assert code == 1 and "Traceback" not in out, out
    flat = " ".join(out.split())  # the status table wraps long cells
    for text in said_once:
        assert flat.count(" ".join(text.split())) == 1, f"{text!r} in status:\n{out}"


# --------------------------------------------------------------------------- planner


def test_a_listed_shot_without_a_render_fails_by_name_without_a_run(
    tmp_path: Path, make_project, instance: dg.DagsterInstance
) -> None:
    make_project(tmp_path, "p", {"s1_v001.mp4": TINY}, {**SPEC, "sequence": [{"shot": "s1"}, {"shot": "s2"}]})
    ws = discover_projects(tmp_path)
    (plan,) = plan_workspace(instance, ws)
    errors = [it for it in plan.items if it.partition == "s2"]
    assert {it.state for it in errors} == {"error"} and not any(it.launch for it in errors)
    assert "s2" not in plan.shot_builds()
    from vidasm_assets.definitions import build_definitions

    outcomes = execute_plan(build_definitions(tmp_path), instance, plan, run_config=QUIET)
    by_label = {o.label: o for o in outcomes}
    assert by_label["s2"].run_id is None and not by_label["s2"].success
    assert by_label["s2"].message.startswith(f"shot s2: no shot folder {tmp_path / 'p' / '03_Renders' / 's2'} (the "
                                             "sequence names shot 's2'")  # fmt: skip
    assert not instance.get_runs(filters=dg.RunsFilter(tags={"dagster/partition": "s2"}))
    assert instance.get_runs(filters=dg.RunsFilter(job_name=n.shots_job_name("p")))  # s1 was built


def test_a_newline_in_the_workspace_path_still_cuts(tmp_path: Path, make_project, instance) -> None:
    ws = tmp_path / "work\nspace"
    make_project(ws, "p", {"s1_v001.mp4": TINY, "s2_v001.mp4": TINY}, SPEC)
    outcomes = build_workspace(instance, ws)
    assert all(o.success for o in outcomes), [(o.label, o.message) for o in outcomes]
    frames, _ = video_frames_and_duration(ws / "p" / "05_Cache" / "cut" / "p_cut.mov")
    assert frames == 24 and (ws / "p" / "06_Exports" / "p_web.mp4").is_file()
    # the concat lists are cleaned up (the project's build lock stays: it is never written, only locked)
    assert not [p.name for p in (ws / "p" / "05_Cache").iterdir() if p.name.startswith(".") and p.name != LOCK_NAME]


def test_outputs_go_outside_the_workspace_only_when_project_json_allows_it(
    tmp_path: Path, make_project, instance
) -> None:
    ws, elsewhere = tmp_path / "ws", tmp_path / "nas" / "exports"
    elsewhere.mkdir(parents=True)
    for name, allow in (("refused", False), ("allowed", True)):
        folder = make_project(ws, name, {"s1_v001.mp4": TINY}, {**SPEC, "allow_outside_workspace": allow})
        shutil.rmtree(folder / "06_Exports")
        (folder / "06_Exports").symlink_to(elsewhere)
    outcomes = build_workspace(instance, ws)
    assert [o.success for o in outcomes if o.project == "allowed"] == [True, True]
    refused = [o for o in outcomes if o.project == "refused"]
    assert len(refused) == 1 and "outside the workspace" in refused[0].message
    assert sorted(p.name for p in elsewhere.iterdir()) == ["allowed_web.mp4"]
    assert not (ws / "refused" / "05_Cache" / "picture").exists()


# --------------------------------------------------------------------------- PostgreSQL


def _pg_home(tmp_path: Path) -> Path:
    home = tmp_path / "pg_home"
    home.mkdir()
    (home / "dagster.yaml").write_text((REPO / "dagster.postgres.yaml").read_text())
    (tmp_path / "ws" / "p").mkdir(parents=True)
    (tmp_path / "ws" / "p" / "project.json").write_text("{}")
    return home


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("postgresql://postgres@127.0.0.1:1/vidasm", "at postgresql://postgres@127.0.0.1:1/vidasm: Connection refused"),
        (None, "PostgreSQL URL is not set: export VIDASM_PG_URL"),
        pytest.param(
            "postgresql://postgres:secret@127.0.0.1:5432/vidasm_no_such_db",
            'at postgresql://postgres:***@127.0.0.1:5432/vidasm_no_such_db: database "vidasm_no_such_db" does not '
            "exist",
            marks=pytest.mark.postgres,
        ),
    ],
)
def test_unreachable_postgres_is_one_line_naming_the_setting_and_fast(tmp_path: Path, url: str | None, says: str):
    home = _pg_home(tmp_path)
    env = cli_env(home)
    env.pop("VIDASM_PG_URL", None)
    if url:
        env["VIDASM_PG_URL"] = url
    code, timed = timed_lines([sys.executable, "-m", "vidasm_assets.cli", "status", "-w", str(tmp_path / "ws")], env)
    out = "".join(line for _, line in timed)
    lines = [(t, ln) for t, ln in timed if ln.strip()]
    assert code == 2, out
    assert len(lines) == 2 and says in lines[1][1], out  # the FFmpeg line, then the one line that matters
    if url:
        assert "(check VIDASM_PG_URL; DAGSTER_HOME uses it through" in lines[1][1]
    assert "secret" not in out and "Traceback" not in out
    waited = lines[1][0] - lines[0][0]  # from the FFmpeg line to the verdict: the instance's storage only
    assert waited < 5, f"{waited:.1f} s (dagster-postgres alone retries for about 15 s)"


def test_init_home_postgres_without_the_url_says_so(tmp_path: Path) -> None:
    env = cli_env(tmp_path / "home")
    env.pop("VIDASM_PG_URL", None)
    code, out = vidasm("init-home", "--postgres", env=env, timeout=120)
    assert code == 0 and (tmp_path / "home" / "dagster.yaml").is_file(), out
    assert "not usable yet: PostgreSQL URL is not set: export VIDASM_PG_URL" in " ".join(out.split())


# --------------------------------------------------------------------------- demo


def test_the_demo_is_idempotent_and_finishes_an_interrupted_one(tmp_path: Path, ffmpeg: str) -> None:
    root = tmp_path / "demo"
    made = make_demo_workspace(ffmpeg, root)
    every = sum(len(renders) for _, renders in DEMO_PROJECTS.values())
    assert len(made) == every and (root / DEMO_MARKER).is_file()
    assert make_demo_workspace(ffmpeg, root) == []  # complete: nothing rewritten
    # interrupted the way the old demo was: project.json there, renders missing
    lost = [root / "teaser" / "03_Renders" / "op040" / "op040_v001.mov", root / "trailer" / "03_Renders" / "sh030"]
    for path in lost:
        shutil.rmtree(path) if path.is_dir() else path.unlink()
    edited = json.loads((root / "trailer" / "project.json").read_text()) | {"exports": ["web", "review"]}
    (root / "trailer" / "project.json").write_text(json.dumps(edited))
    (root / "teaser" / "project.json").unlink()
    again = make_demo_workspace(ffmpeg, root)
    assert sorted(p.name for p in again) == ["op040_v001.mov", "sh030_v001.mp4"]
    ws = discover_projects(root)
    assert sorted(ws.projects) == ["teaser", "trailer"] and not ws.errors
    assert ws.projects["teaser"].shots() == ["op010", "op030", "op020", "op040", "op050"]
    assert ws.projects["trailer"].spec.exports == ["web", "review"]  # an edited project.json is kept


def test_the_demo_shows_ffmpegs_error_when_generation_fails(tmp_path: Path) -> None:
    """A folder the demo cannot write into (read-only, and root without its permission override): the CLI says so
    in FFmpeg's own words, leaves nothing that looks like a project, and running it again finishes the job."""
    root = tmp_path / "demo"
    locked = root / "trailer" / "03_Renders" / "sh030"
    locked.mkdir(parents=True)
    locked.chmod(0o555)
    env = cli_env(tmp_path / "home")
    code, out = vidasm("demo", str(root), env=env, timeout=300, **as_user())
    assert code == 1, out
    flat = " ".join(out.split())
    assert f"demo not complete: {locked / 'sh030_v001.mp4'}: FFmpeg failed" in flat, out
    assert "the output is at fault: permission denied" in flat and "FFmpeg said:" in flat, out
    assert "Permission denied" in out.split("FFmpeg said:")[1], out  # FFmpeg's own line
    assert "Traceback" not in out
    assert not discover_projects(root).projects  # no project.json before all its renders
    assert (root / DEMO_MARKER).is_file()  # scripts/demo.sh runs it again
    locked.chmod(0o755)
    code, out = vidasm("demo", str(root), env=env, timeout=300)
    assert code == 0, out
    assert sorted(discover_projects(root).projects) == ["teaser", "trailer"]
    assert [t.name for t in sorted(locked.iterdir())] == ["sh030_v001.mp4"]


def test_demo_and_build_agree_on_the_workspace_when_it_is_set(tmp_path: Path) -> None:
    """``VIDASM_WORKSPACE`` set and no folder given: ``vidasm demo`` writes where ``vidasm status`` and ``build``
    look, not into the current directory."""
    elsewhere = tmp_path / "cwd"
    elsewhere.mkdir()
    env = {**cli_env(tmp_path / "home"), "VIDASM_WORKSPACE": str(tmp_path / "ws")}
    code, out = vidasm("demo", env=env, timeout=300, cwd=elsewhere)
    assert code == 0, out
    assert sorted(discover_projects(tmp_path / "ws").projects) == ["teaser", "trailer"]
    assert list(elsewhere.iterdir()) == []
    code, out = vidasm("status", env=env, timeout=300, cwd=elsewhere)
    assert code == 0 and "teaser" in out and "trailer" in out, out


# --------------------------------------------------------------------------- the machine's storage


def test_a_full_disk_under_dagster_home_is_one_line_naming_it(tmp_path: Path, ffmpeg: str) -> None:
    """The instance's SQLite database cannot grow (here a file size limit, as a full disk does): one line naming
    DAGSTER_HOME and the cause, exit 2 (it was 333 lines of SQLAlchemy ending in ``disk I/O error``)."""
    import resource

    ws = tmp_path / "ws"
    folder = write_demo_project(ws, "p", SPEC)
    make_render(ffmpeg, folder / "03_Renders" / "sh010" / "sh010_v001.mp4", TINY)
    home = tmp_path / "home"
    home.mkdir()
    (home / "dagster.yaml").write_text((REPO / "dagster.yaml").read_text())

    def tiny_files() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (1024, 1024))

    code, out = vidasm("build", "-w", str(ws), env=cli_env(home), preexec=tiny_files)
    assert code == 2, out
    assert f"storage: the Dagster instance's SQLite database in {home} failed: disk I/O error" in out, out
    assert "Traceback" not in out and len(out.strip().splitlines()) <= 3, out


def test_a_read_only_cache_of_a_built_project_stops_nothing(tmp_path: Path, ffmpeg: str) -> None:
    """A project archived read-only (its ``05_Cache`` included) beside one with a new take: the build takes the
    read-only project's lock through a read-only descriptor, finds it fresh, and builds the other (it stopped the
    whole build with a PermissionError traceback on the lock file)."""
    ws = tmp_path / "ws"
    for name in ("archived", "live"):
        folder = write_demo_project(ws, name, SPEC)
        make_render(ffmpeg, folder / "03_Renders" / "sh010" / "sh010_v001.mp4", TINY)
    home = tmp_path / "home"
    env = cli_env(home)
    assert vidasm("build", "-w", str(ws), env=env)[0] == 0
    make_render(ffmpeg, ws / "live" / "03_Renders" / "sh010" / "sh010_v002.mp4", RenderSpec(64, 36, "24", 0.5, -9))
    cache = ws / "archived" / "05_Cache"
    for p in [cache, *cache.rglob("*")]:
        p.chmod(p.stat().st_mode & ~0o222)
    try:
        code, out = vidasm("build", "-w", str(ws), env=env, **as_user())
    finally:
        for p in [cache, *cache.rglob("*")]:
            p.chmod(p.stat().st_mode | 0o200)
    assert code == 0, out
    assert "Traceback" not in out and "live timeline" in out.replace(",", ""), out
