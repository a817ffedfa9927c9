"""Asset, group, stage, job and partition names: one place, so the CLI, sensor, metrics and tests agree."""

from __future__ import annotations

from functools import partial

import dagster as dg

from ..media.project import dagster_name
from ..media.versions import Asset

# Stages of a project's pipeline: each asset carries its stage as the tag ``vidasm/stage`` (the UI filters by it:
# ``tag:vidasm/stage=shots``); the asset group is the project, so the lineage view shows one project's pipeline.
STAGE_TAG = "vidasm/stage"
SOURCES_STAGE = "sources"
SHOTS_STAGE = "shots"
EDITORIAL_STAGE = "editorial"
ASSEMBLY_STAGE = "assembly"
DELIVERY_STAGE = "delivery"

FFMPEG_POOL = "ffmpeg"

# Asset names, one per kind of the versions table (``media.versions.Asset``)
RENDER, PICTURE_SPEC, AUDIO_SPEC, EDIT_SPEC, PICTURE, AUDIO, TIMELINE, CUT, EDL, OTIO = (
    a.value for a in Asset if a not in (Asset.DELIVERY, Asset.SEGMENTS, Asset.PRESET, Asset.MUSIC, Asset.MIX)
)
MUSIC, MIX = Asset.MUSIC.value, Asset.MIX.value  # a project with a music bed only
DELIVERY_PREFIX = "delivery_"
SEGMENTS_PREFIX = "segments_"
PRESET_PREFIX = "preset_"


def safe(name: str) -> str:
    """Dagster job and partition-set names allow only [A-Za-z0-9_] (``project.dagster_name``)."""
    return dagster_name(name)


def group(project: str) -> str:
    """A project's asset group: its name in Dagster's group-name characters ([A-Za-z0-9_])."""
    return safe(project)


def stage(name: str) -> dict[str, str]:
    """The tags that say which stage of the pipeline an asset belongs to."""
    return {STAGE_TAG: name}


def key(project: str, name: str) -> dg.AssetKey:
    return dg.AssetKey([project, name])


def scoped(project: str, name: str) -> str:
    """A Dagster name of the project's own (its jobs, its shots' partitions): ``<project>__<name>``."""
    return f"{safe(project)}__{name}"


shots_partitions_name = partial(scoped, name="shots")
"""The project's dynamic partitions: one per shot."""
shots_job_name = partial(scoped, name="shots")
"""The job of one shot's picture, audio and segments (partition = shot)."""
assemble_job_name = partial(scoped, name="assemble")
"""The job of the project's roll-ups: timeline, cut, EDL, OTIO, deliveries."""
shot_to_delivery_job_name = partial(scoped, name="shot_to_delivery")
"""One changed shot through to the deliveries in one run (the render sensor's path for one change)."""


def delivery(preset: str) -> str:
    return f"{DELIVERY_PREFIX}{preset}"


def segments(preset: str) -> str:
    """A preset's per-shot segments (partitioned by shot)."""
    return f"{SEGMENTS_PREFIX}{preset}"


SEGMENTS_KIND = "segments"
DELIVERY_KIND = "delivery"
BUILT_KINDS = (PICTURE, AUDIO, SEGMENTS_KIND, TIMELINE, CUT, EDL, OTIO, MIX, DELIVERY_KIND)
"""The kinds of built asset (every preset's segments are ``segments``, its delivery ``delivery``): what
``vidasm metrics`` counts by."""


def built_kind(asset: str) -> str | None:
    """The kind of a built asset by its name (``segments_review`` -> ``segments``); None for a source."""
    if asset.startswith(SEGMENTS_PREFIX):
        return SEGMENTS_KIND
    if asset.startswith(DELIVERY_PREFIX):
        return DELIVERY_KIND
    return asset if asset in BUILT_KINDS else None


def preset_source(preset: str) -> str:
    """A preset's observed settings."""
    return f"{PRESET_PREFIX}{preset}"
