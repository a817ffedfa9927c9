"""Asset, group, job and partition names: one place, so the CLI, sensor and tests agree."""

from __future__ import annotations

import dagster as dg

from ..media.versions import Asset

SOURCES_GROUP = "sources"
SHOTS_GROUP = "shots"
EDITORIAL_GROUP = "editorial"
ASSEMBLY_GROUP = "assembly"
DELIVERY_GROUP = "delivery"

FFMPEG_POOL = "ffmpeg"

# Asset names, one per kind of the versions table (``media.versions.Asset``)
RENDER, PICTURE_SPEC, AUDIO_SPEC, EDIT_SPEC, PICTURE, AUDIO, TIMELINE, CUT, EDL, OTIO = (
    a.value for a in Asset if a not in (Asset.DELIVERY, Asset.SEGMENTS, Asset.PRESET)
)
DELIVERY_PREFIX = "delivery_"
SEGMENTS_PREFIX = "segments_"
PRESET_PREFIX = "preset_"


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


def segments(preset: str) -> str:
    """A preset's per-shot segments (partitioned by shot)."""
    return f"{SEGMENTS_PREFIX}{preset}"


def preset_source(preset: str) -> str:
    """A preset's observed settings."""
    return f"{PRESET_PREFIX}{preset}"
