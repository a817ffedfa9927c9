"""Render nodes: the steps of every run executed on Celery workers (dagster-celery), opt-in.

Nothing here is used unless ``VIDASM_EXECUTOR=celery``: by default runs execute in process (``vidasm build``,
the daemon's run workers). With it, the definitions' executor is ``dagster_celery.celery_executor`` and each step
of a run (a shot's picture, its audio, a segment, the cut...) becomes a Celery task that a worker on any render
node picks up (``vidasm worker``). The process that orchestrates the run (the daemon's run worker, ``dagster job
execute``) still claims the ``ffmpeg`` pool slots in the instance's database before it sends a step, so the pool
limit holds across all nodes; a node's own ``--concurrency`` only says how many steps it takes at once.

A worker that dies mid-step (a node lost, ``kill -9``): tasks are acknowledged late
(``task_acks_late``, ``task_reject_on_worker_lost``), so the message of the step it was running stays unacknowledged
in Redis and goes back to the queue after the broker's visibility timeout (``VIDASM_CELERY_VISIBILITY_TIMEOUT``,
default 3600 s); another worker then runs the step again within the same run. The timeout must be longer than the
longest step, or a step still running is handed to a second worker as well (both write the same output through
temporary names, so the result is still right, but the work is done twice). Nothing half-written counts: the dead
step's FFmpeg dies with it (parent-death signal) and leaves only a temporary file that the next build removes.

Settings, read when the definitions are built (the code location loads), never at import:

- ``VIDASM_EXECUTOR``: ``in_process`` (default) or ``celery``;
- ``VIDASM_CELERY_BROKER``: the broker URL (``redis://HOST:6379/0`` or ``amqp://...``), needed with ``celery``;
- ``VIDASM_CELERY_BACKEND``: the result backend (default: the broker for Redis, ``rpc://`` for AMQP);
- ``VIDASM_CELERY_QUEUE``: the queue steps are sent to (default ``dagster``, dagster-celery's);
- ``VIDASM_CELERY_VISIBILITY_TIMEOUT``: seconds before a dead worker's step is handed out again (Redis).
"""

from __future__ import annotations

import os
import re
import socket
import sys
from pathlib import Path
from typing import Any

import dagster as dg

from .media.errors import SettingsError, ToolNotFoundError, VidasmError

EXECUTOR_ENV = "VIDASM_EXECUTOR"
BROKER_ENV = "VIDASM_CELERY_BROKER"
BACKEND_ENV = "VIDASM_CELERY_BACKEND"
QUEUE_ENV = "VIDASM_CELERY_QUEUE"
VISIBILITY_ENV = "VIDASM_CELERY_VISIBILITY_TIMEOUT"
EXECUTORS = ("in_process", "celery")
DEFAULT_QUEUE = "dagster"
"""dagster-celery's own queue name: workers started by other means (``dagster-celery worker start``) listen on it."""
DEFAULT_VISIBILITY_TIMEOUT_S = 3600
BROKER_CONNECT_TIMEOUT_S = 3
CELERY_APP = "dagster_celery.app"
CONFIG_MODULE = "dagster_celery_config"
"""The module dagster-celery's app (``dagster_celery.app``) imports its settings from, when it is on the path."""


class BrokerUnreachableError(VidasmError, ConnectionError):
    """The Celery broker (Redis, RabbitMQ) cannot be reached."""


def safe_url(url: str) -> str:
    """A URL without its password."""
    return re.sub(r"(://[^:/@]*):[^@]*@", r"\1:***@", url)


def executor_choice() -> str:
    """``VIDASM_EXECUTOR``, checked: ``in_process`` (also when unset) or ``celery``."""
    choice = (os.environ.get(EXECUTOR_ENV) or "in_process").strip().lower().replace("-", "_")
    if choice not in EXECUTORS:
        raise SettingsError(f"{EXECUTOR_ENV}={choice!r} is not an executor: use one of {', '.join(EXECUTORS)}")
    return choice


def visibility_timeout() -> int:
    raw = os.environ.get(VISIBILITY_ENV) or str(DEFAULT_VISIBILITY_TIMEOUT_S)
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if value < 1:
        raise SettingsError(f"{VISIBILITY_ENV}={raw!r} is not a number of seconds (at least 1)")
    return value


