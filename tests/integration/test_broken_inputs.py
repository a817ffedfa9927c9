"""Broken renders fail their shot narrowly, by name, and never damage what was built before.

``broken`` is built good first, then every shot gets a broken newer take (or a pin to a missing one) and is
built again; ``other`` gets a good new take at the same time and must still build. ``holes`` opts into
placeholders: its cut is assembled with slates where renders are missing, and the EDL says so.
"""

from __future__ import annotations

import io
import json
import shutil
from dataclasses import dataclass
from pathlib import Path

import av
import dagster as dg
import numpy as np
import pycmx
import pytest

from vidasm_assets.assets import assembly as assembly_assets
from vidasm_assets.assets import names as n
from vidasm_assets.definitions import build_definitions
from vidasm_assets.media import assembly, checks, conform, loudness, shots
from vidasm_assets.media.demo import write_project
from vidasm_assets.media.errors import InvalidMediaError, MediaNotFoundError, UnsupportedMediaError, VidasmError
from vidasm_assets.media.probe import probe
from vidasm_assets.media.project import Project, discover_projects, load_project
from vidasm_assets.media.runner import bind, run_ffmpeg
from vidasm_assets.media.slate import card_lines
from vidasm_assets.media.timeline import Timeline
from vidasm_assets.planner import Outcome

from ..support import media_sources as ms
from ..support.helpers import (
    QUIET,
    build_workspace,
    decoded_audio_samples,
    last_storage_id,
    materialized_since,
    video_frames_and_duration,
)

pytestmark = pytest.mark.media

SPEC = {"fps": 24, "resolution": "64x36"}
GOOD = ms.with_av(ms.video("64x36"), ms.tone(1, -20))
BROKEN_SHOTS = ["b020", "b030", "b040", "b050", "b060", "b065", "b070", "b080", "b090"]
# shot -> (what the failure must say, the error type the build step raises)
EXPECTED = {
    "b020": ("b020_v002.mp4: file is empty (0 bytes)", InvalidMediaError),
    "b030": ("b030_v002.mp4: truncated MP4/MOV: no moov atom", InvalidMediaError),
    "b040": ("b040_v002.mp4: not a media file", InvalidMediaError),
    "b050": ("b050_v002.mp4: not a video render (audio-only)", InvalidMediaError),
    "b060": ("b060_v002.mp4: a still image (png image", InvalidMediaError),
    "b065": ("b065_v002.mov: a still image (a single h264 frame", InvalidMediaError),
    "b070": ("b070_v002.mp4: HDR source (PQ: transfer smpte2084, primaries bt2020", UnsupportedMediaError),
    "b080": ("b080_v002.mp4: truncated: its ", InvalidMediaError),  # video or audio data ends early
    "b090": ("shot b090: take 'v007' not found", MediaNotFoundError),
}


def _break(ffmpeg: str, renders: Path, work: Path) -> None:
    """Newer takes that are broken in every way a render can be."""
    good = ms.run(ffmpeg, work / "good.mp4", [*ms.with_av(ms.video("64x36", seconds=2), ms.tone(2, -20))])
    fast = ms.run(ffmpeg, work / "fast.mp4", ["-i", str(good), "-c", "copy", "-movflags", "+faststart"])
    png = ms.run(ffmpeg, work / "still.png", [*ms.video("64x36"), "-frames:v", "1"])
    (renders / "b020" / "b020_v002.mp4").write_bytes(b"")
    ms.truncated(good, renders / "b030" / "b030_v002.mp4", 2000)  # mdat first, the moov never written
    (renders / "b040" / "b040_v002.mp4").write_text("this is the edit notes file, saved with the wrong name\n")
    ms.run(ffmpeg, renders / "b050" / "b050_v002.mp4", [*ms.tone(1, -20), *ms.AAC])
    shutil.copy(png, renders / "b060" / "b060_v002.mp4")  # a PNG saved as .mp4
    ms.run(ffmpeg, renders / "b065" / "b065_v002.mov", ["-i", str(png), *ms.X264])  # one frame of H.264
    ms.run(ffmpeg, renders / "b070" / "b070_v002.mp4", ms.hdr_patches("smpte2084", size="64x36"))
    ms.truncated(fast, renders / "b080" / "b080_v002.mp4", 0.5)  # index first, half the data
    shutil.copy(png, renders / "b010" / "b010_v002.png")  # a still beside a render: not a take, ignored


