"""Is the instance's PostgreSQL reachable? Asked once, quickly, before Dagster is.

dagster-postgres retries a refused connection for about 15 s and then fails with hundreds of lines of
traceback. ``check_instance_storage`` reads ``DAGSTER_HOME/dagster.yaml`` itself, resolves the settings it names
(``VIDASM_PG_URL`` or ``DAGSTER_PG_*``) and connects once with a short timeout, so ``vidasm build`` and ``vidasm
status`` say in one line what could not be reached and which setting to check. SQLite instances are not touched.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

from .media.errors import StorageUnreachableError

CONNECT_TIMEOUT_S = 3
"""libpq's ``connect_timeout``: a host that drops packets answers nothing; 3 s is long for a LAN."""

_FIELDS = {"username": "user", "password": "password", "hostname": "host", "db_name": "dbname", "port": "port"}


def _postgres_configs(node: Any) -> Iterator[dict[str, Any]]:
    """Every mapping holding ``postgres_url`` or ``postgres_db`` (``storage: postgres:``, or the older
    ``run_storage``/``event_log_storage``/``schedule_storage`` ``config:`` blocks)."""
    if isinstance(node, dict):
        if "postgres_url" in node or "postgres_db" in node:
            yield node
            return
        for value in node.values():
            yield from _postgres_configs(value)


def _value(value: Any, cfg: Path, what: str, used: list[str]) -> str | None:
    """A setting as dagster.yaml gives it: literal, or ``{env: NAME}`` (then NAME must be set)."""
    if isinstance(value, dict) and "env" in value:
        name = str(value["env"])
        used.append(name)
        got = os.environ.get(name)
        if not got:
            example = " (e.g. postgresql://postgres@127.0.0.1:5432/vidasm)" if what == "URL" else ""
            raise StorageUnreachableError(
                f"PostgreSQL {what} is not set: export {name}{example}; {cfg} reads it", path=cfg
            )
        return got
    return None if value is None else str(value)


def _safe(url: str) -> str:
    """A URL without its password."""
    return re.sub(r"(://[^:/@]+):[^@]*@", r"\1:***@", url)


def uses_postgres(home: Path) -> bool:
    """Does ``home/dagster.yaml`` put the instance on PostgreSQL (what several processes on several machines can
    share; SQLite cannot be)?"""
    try:
        data = yaml.safe_load((home / "dagster.yaml").read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError, UnicodeDecodeError):
        return False
    return any(True for _ in _postgres_configs(data))


def check_instance_storage(home: Path) -> None:
    """Raise ``StorageUnreachableError`` (one line: what, where, which setting) when the instance's PostgreSQL
    cannot be reached; return at once for any other storage."""
    cfg = home / "dagster.yaml"
    try:
        data = yaml.safe_load(cfg.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError, UnicodeDecodeError):
        return  # Dagster says what is wrong with the file itself
    for pg in _postgres_configs(data):
        used: list[str] = []
        if "postgres_url" in pg:
            url = _value(pg["postgres_url"], cfg, "URL", used) or ""
            target = _safe(url)
            kwargs: dict[str, Any] = {"dsn": re.sub(r"^postgres(?:ql)?\+\w+://", "postgresql://", url)}
        else:
            db = pg.get("postgres_db") or {}
            kwargs = {}
            for key, arg in _FIELDS.items():
                if key in db:
                    value = _value(db[key], cfg, key.replace("_", " "), used)
                    if value is not None:
                        kwargs[arg] = value
            target = f"{kwargs.get('host', 'localhost')}:{kwargs.get('port', 5432)}/{kwargs.get('dbname', '')}"
        settings = ", ".join(used) if used else f"the postgres settings in {cfg}"
        _connect(kwargs, target, settings, cfg)


def _connect(kwargs: dict[str, Any], target: str, settings: str, cfg: Path) -> None:
    import psycopg2

    try:
        conn = psycopg2.connect(connect_timeout=CONNECT_TIMEOUT_S, **kwargs)
    except psycopg2.Error as exc:
        # libpq: 'connection to server at "h", port 1 failed: Connection refused' + a hint line, or
        # '... failed: FATAL:  database "x" does not exist'
        lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
        first = lines[0] if lines else type(exc).__name__
        reason = re.sub(r"^FATAL:\s*", "", first.rsplit("failed: ", 1)[-1])
        raise StorageUnreachableError(
            f"cannot reach the instance's PostgreSQL at {target}: {reason} (check {settings}; DAGSTER_HOME uses it "
            f"through {cfg})",
            path=cfg,
        ) from exc
    conn.close()
