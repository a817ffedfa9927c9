"""Where the projects live."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
from pydantic import Field

from ..media.project import Project, load_project
from ..settings import DEFAULT_WORKSPACE


class WorkspaceResource(dg.ConfigurableResource):
    """The workspace root (``VIDASM_WORKSPACE``); project.json is re-read on every use, never cached."""

    root: str = Field(default=str(DEFAULT_WORKSPACE), description="Folder holding one sub-folder per project.")
    settle_seconds: int = Field(
        default=10, description="A render counts only once its size and mtime were still this long (sensor)."
    )
    webserver_url: str | None = Field(
        default=None,
        description="The Dagster webserver (VIDASM_WEBSERVER_URL): the sensor asks it to reload the code location "
        "when a new project folder appears. Unset: the tick log asks you to reload.",
    )

    path = property(lambda self: Path(self.root).resolve(), doc="The workspace root, absolute.")

    def project(self, name: str) -> Project:
        return load_project(self.path, name)