@dataclass
class BrokenWorkspace:
    """The broken workspace after its first build and after the second (a good new take of ``other``)."""

    root: Path
    instance: dg.DagsterInstance
    before: list[Outcome]
    outcomes: list[Outcome]
    work: Path


@dataclass
class Holes:
    """The ``holes`` project built with placeholders: its roll-up outcome and the project."""

    root: Path
    instance: dg.DagsterInstance
    result: Outcome
    project: Project


@pytest.fixture(scope="module")
def ws(tmp_path_factory: pytest.TempPathFactory, ffmpeg: str):
    root = tmp_path_factory.mktemp("broken_ws")
    work = tmp_path_factory.mktemp("work")
    shots = ["b010", *BROKEN_SHOTS]
    seq = [{"shot": s, **({"take": "v001"} if s == "b090" else {})} for s in shots]
    write_project(root, "broken", {**SPEC, "sequence": seq})
    for shot in shots:
        ms.run(ffmpeg, root / "broken" / "03_Renders" / shot / f"{shot}_v001.mp4", GOOD)
    write_project(root, "other", SPEC)
    ms.run(ffmpeg, root / "other" / "03_Renders" / "o010" / "o010_v001.mp4", GOOD)
    # placeholders: a take broken from the start and a pinned take that does not exist
    holes = write_project(root, "holes", {**SPEC, "placeholders": True, "sequence": [
        {"shot": "h010"}, {"shot": "h020"}, {"shot": "h030", "take": "v004"}, {"shot": "h040"}]})  # fmt: skip
    ms.run(ffmpeg, holes / "03_Renders" / "h010" / "h010_v001.mp4", GOOD)
    ms.run(ffmpeg, holes / "03_Renders" / "h020" / "h020_v001.mp4",
           ms.with_av(ms.video("64x36", seconds=1.5), ms.tone(1.5, -20)))  # fmt: skip
    ms.truncated(holes / "03_Renders" / "h020" / "h020_v001.mp4", holes / "03_Renders" / "h020" / "h020_v002.mp4", 3000)
    ms.run(ffmpeg, holes / "03_Renders" / "h040" / "h040_v001.mp4", ms.hdr_patches("smpte2084", size="64x36"))
    (holes / "03_Renders" / "h030").mkdir(parents=True)
    shutil.copy(ms.run(ffmpeg, work / "h.png", [*ms.video("64x36"), "-frames:v", "1"]),
                holes / "03_Renders" / "h030" / "h030_v004.png")  # fmt: skip
    home = tmp_path_factory.mktemp("dagster_home")
    with dg.DagsterInstance.local_temp(tempdir=str(home)) as instance:
        first = build_workspace(instance, root, ["broken", "other"])
        assert all(o.success for o in first), first
        before = {p: p.read_bytes() for name in ("broken", "other") for p in _outputs(root / name)}
        _break(ffmpeg, root / "broken" / "03_Renders", work)
        pj = root / "broken" / "project.json"
        spec = json.loads(pj.read_text())
        spec["sequence"][-1]["take"] = "v007"  # b090: the pinned take is not there
        pj.write_text(json.dumps(spec))
        ms.run(ffmpeg, root / "other" / "03_Renders" / "o010" / "o010_v002.mp4",
               ms.with_av(ms.video("64x36", seconds=1.5), ms.tone(1.5, -12)))  # fmt: skip
        second = build_workspace(instance, root)
        yield BrokenWorkspace(root, instance, before, second, work)


def _outputs(folder: Path) -> list[Path]:
    return sorted(p for sub in ("05_Cache", "06_Exports") for p in (folder / sub).rglob("*") if p.is_file()
                  and p.suffix in (".mov", ".wav", ".mp4"))  # fmt: skip


def test_each_broken_shot_fails_naming_the_file_and_the_problem(ws) -> None:
    outcomes = ws.outcomes
    failed = {o.label.split(" ")[0]: o.message for o in outcomes if o.project == "broken" and not o.success}
    for shot, (says, _) in EXPECTED.items():
        assert shot in failed, (shot, failed)
        assert says in failed[shot], (shot, failed[shot])


