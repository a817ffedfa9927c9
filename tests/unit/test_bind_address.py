"""Who may use it: every webserver vidasm starts or documents listens on 127.0.0.1 only (Dagster's OSS webserver
has no login; a team reaches it through an authenticating proxy, ``deploy/nginx-vidasm.conf``)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from vidasm_assets import cli

REPO = Path(__file__).resolve().parents[2]
# a host flag and its value: `-h 127.0.0.1`, `--host=0.0.0.0`, or in an argv list `"-h", "127.0.0.1"`
HOST_FLAG = re.compile(r"""(?:^|[\s"'\[,])(?:-h|--host)(?:\s+|=|["'],\s*["'])([^\s"',\]]+)""")
STARTS_WEBSERVER = re.compile(r"dagster(?:-webserver|\s+dev\b)|\"dev\"|dagster_webserver")


def test_vidasm_ui_binds_loopback(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[list[str], dict]] = []
    kwargs: list[dict] = []
    monkeypatch.setattr(cli.subprocess, "call",
                        lambda argv, env, **kw: calls.append((argv, env)) or kwargs.append(kw) or 0)  # fmt: skip
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("VIDASM_WEBSERVER_URL", raising=False)
    result = CliRunner().invoke(cli.app, ["ui", "-w", str(tmp_path / "ws"), "--port", "3123"])
    assert result.exit_code == 0, result.output
    ((argv, env),) = calls
    assert argv[1:3] == ["dev", "-m"]
    assert argv[argv.index("-h") + 1] == "127.0.0.1" and argv[argv.index("-p") + 1] == "3123"
    assert env["VIDASM_WEBSERVER_URL"] == "http://127.0.0.1:3123"
    assert kwargs == [{"preexec_fn": cli._default_sigint}]  # SIGTERM stops it even as a background job (e2e test)


def sources() -> list[Path]:
    files = [REPO / "README.md", REPO / "BENCHMARKS.md", *(REPO / "deploy").glob("*")]
    for folder, pattern in (("scripts", "*.sh"), ("bench", "*.py"), ("vidasm_assets", "**/*.py"), ("tests", "**/*.py")):
        files += (REPO / folder).glob(pattern)
    return [f for f in files if f.is_file()]


def test_every_webserver_command_binds_loopback() -> None:
    """The README's deployment example once bound 0.0.0.0: no webserver command line, in the docs, scripts,
    benchmarks, package or tests, names another address than 127.0.0.1."""
    seen = []
    for path in sources():
        for number, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
            if not STARTS_WEBSERVER.search(line):
                continue
            for host in HOST_FLAG.findall(line):
                seen.append(f"{path.relative_to(REPO)}:{number}")
                assert host == "127.0.0.1", f"{path.relative_to(REPO)}:{number} binds {host}: {line.strip()}"
    # the scan does find them: the README's services, vidasm ui, the tests' dagster dev
    assert any(s.startswith("README.md:") for s in seen) and any(s.startswith("vidasm_assets/cli.py:") for s in seen)
    assert any(s.startswith("tests/support/dagster_dev.py:") for s in seen), seen
