"""A throwaway database on the local PostgreSQL server (127.0.0.1:5432, user postgres, trust auth)."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator

import psycopg2
import pytest

PG = {"host": "127.0.0.1", "port": 5432, "user": "postgres", "dbname": "test"}


@contextlib.contextmanager
def fresh_database(prefix: str = "vidasm_e2e") -> Iterator[str]:
    """A new database's URL, dropped afterwards (with its connections), even on failure."""
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    try:
        conn = psycopg2.connect(**PG)
    except psycopg2.OperationalError as exc:  # pragma: no cover - the CI machine runs PostgreSQL
        pytest.fail(f"PostgreSQL is not reachable at 127.0.0.1:5432 ({exc}); start it (see README)")
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"postgresql://postgres@127.0.0.1:5432/{name}"
    finally:
        with conn.cursor() as cur:
            cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.close()