def test_the_build_steps_raise_typed_errors(ws, ffmpeg: str) -> None:
    root = ws.root
    project = load_project(root, "broken")
    run = bind(ffmpeg)
    for shot, (says, kind) in EXPECTED.items():
        with pytest.raises(VidasmError) as got:
            ref = project.ref(shot)
            if shot in ("b070", "b080"):  # the headers are fine; the picture is refused or the data short
                take, info = shots.usable_take(project, ref)
                conform.conform_picture(run, project, take, info)
            else:
                shots.usable_take(project, ref)
        assert type(got.value) is kind, (shot, got.value)
        assert says in str(got.value) and got.value.path, shot


def test_other_shots_and_projects_still_build(ws) -> None:
    root, outcomes = ws.root, ws.outcomes
    other = [o for o in outcomes if o.project == "other"]
    assert other and all(o.success for o in other)
    assert video_frames_and_duration(root / "other" / "06_Exports" / "other_web.mp4")[0] == 36
    assert not [o for o in outcomes if o.project == "broken" and o.label.startswith("b010")]  # nothing to do


def test_the_cut_fails_naming_the_shots_instead_of_dropping_them(ws) -> None:
    outcomes = ws.outcomes
    cut = [o for o in outcomes if o.project == "broken" and "cut" in o.label]
    assert len(cut) == 1 and not cut[0].success
    for shot in BROKEN_SHOTS:
        assert shot in cut[0].message


def test_previous_outputs_are_untouched_and_nothing_partial_is_left(ws) -> None:
    root, before = ws.root, ws.before
    for path, data in before.items():
        if "other" in path.parts:
            continue
        assert path.read_bytes() == data, path
    for name in ("broken", "other", "holes"):
        leftovers = [p for p in (root / name).rglob("*") if ".partial" in p.name or p.name.endswith(".tmp")]
        assert leftovers == [], leftovers


def test_a_render_vanishing_mid_build_fails_by_name_and_keeps_the_old_output(ws, ffmpeg: str) -> None:
    root, work = ws.root, ws.work
    project = load_project(root, "other")
    take = project.select_take("o010")
    copy = work / "vanish" / "other"
    shutil.copytree(project.root, copy)
    p2 = load_project(copy.parent, "other")
    take = p2.select_take("o010")
    info = probe(take.path)
    old_picture, old_audio = p2.picture_path("o010").read_bytes(), p2.audio_path("o010").read_bytes()

    def vanishing(args: list[str], **kw) -> str:
        take.path.unlink(missing_ok=True)  # the render is deleted (or its disk unmounted) as FFmpeg starts
        return run_ffmpeg([ffmpeg, *args], **kw)

    with pytest.raises(MediaNotFoundError, match="vanished during the build") as got:
        conform.conform_picture(vanishing, p2, take, info)
    assert got.value.path == str(take.path)
    shutil.copy(project.select_take("o010").path, take.path)
    with pytest.raises(MediaNotFoundError, match="vanished during the build"):
        loudness.normalize_audio(vanishing, p2, take, info, shots.shot_frames(info, p2.spec.rate))
    assert p2.picture_path("o010").read_bytes() == old_picture
    assert p2.audio_path("o010").read_bytes() == old_audio
    assert not [p for p in copy.rglob("*") if ".partial" in p.name]


# ---------------------------------------------------------------- placeholders


@pytest.fixture(scope="module")
def holes(ws):
    """`vidasm build` itself (the planner) assembles a placeholder project even though shots failed."""
    root, instance, outcomes = ws.root, ws.instance, ws.outcomes
    failed = {o.label.split(" ")[0] for o in outcomes if o.project == "holes" and not o.success}
    assert {"h020", "h030", "h040"} <= failed  # the shots themselves still fail, by name
    rollups = [o for o in outcomes if o.project == "holes" and o.label.startswith("timeline")]
    assert len(rollups) == 1, outcomes
    return Holes(root, instance, rollups[0], discover_projects(root).projects["holes"])


def test_placeholder_cut_is_not_rebuilt_when_nothing_changed(holes) -> None:
    root, instance = holes.root, holes.instance
    mark = last_storage_id(instance)
    outcomes = build_workspace(instance, root, ["holes"])
    assert {o.label.split(" ")[0] for o in outcomes if not o.success} >= {"h020", "h030", "h040"}
    assert not [o for o in outcomes if o.label.startswith(("timeline", "cut"))]
    assert materialized_since(instance, mark) == set()


