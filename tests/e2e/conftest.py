"""Fixtures of the end-to-end tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from ..support.builds import Procs


@pytest.fixture
def procs() -> Iterator[Procs]:
    """Processes a test starts (``Procs.start``), each killed by process group when the test ends, however."""
    p = Procs()
    try:
        yield p
    finally:
        p.stop_all()
