"""The ``ffmpeg`` pool where Dagster's own bookkeeping of it races.

Every FFmpeg-running asset is in the Dagster pool ``ffmpeg`` (``assets.scope``): a step claims a slot of it in the
instance's database before it starts. Two races in that bookkeeping (Dagster 1.13.27, measured here) are handled:

1. **First use, PostgreSQL.** The pool's row is created by the first step that claims it
   (``initialize_concurrency_limit_to_default``). Runs that start side by side on a fresh instance (a backfill, a
   farm) all try to insert it; the losers' insert fails, PostgreSQL aborts their transaction, and the step fails
   with ``UniqueViolation ... concurrency_limits_concurrency_key_key``. ``ensure_pool`` creates the row once before
   runs start side by side (``vidasm build``, ``vidasm worker``).
2. **Every claim.** A claim reads a free slot, then writes its run id into it. On SQLite ``SELECT ... FOR
   UPDATE`` is ignored and pysqlite starts no transaction for a SELECT; on PostgreSQL the claim's connection does
   not hold the row lock until its write either. Two processes that claim at the same instant both get the last
   slot: with a pool of 1, two FFmpeg steps of ``vidasm build -j 4`` ran at once in 2 builds of 10 (SQLite, 2
   cores, one busy), and two steps of four Celery runs at once on PostgreSQL overlapped in one CI run.
   ``HostSlots`` backs the pool with ``flock`` slots in the instance's folder: at most the pool's limit of FFmpeg
   commands at once on this host (on every host sharing the folder, where it is on shared storage that honours
   flock, e.g. NFSv4), whatever Dagster's claim table says. Nodes with their own DAGSTER_HOME folder are bounded
   each at the limit, not together.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import dagster as dg

SLOTS_DIR = "vidasm-pool-slots"
POLL_S = 0.1


def ensure_pool(instance: dg.DagsterInstance, pool: str) -> None:
    """Create ``pool``'s limit row at the instance's ``concurrency.pools.default_limit`` unless it exists (or was
    set with ``dagster instance concurrency set``): what Dagster does on a step's first claim, done once here so
    runs started side by side do not race to insert it. No default limit: nothing to create."""
    storage = instance.event_log_storage
    default = instance.global_op_concurrency_default_limit
    if not storage.supports_global_concurrency_limits or default is None:
        return
    current = {p.name: p for p in storage.get_pool_limits()}.get(pool)
    if current is not None and (not current.from_default or current.limit == default):
        return
    try:
        storage.initialize_concurrency_limit_to_default(pool)
    except Exception:  # another process created it between our read and our insert: that is all we wanted
        if pool not in {p.name for p in storage.get_pool_limits()}:
            raise


@dataclass(frozen=True)
class HostSlots:
    """``limit`` advisory-lock slots of one pool on this host: ``<folder>/<pool>.<i>.lock``, ``i < limit``. A
    slot is held by ``flock`` for one FFmpeg command and released by the kernel however its holder exits."""

    folder: Path
    pool: str
    limit: int

    @contextlib.contextmanager
    def hold(self, on_wait: Callable[[str], None] | None = None) -> Iterator[int]:
        """Hold a free slot for the block (yields its index); all busy: call ``on_wait`` once with a line saying
        so, then poll every ``POLL_S`` s (an interrupt stays prompt)."""
        self.folder.mkdir(parents=True, exist_ok=True)
        fds = [os.open(self.folder / f"{self.pool}.{i}.lock", os.O_RDWR | os.O_CREAT, 0o666) for i in range(self.limit)]
        held = -1
        try:
            told = False
            while held < 0:
                for i, fd in enumerate(fds):
                    try:
                        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    except BlockingIOError:
                        continue
                    held = i
                    break
                else:
                    if not told and on_wait is not None:
                        on_wait(f"waiting for one of this host's {self.limit} slot(s) of pool {self.pool!r}")
                        told = True
                    time.sleep(POLL_S)
            yield held
        finally:
            for fd in fds:
                os.close(fd)  # closing releases the slot held


def host_slots(instance: dg.DagsterInstance, pool: str) -> HostSlots | None:
    """The host slots backing ``pool`` (see the module's note), sized to the pool's limit, in the instance's
    folder; None on an in-memory instance or when the pool has no limit."""
    storage = instance.event_log_storage
    if not storage.supports_global_concurrency_limits:  # an in-memory instance
        return None
    ensure_pool(instance, pool)
    limit = storage.get_concurrency_info(pool).slot_count
    if limit <= 0:
        return None
    return HostSlots(Path(instance.root_directory) / SLOTS_DIR, pool, limit)