def test_placeholder_slates_fill_the_missing_shots_at_their_length(holes) -> None:
    result, project = holes.result, holes.project
    assert result.success
    tl = Timeline.from_json(project.timeline_path().read_text())
    assert [(c.shot, c.frames, bool(c.placeholder)) for c in tl.clips] == [
        ("h010", 24, False),
        ("h020", 36, True),  # as long as its last take that still reads (v001, 1.5 s)
        ("h030", 48, True),  # nothing to go by: PLACEHOLDER_SECONDS
        ("h040", 24, True),  # HDR the project does not tone-map: as long as the refused take
    ]
    reasons = [c.placeholder or "" for c in tl.clips]
    assert "truncated MP4/MOV" in reasons[1] and "take 'v004' not found" in reasons[2] and "HDR" in reasons[3]
    assert [c.take for c in tl.clips] == ["v001", "v002", "v004", "v001"]
    frames, _ = video_frames_and_duration(project.cut_path())
    assert frames == 24 + 36 + 48 + 24
    assert decoded_audio_samples(project.cut_path()) == (24 + 36 + 48 + 24) * 2000
    with av.open(str(project.cut_path())) as c:  # slate audio is silence, slate picture is a card with text
        audio = np.concatenate([f.to_ndarray().reshape(-1) for f in c.decode(audio=0)])
    assert not audio[2 * 24 * 2000 :].any() and audio[: 2 * 24 * 2000].any()
    slates = []
    for shot in ("h020", "h030"):
        picture, _ = assembly.placeholder_paths(project, shot)
        v = probe(picture).video
        assert v is not None and (v.width, v.height, v.codec, v.profile, v.colorspace) == (
            64,
            36,
            "h264",
            "High",
            "bt709",
        )
        with av.open(str(picture)) as c:
            y = next(c.decode(video=0)).to_ndarray(format="gray")
        assert y.std() > 5  # not a flat frame: the card has text on it
        slates.append(y)
    assert not np.array_equal(*slates)  # each slate names its own shot


def test_the_card_says_which_shot_is_missing_and_why() -> None:
    lines = card_lines("holes", "h030", "v004", 48, load_rate(), "missing render: take 'v004' not found")
    assert lines[0].startswith("PLACEHOLDER") and lines[1] == "h030" and "48 frames" in lines[2]
    assert any("v004" in line for line in lines[3:])


def load_rate():
    from vidasm_assets.media.rates import Rate

    return Rate(24)


def test_the_edl_marks_the_placeholders(holes) -> None:
    project = holes.project
    text = project.edl_path().read_text()
    events = list(pycmx.parse_cmx3600(io.StringIO(text)).events)
    names = ["h010_v001", "h020_PLACEHOLDER", "h030_PLACEHOLDER", "h040_PLACEHOLDER"]
    assert [e.edits[0].clip_name for e in events] == names
    assert text.count("* PLACEHOLDER: missing render") == 3
    otio_text = project.otio_path().read_text()
    assert otio_text.count('"placeholder": "missing render') == 6  # video and audio track, three clips


def test_the_cut_checks_pass_with_placeholders(holes) -> None:
    instance = holes.instance
    for name in checks.CUT_CHECKS:
        record = instance.get_latest_asset_check_evaluation_record(dg.AssetCheckKey(n.key("holes", "cut"), name))
        assert record is not None and record.event is not None
        assert record.event.dagster_event.event_specific_data.passed, name  # type: ignore[union-attr]


def test_a_failed_blocking_check_stops_the_delivery(ws, monkeypatch: pytest.MonkeyPatch) -> None:
    root, instance = ws.root, ws.instance
    web = root / "other" / "06_Exports" / "other_web.mp4"
    before = web.read_bytes()
    real = checks.cut_checks

    def failing(*args, **kwargs):
        out = real(*args, **kwargs)
        return [checks.CheckOutcome(c.name, c.name != "no_gap_at_joins", c.metadata) for c in out]

    monkeypatch.setattr(assembly_assets, "cut_checks", failing)
    defs = build_definitions(root)
    result = defs.resolve_job_def(n.assemble_job_name("other")).execute_in_process(
        instance=instance,
        asset_selection=[n.key("other", "cut"), n.key("other", "delivery_web")],
        raise_on_error=False,
        run_config=QUIET,
    )
    assert not result.success
    failures = [e for e in result.all_events if e.is_step_failure]
    assert [e.step_key for e in failures] == ["other__cut"]
    assert "no_gap_at_joins" in failures[0].step_failure_data.error.message  # type: ignore[union-attr]
    assert web.read_bytes() == before  # the delivery did not run
