"""Asset, group, job and partition names: one place, so the CLI, sensor and tests agree."""

from __future__ import annotations

import dagster as dg

SOURCES_GROUP = "sources"
SHOTS_GROUP = "shots"
EDITORIAL_GROUP = "editorial"
ASSEMBLY_GROUP = "assembly"
DELIVERY_GROUP = "delivery"

FFMPEG_POOL = "ffmpeg"

RENDER = "render"
PICTURE_SPEC = "picture_spec"
AUDIO_SPEC = "audio_spec"
EDIT_SPEC = "edit_spec"
PICTURE = "picture"
AUDIO = "audio"
TIMELINE = "timeline"
CUT = "cut"
EDL = "edl"
OTIO = "otio"
DELIVERY_PREFIX = "delivery_"


def safe(name: str) -> str:
    """Dagster job and partition-set names allow only [A-Za-z0-9_]."""
    return name.replace("-", "_")


def key(project: str, name: str) -> dg.AssetKey:
    return dg.AssetKey([project, name])


def shots_partitions_name(project: str) -> str:
    return f"{safe(project)}__shots"


def shots_job_name(project: str) -> str:
    return f"{safe(project)}__shots"


def assemble_job_name(project: str) -> str:
    return f"{safe(project)}__assemble"


def delivery(preset: str) -> str:
    return f"{DELIVERY_PREFIX}{preset}"
