"""Render-node settings (farm.py): the executor switch, the worker's command line and its Celery settings."""

from __future__ import annotations

import importlib.util
import socket
from pathlib import Path

import dagster as dg
import pytest

from vidasm_assets import farm
from vidasm_assets.definitions import build_definitions
from vidasm_assets.media.errors import SettingsError


def test_in_process_by_default_and_celery_only_when_asked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(farm.EXECUTOR_ENV, raising=False)
    assert build_definitions(tmp_path).executor is dg.in_process_executor
    monkeypatch.setenv(farm.EXECUTOR_ENV, "celery")
    monkeypatch.setenv(farm.BROKER_ENV, "redis://127.0.0.1:6379/0")
    executor = build_definitions(tmp_path).executor
    assert executor is not None and executor.name == "vidasm_celery"
    monkeypatch.setenv(farm.EXECUTOR_ENV, "dask")
    with pytest.raises(SettingsError, match="VIDASM_EXECUTOR='dask' is not an executor"):
        build_definitions(tmp_path)


def test_celery_without_a_broker_says_which_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(farm.EXECUTOR_ENV, "celery")
    monkeypatch.delenv(farm.BROKER_ENV, raising=False)
    with pytest.raises(SettingsError, match="export VIDASM_CELERY_BROKER"):
        farm.executor_def()


def test_queues_are_comma_joined_for_celery() -> None:
    queues = farm.split_queues(["farm,gpu", "farm", " night "])
    assert queues == ["farm", "gpu", "night"]
    argv = farm.worker_argv(queues, 3, "n1@host")
    assert argv[argv.index("-Q") + 1] == "farm,gpu,night" and argv.count("-Q") == 1
    assert argv[argv.index("-c") + 1] == "3" and argv[:4] == [farm.celery_exe(), "-A", "dagster_celery.app", "worker"]
    assert Path(argv[0]).parent == Path(farm.celery_exe()).parent  # this environment's celery, not PATH's
    with pytest.raises(SettingsError, match="queue name"):
        farm.split_queues(["a b"])


def test_worker_config_module_is_what_dagster_celery_reads(tmp_path: Path) -> None:
    settings = farm.celery_settings("farm", 30)
    folder = farm.write_worker_config(tmp_path, "redis://h:6379/0", "redis://h:6379/0", settings)
    spec = importlib.util.spec_from_file_location("cfg", folder / f"{farm.CONFIG_MODULE}.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.broker_url == "redis://h:6379/0" and module.task_acks_late is True
    assert module.task_reject_on_worker_lost is True and module.task_default_queue == "farm"
    options = module.broker_transport_options
    assert options["visibility_timeout"] == 30 and options["unacked_restore_interval"] <= 30


def test_an_unreachable_broker_is_one_line_naming_the_url() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed once the block ends: nothing listens there
    url = f"redis://user:secret@127.0.0.1:{port}/0"
    with pytest.raises(farm.BrokerUnreachableError) as err:
        farm.check_broker(url, timeout_s=1)
    text = str(err.value)
    assert f"127.0.0.1:{port}" in text and "secret" not in text and "\n" not in text


def test_visibility_timeout_is_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(farm.VISIBILITY_ENV, "soon")
    with pytest.raises(SettingsError, match="VIDASM_CELERY_VISIBILITY_TIMEOUT='soon'"):
        farm.visibility_timeout()


def test_the_worker_config_holding_the_broker_password_is_the_owners_only(tmp_path: Path) -> None:
    """The broker URL may carry a password and DAGSTER_HOME often sits on shared storage: the file is 0600 in a
    0700 folder, also when an older copy of it was world-readable."""
    import stat

    folder = tmp_path / "celery" / "vidasm_host"
    folder.mkdir(parents=True)
    (folder / f"{farm.CONFIG_MODULE}.py").write_text("old")
    (folder / f"{farm.CONFIG_MODULE}.py").chmod(0o644)
    folder.chmod(0o755)
    farm.write_worker_config(folder, "amqp://guest:s3cret@h:5672//", "rpc://", farm.celery_settings("farm", 30))
    path = folder / f"{farm.CONFIG_MODULE}.py"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600 and stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert "s3cret" in path.read_text() and not [p for p in folder.iterdir() if p.name.startswith(".")]