def celery_settings(queue: str, visibility_timeout_s: int) -> dict[str, Any]:
    """Celery settings shared by the orchestrating side and the workers (``config_source``)."""
    return {
        # a step's message is acknowledged when the step ends, so a worker that dies mid-step gives it back
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        # one step at a time per worker process: a long encode never holds a second step hostage
        "worker_prefetch_multiplier": 1,
        "task_default_queue": queue,
        "broker_transport_options": {
            "visibility_timeout": visibility_timeout_s,
            # how often a worker looks for the messages of dead workers (kombu's default: every 100 s)
            "unacked_restore_interval": max(1, min(10, visibility_timeout_s // 4)),
            "unacked_restore_throttle": 1,
            # dagster-celery's defaults: give up on an unreachable broker quickly
            "max_retries": 3,
            "interval_start": 0,
            "interval_step": 0.2,
            "interval_max": 0.5,
        },
    }


def default_backend(broker: str) -> str:
    """Results go back through Redis when the broker is Redis (reliable across restarts of the orchestrator),
    else through the broker's reply queues (``rpc://``)."""
    return broker if broker.startswith(("redis://", "rediss://")) else "rpc://"


def executor_def() -> dg.ExecutorDefinition:
    """The executor of every job, from ``VIDASM_EXECUTOR`` (read now, when the definitions are built)."""
    if executor_choice() == "in_process":
        # Steps run inside the run worker: FFmpeg does the heavy lifting in its own process anyway, and a
        # subprocess per step would add seconds of Python start-up to every shot (see BENCHMARKS.md).
        return dg.in_process_executor
    if not os.environ.get(BROKER_ENV):
        raise SettingsError(
            f"{EXECUTOR_ENV}=celery needs the broker URL: export {BROKER_ENV} (e.g. redis://127.0.0.1:6379/0)"
        )
    from dagster_celery import celery_executor

    backend: Any = {"env": BACKEND_ENV} if os.environ.get(BACKEND_ENV) else default_backend(os.environ[BROKER_ENV])
    if backend == os.environ[BROKER_ENV]:
        backend = {"env": BROKER_ENV}  # the URL itself stays in the environment, not in the run's config
    queue = os.environ.get(QUEUE_ENV) or DEFAULT_QUEUE
    return celery_executor.configured(
        {
            "broker": {"env": BROKER_ENV},
            "backend": backend,
            "config_source": celery_settings(queue, visibility_timeout()),
        },
        name="vidasm_celery",
    )


def check_broker(url: str, timeout_s: float = BROKER_CONNECT_TIMEOUT_S) -> None:
    """Connect to the broker once, quickly; ``BrokerUnreachableError`` names the URL (password hidden)."""
    from kombu import Connection

    try:
        with Connection(url, connect_timeout=timeout_s) as conn:
            conn.ensure_connection(max_retries=1, interval_start=0, interval_step=0, timeout=timeout_s)
    except Exception as exc:  # kombu raises the transport's own errors (redis, amqp, socket)
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise BrokerUnreachableError(f"cannot reach the Celery broker at {safe_url(url)}: {reason}") from exc


def worker_name(name: str | None = None) -> str:
    """Celery's node name: ``NAME@host`` (default: ``vidasm@host``)."""
    return f"{name or 'vidasm'}@{socket.gethostname()}"


def write_worker_config(folder: Path, broker: str, backend: str, settings: dict[str, Any]) -> Path:
    """``folder/dagster_celery_config.py``: what ``dagster_celery.app`` reads (broker, backend, settings). The
    broker URL may hold a password: the folder is the owner's only (0700) and the file 0600, created so (never
    readable by others for an instant), since DAGSTER_HOME often sits on shared storage."""
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    folder.chmod(0o700)
    lines = ["# written by `vidasm worker`: dagster_celery.app imports it\n"]
    lines.append(f"broker_url = {broker!r}\n")
    lines.append(f"result_backend = {backend!r}\n")
    lines += [f"{key} = {value!r}\n" for key, value in settings.items()]
    path = folder / f"{CONFIG_MODULE}.py"
    tmp = path.with_name(f".{path.name}.{os.getpid()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write("".join(lines))
    os.chmod(tmp, 0o600)  # an older file of this name may have had wider rights: O_CREAT keeps them
    os.replace(tmp, path)
    return folder


def celery_exe() -> str:
    """The ``celery`` of this Python environment (the one vidasm runs in), named explicitly, never from PATH."""
    exe = Path(sys.executable).with_name("celery")
    if not exe.exists():
        raise ToolNotFoundError(f"celery is not installed next to {sys.executable}: pip install dagster-celery")
    return str(exe)


def worker_argv(queues: list[str], concurrency: int, name: str, loglevel: str = "INFO") -> list[str]:
    """The Celery worker's command line. Queues are joined with commas: ``-Q a -Q b`` listens on ``b`` only."""
    return [
        celery_exe(),
        "-A",
        CELERY_APP,
        "worker",
        "--prefetch-multiplier=1",
        "--loglevel",
        loglevel,
        "-Q",
        ",".join(queues),
        "-c",
        str(concurrency),
        "-n",
        name,
    ]


def split_queues(values: list[str] | None) -> list[str]:
    """``-q a,b -q c`` -> ``[a, b, c]`` (default: ``VIDASM_CELERY_QUEUE`` or ``dagster``), each checked."""
    queues = [q.strip() for v in values or [] for q in v.split(",") if q.strip()]
    queues = queues or [os.environ.get(QUEUE_ENV) or DEFAULT_QUEUE]
    for q in queues:
        if not re.fullmatch(r"[A-Za-z0-9_.-]+", q):
            raise SettingsError(f"queue name {q!r}: use letters, digits, '_', '.', '-'")
    return list(dict.fromkeys(queues))
