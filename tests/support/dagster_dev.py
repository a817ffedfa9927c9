"""A real ``dagster dev`` for end-to-end tests, started in its own process group and stopped by it, and the GraphQL
queries the tests read it with."""

from __future__ import annotations

import contextlib
import ipaddress
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import requests

from vidasm_assets.backfill import graphql

BIN = Path(sys.executable).parent


ACTIVE_RUNS = """
query { runsOrError(filter: {statuses: [QUEUED, NOT_STARTED, STARTING, STARTED]}) {
  __typename ... on Runs { results { runId jobName } } } }
"""


FAILED_RUNS = """
query { runsOrError(filter: {statuses: [FAILURE]}) { __typename ... on Runs { results { runId jobName } } } }
"""


RUN_EVENTS = """
query Events($id: ID!) { runOrError(runId: $id) { __typename ... on Run { jobName
  eventConnection(limit: 200) { events { __typename message } } } } }
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def process_group(argv: list[str], log: Path, env: dict[str, str] | None = None, cwd: Path | None = None,
                  ) -> Iterator[subprocess.Popen]:  # fmt: skip
    """Start ``argv`` in a session (and process group) of its own, its output to ``log``; on leaving, even on
    failure, stop the whole group: SIGTERM, then SIGKILL to whatever is left (children included)."""
    with open(log, "wb") as out:
        proc = subprocess.Popen(argv, env=env, cwd=cwd, stdout=out, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)  # fmt: skip
        try:
            yield proc
        finally:
            stop_group(proc)


def stop_group(proc: subprocess.Popen) -> None:
    for sig in (signal.SIGTERM, signal.SIGKILL):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)
        try:
            proc.wait(timeout=15)
            break
        except subprocess.TimeoutExpired:
            continue
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)


def wait_for_webserver(url: str, proc: subprocess.Popen, log: Path, what: str, timeout: float = 180) -> None:
    """Until the webserver at ``url`` answers GraphQL; its process exiting first is a failure, with its log."""
    deadline = time.monotonic() + timeout
    while True:
        if proc.poll() is not None:
            raise AssertionError(f"{what} exited early:\n{log.read_text()[-3000:]}")
        with contextlib.suppress(requests.RequestException):
            if requests.get(f"{url}/server_info", timeout=2).ok:
                graphql(url, "{ version }")
                return
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} did not come up:\n{log.read_text()[-3000:]}")
        time.sleep(1)


@contextlib.contextmanager
def dagster_dev(env: dict[str, str], cwd: Path, port: int, log: Path) -> Iterator[str]:
    url = f"http://127.0.0.1:{port}"
    argv = [str(BIN / "dagster"), "dev", "-m", "vidasm_assets.definitions", "-h", "127.0.0.1", "-p", str(port)]
    with process_group(argv, log, env=env, cwd=cwd) as proc:
        wait_for_webserver(url, proc, log, "dagster dev")
        yield url


def listening_addresses(port: int) -> set[str]:
    """The local addresses with a TCP socket listening on ``port`` (IPv4 and IPv6), from /proc/net/tcp*."""
    out = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(FileNotFoundError), open(table) as f:
            for line in list(f)[1:]:
                local, state = line.split()[1], line.split()[3]
                addr, hex_port = local.split(":")
                if state == "0A" and int(hex_port, 16) == port:  # 0A: LISTEN
                    raw = bytes.fromhex(addr)
                    # the kernel prints each 32-bit word in host (little-endian) order
                    words = b"".join(raw[i : i + 4][::-1] for i in range(0, len(raw), 4))
                    out.add(str(ipaddress.ip_address(words)))
    return out


def active_runs(url: str) -> list[dict]:
    return graphql(url, ACTIVE_RUNS)["runsOrError"]["results"]


def failed_runs(url: str) -> list[str]:
    out = []
    for run in graphql(url, FAILED_RUNS)["runsOrError"]["results"]:
        data = graphql(url, RUN_EVENTS, {"id": run["runId"]})["runOrError"]
        msgs = [e["message"] for e in data["eventConnection"]["events"] if "Failure" in e["__typename"]]
        out.append(f"{run['jobName']} {run['runId']}: {msgs[-3:]}")
    return out
