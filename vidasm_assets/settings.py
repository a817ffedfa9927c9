"""Where things are: the workspace root and the Dagster instance home, and the instance's dagster.yaml, written
from data. One place for each default; the CLI passes what it resolved as arguments, never through
``os.environ`` (only ``vidasm ui``'s child process gets them as its environment).
"""

from __future__ import annotations

import os
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

DEFAULT_WORKSPACE = Path("workspace")
"""The workspace root when neither ``-w`` nor ``VIDASM_WORKSPACE`` says: ``./workspace``."""
DEFAULT_HOME = Path(".dagster_home")
"""The Dagster instance home when ``DAGSTER_HOME`` is unset: ``./.dagster_home`` (SQLite)."""
INSTANCE_CONFIGS = {
    "sqlite": "dagster.yaml",
    "postgres": "dagster.postgres.yaml",
    "postgres-env": "dagster.postgres-env.yaml",
}
"""Packaged instance configs (``vidasm_assets/instance/``; the repository's top-level copies are the same)."""


def workspace_root(explicit: Path | str | None = None) -> Path:
    """``explicit``, else ``VIDASM_WORKSPACE``, else ``./workspace``; absolute."""
    return Path(explicit or os.environ.get("VIDASM_WORKSPACE") or DEFAULT_WORKSPACE).resolve()


def home_dir(explicit: Path | str | None = None) -> Path:
    """``explicit``, else ``DAGSTER_HOME``, else ``./.dagster_home``; absolute."""
    return Path(explicit or os.environ.get("DAGSTER_HOME") or DEFAULT_HOME).resolve()


def instance_config(kind: str = "sqlite", *, pool_limit: int | None = None) -> dict[str, Any]:
    """A packaged instance config as data, with the ``ffmpeg`` pool sized to ``pool_limit`` (default: this
    machine's cores: x264 already uses ~1.7 cores per encode, so more would only queue; media findings)."""
    text = resources.files("vidasm_assets").joinpath(f"instance/{INSTANCE_CONFIGS[kind]}").read_text()
    config = yaml.safe_load(text) or {}
    pools = config.setdefault("concurrency", {}).setdefault("pools", {})
    pools["default_limit"] = pool_limit or os.cpu_count() or 2
    return config


def write_instance_config(home: Path, kind: str = "sqlite", *, force: bool = False) -> Path | None:
    """Write ``home/dagster.yaml`` from ``instance_config``; None (nothing written) when one exists and not
    ``force``."""
    home.mkdir(parents=True, exist_ok=True)
    cfg = home / "dagster.yaml"
    if cfg.exists() and not force:
        return None
    header = f'# vidasm\'s Dagster instance ({kind}); see README "Configuration". Written by vidasm.\n'
    cfg.write_text(header + yaml.safe_dump(instance_config(kind), sort_keys=False))
    return cfg


def dagster_home(explicit: Path | str | None = None) -> Path:
    """The instance home (``home_dir``), created with vidasm's SQLite dagster.yaml if it has none."""
    home = home_dir(explicit)
    write_instance_config(home)
    return home
