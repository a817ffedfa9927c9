"""``vidasm metrics`` as a process on a real instance: Prometheus text computed from the event log when scraped,
agreeing with what the event log recorded. The process runs in its own process group, stopped on the way out."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg
import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from vidasm_assets.assets import names as n
from vidasm_assets.definitions import build_definitions
from vidasm_assets.media.demo import RenderSpec
from vidasm_assets.settings import write_instance_config

from ..support.helpers import build_workspace

pytestmark = pytest.mark.media

BIN = Path(sys.executable).parent
RENDERS = {"s1_v001.mp4": RenderSpec(64, 36, "24", 1.0, -20), "s2_v001.mp4": RenderSpec(64, 36, "24", 0.5, -20)}
SPEC = {"fps": 24, "resolution": "64x36", "exports": ["web", "proxy"]}  # proxy: per-shot segments
Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def scrape(url: str) -> Samples:
    """Every sample of the exposition, parsed by prometheus_client's own parser."""
    text = requests.get(url, timeout=30).text
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float | None:
    return samples.get((name, tuple(sorted(labels.items()))))


def listening_addresses(port: int) -> set[str]:
    """The local IPv4 addresses a socket listens on at ``port`` (``/proc/net/tcp``, state 0A = LISTEN)."""
    found = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        local, state = line.split()[1], line.split()[3]
        addr, hex_port = local.split(":")
        if state == "0A" and int(hex_port, 16) == port:
            found.add(socket.inet_ntoa(bytes.fromhex(addr)[::-1]))
    return found


def recorded(instance: dg.DagsterInstance, asset: str) -> list[dict[str, float]]:
    """The metrics metadata of every materialization of ``p-1/<asset>``, newest first."""
    records = instance.fetch_materializations(n.key("p-1", asset), limit=100).records
    return [
        {k: v.value for k, v in r.asset_materialization.metadata.items() if isinstance(v, dg.FloatMetadataValue)}
        for r in records
        if r.asset_materialization is not None
    ]


def wait_until_serving(proc: subprocess.Popen, url: str, log: Path, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"vidasm metrics exited {proc.returncode}: {log.read_text()}")
        with contextlib.suppress(requests.ConnectionError):
            requests.get(url, timeout=30)
            return
        time.sleep(0.2)
    pytest.fail(f"vidasm metrics did not answer within {timeout} s: {log.read_text()}")


def test_metrics_endpoint_after_a_build_and_a_failure(tmp_path: Path, make_project) -> None:
    ws, home = tmp_path / "ws", tmp_path / "home"
    folder = make_project(ws, "p-1", RENDERS, SPEC)
    write_instance_config(home)
    port = free_port()
    url = f"http://127.0.0.1:{port}/metrics"
    log = tmp_path / "metrics.log"
    with dg.DagsterInstance.from_config(str(home)) as instance:
        assert all(o.success for o in build_workspace(instance, ws))
        with log.open("w") as out:
            proc = subprocess.Popen([str(BIN / "vidasm"), "metrics", "--port", str(port)], cwd=tmp_path,
                                    env={**os.environ, "DAGSTER_HOME": str(home)}, stdout=out, stderr=out,
                                    start_new_session=True)  # fmt: skip
        try:
            wait_until_serving(proc, url, log)
            assert listening_addresses(port) == {"127.0.0.1"}  # this machine only, by default
            got = scrape(url)
            picture = recorded(instance, "picture")
            newest = picture[0]
            assert value(got, "vidasm_last_processing_ratio", project="p-1", kind="picture") == pytest.approx(
                newest["wall_s"] / newest["media_s"], rel=1e-9
            )
            ffmpeg_s = value(got, "vidasm_ffmpeg_seconds_total", project="p-1", kind="picture")
            assert ffmpeg_s == pytest.approx(sum(m["ffmpeg_s"] for m in picture)) and ffmpeg_s > 0
            assert value(got, "vidasm_materializations_total", project="p-1", kind="picture") == len(picture) == 2
            assert value(got, "vidasm_media_seconds_total", project="p-1", kind="picture") == pytest.approx(1.5)
            assert value(got, "vidasm_processing_ratio_count", project="p-1", kind="picture") == 2
            segments = recorded(instance, n.segments("proxy"))  # a preset's segments are kind "segments"
            assert value(got, "vidasm_wall_seconds_total", project="p-1", kind="segments") == pytest.approx(
                sum(m["wall_s"] for m in segments)
            )
            assert value(got, "vidasm_ffmpeg_seconds_total", project="p-1", kind="timeline") == 0
            assert value(got, "vidasm_materializations_total", project="p-1", kind="delivery") == 2  # web, proxy
            assert value(got, "vidasm_failed_runs_total", project="p-1") == 0
            assert value(got, "vidasm_runs", project="p-1", state="queued") == 0
            assert value(got, "vidasm_runs", project="p-1", state="in_progress") == 0
            assert value(got, "vidasm_metrics_catching_up") == 0

            # a truncated render: the shot's run fails, both its steps with it
            good = (folder / "03_Renders" / "s1" / "s1_v001.mp4").read_bytes()
            (folder / "03_Renders" / "s1" / "s1_v002.mp4").write_bytes(good[: len(good) // 2])
            assert not all(o.success for o in build_workspace(instance, ws))
            failures = instance.fetch_run_status_changes(dg.DagsterEventType.RUN_FAILURE, limit=100).records
            again = scrape(url)
            assert value(again, "vidasm_failed_runs_total", project="p-1") == len(failures) == 1
            assert value(again, "vidasm_failed_steps_total", project="p-1", kind="picture") == 1
            assert value(again, "vidasm_failed_steps_total", project="p-1", kind="audio") == 1
            # read once, counted once: nothing new was materialized, so the totals stand
            for name in ("vidasm_ffmpeg_seconds_total", "vidasm_materializations_total"):
                assert value(again, name, project="p-1", kind="picture") == value(got, name, project="p-1",
                                                                                  kind="picture")  # fmt: skip

            # runs of the project's job, without vidasm's tags (as the UI launches them; found by the job's name):
            # one created and not launched yet (waiting), one started (no process runs it: nothing else changes)
            job = build_definitions(ws).resolve_job_def(n.assemble_job_name("p-1"))
            waiting = instance.create_run_for_job(job)
            started = instance.create_run_for_job(job, status=dg.DagsterRunStatus.STARTED)
            live = scrape(url)
            assert value(live, "vidasm_runs", project="p-1", state="queued") == 1
            assert value(live, "vidasm_runs", project="p-1", state="in_progress") == 1
            assert value(live, "vidasm_failed_runs_total", project="p-1") == 1  # each failure counted once
            for run in (waiting, started):
                instance.delete_run(run.run_id)
            done = scrape(url)
            assert value(done, "vidasm_runs", project="p-1", state="queued") == 0
            assert value(done, "vidasm_runs", project="p-1", state="in_progress") == 0
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
            try:
                stopped = proc.wait(timeout=30)
            finally:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        assert stopped == 0, log.read_text()  # SIGTERM: a clean stop


def test_metrics_port_taken_is_one_line(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        out = subprocess.run([str(BIN / "vidasm"), "metrics", "--port", str(port)], cwd=tmp_path,
                             env={**os.environ, "DAGSTER_HOME": str(tmp_path / "home")}, capture_output=True,
                             text=True, timeout=120, start_new_session=True)  # fmt: skip
    assert out.returncode == 2, out.stderr
    assert f"vidasm metrics cannot listen on 127.0.0.1:{port}" in out.stderr and "Traceback" not in out.stderr
