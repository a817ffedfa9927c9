"""A real ``dagster dev`` for end-to-end tests, started in its own process group and stopped by it, and the GraphQL
queries the tests read it with."""

from __future__ import annotations

import contextlib
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
def dagster_dev(env: dict[str, str], cwd: Path, port: int, log: Path) -> Iterator[str]:
    url = f"http://127.0.0.1:{port}"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [str(BIN / "dagster"), "dev", "-m", "vidasm_assets.definitions", "-h", "127.0.0.1", "-p", str(port)],
            env=env, cwd=cwd, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
        )  # fmt: skip
        try:
            deadline = time.monotonic() + 180
            while True:
                if proc.poll() is not None:
                    raise AssertionError(f"dagster dev exited early:\n{log.read_text()[-3000:]}")
                with contextlib.suppress(requests.RequestException):
                    if requests.get(f"{url}/server_info", timeout=2).ok:
                        graphql(url, "{ version }")
                        break
                if time.monotonic() > deadline:
                    raise AssertionError(f"dagster dev did not come up:\n{log.read_text()[-3000:]}")
                time.sleep(1)
            yield url
        finally:
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


def active_runs(url: str) -> list[dict]:
    return graphql(url, ACTIVE_RUNS)["runsOrError"]["results"]


def failed_runs(url: str) -> list[str]:
    out = []
    for run in graphql(url, FAILED_RUNS)["runsOrError"]["results"]:
        data = graphql(url, RUN_EVENTS, {"id": run["runId"]})["runOrError"]
        msgs = [e["message"] for e in data["eventConnection"]["events"] if "Failure" in e["__typename"]]
        out.append(f"{run['jobName']} {run['runId']}: {msgs[-3:]}")
    return out
