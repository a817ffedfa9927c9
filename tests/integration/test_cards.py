"""Cards built for real: in the cut and the deliveries at their record frames for exactly their length, silence of
the exact sample count under them, EDL/OTIO read back, and the rebuild set of a card edit from the event log.

Each decoded frame is classified by measuring it: a card's frame is mostly its background colour (its median
pixel) with some pixels far from it (the text); the shots are testsrc2 patterns, which are neither. The
expectations come from project.json (seconds at the project rate), never from the build's own output.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import av
import dagster as dg
import numpy as np
import opentimelineio as otio
import pycmx
import pytest
from PIL import Image

from tests.support.helpers import (
    build_workspace,
    built_instance,
    forked_project,
    last_storage_id,
    materialized_since,
    rebuild,
)
from tests.unit.test_editorial import check_edl
from vidasm_assets.make import make
from vidasm_assets.media.cards import CARDS_DIR, hex_colour
from vidasm_assets.media.demo import RenderSpec, make_render, write_project
from vidasm_assets.media.project import discover_projects, load_project
from vidasm_assets.media.rates import Rate
from vidasm_assets.media.timeline import Timeline
from vidasm_assets.planner import plan_workspace

pytestmark = pytest.mark.media

FPS = 24
SIZE = (160, 90)
IMAGE_COLOUR = (200, 40, 40)
SHOT_SECONDS = 2  # the cut's loudness check measures the whole cut: a card's silence must not dominate it
SEQUENCE: list[dict] = [
    {"card": "Opening title", "seconds": 1, "background": "#203060", "colour": "#FFFF00"},
    {"shot": "sh010"},
    {"shot": "sh020"},
    {"card": "The end", "seconds": 0.5, "id": "end", "background": "art/end.png", "colour": "#FFFFFF"},
]
EXPORTS = ["web", "proxy", "review"]  # web: the cut's picture; proxy, review (burn-ins): segments joined
ROLLUPS = {"timeline", "cut", "edl", "otio", *(f"delivery_{p}" for p in EXPORTS)}


def card_entries(sequence: list[dict]) -> list[tuple[int, int, dict]]:
    """(first record frame, frames, entry) of each card, from project.json alone (shots are whole renders)."""
    rate, record, out = Rate(FPS), 0, []
    for entry in sequence:
        frames = round(entry["seconds"] * FPS) if "card" in entry else rate.seconds_to_frames(SHOT_SECONDS)
        if "card" in entry:
            out.append((record, frames, entry))
        record += frames
    return out


def shot_starts(sequence: list[dict]) -> dict[str, int]:
    """Each shot's first record frame, from project.json alone."""
    record, out = 0, {}
    for entry in sequence:
        if "shot" in entry:
            out[entry["shot"]] = record
        record += round(entry["seconds"] * FPS) if "card" in entry else SHOT_SECONDS * FPS
    return out


def background_of(entry: dict) -> tuple[int, int, int]:
    return IMAGE_COLOUR if not entry["background"].startswith("#") else hex_colour(entry["background"])


def rgb_frames(path: Path) -> list[np.ndarray]:
    with av.open(str(path)) as c:
        return [f.to_ndarray(format="rgb24").astype(int) for f in c.decode(video=0)]


def shows_card(frame: np.ndarray, background: tuple[int, int, int]) -> bool:
    """Mostly the background colour (its median pixel within a few code values: 4:2:0 and limited range) with text
    pixels far from it."""
    pixels = frame.reshape(-1, 3)
    median = np.median(pixels, axis=0)
    text = (np.abs(pixels - background).max(axis=1) > 64).sum()
    return bool(np.abs(median - background).max() <= 6 and text >= 20)


def card_frames(path: Path, background: tuple[int, int, int]) -> list[int]:
    return [i for i, f in enumerate(rgb_frames(path)) if shows_card(f, background)]


def pcm(path: Path) -> np.ndarray:
    with av.open(str(path)) as c:
        frames = [f.to_ndarray() if f.format.is_planar else f.to_ndarray().reshape(-1, len(f.layout.channels)).T
                  for f in c.decode(audio=0)]  # fmt: skip
    return np.concatenate(frames, axis=1)


def write_sequence(folder: Path, sequence: list[dict]) -> None:
    data = json.loads((folder / "project.json").read_text())
    (folder / "project.json").write_text(json.dumps({**data, "sequence": sequence}))


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory, ffmpeg: str):
    root = tmp_path_factory.mktemp("cards")
    folder = write_project(root, "cards", {"fps": FPS, "resolution": f"{SIZE[0]}x{SIZE[1]}", "sequence": SEQUENCE,
                                           "exports": EXPORTS})  # fmt: skip
    (folder / "art").mkdir()
    Image.new("RGB", (32, 18), IMAGE_COLOUR).save(folder / "art" / "end.png")
    for shot, hz in (("sh010", 440), ("sh020", 660)):
        make_render(ffmpeg, folder / "03_Renders" / shot / f"{shot}_v001.mp4",
                    RenderSpec(width=SIZE[0], height=SIZE[1], seconds=SHOT_SECONDS, tone_hz=hz))  # fmt: skip
    home = tmp_path_factory.mktemp("home")
    with built_instance(root, home) as instance:
        yield root, folder, instance


@pytest.fixture
def changed(built, tmp_path: Path):
    """A copy of the module's build for a test that changes it: the other tests read ``built`` as it was made."""
    with forked_project(built, tmp_path) as copy:
        yield copy


def test_each_card_is_in_the_cut_and_deliveries_at_its_record_frames_for_exactly_its_length(built) -> None:
    _, folder, _ = built
    project = load_project(folder.parent, "cards")
    for path in (project.cut_path(), *(project.delivery_path(p) for p in EXPORTS)):
        for record, frames, entry in card_entries(SEQUENCE):
            assert card_frames(path, background_of(entry)) == list(range(record, record + frames)), (path, entry)


def test_the_sound_under_a_card_is_digital_silence_of_the_exact_sample_count(built) -> None:
    _, folder, _ = built
    project = load_project(folder.parent, "cards")
    rate = Rate(FPS)
    tl = Timeline.from_json(project.timeline_path().read_text())
    cut = pcm(project.cut_path())
    assert cut.shape[1] == sum(rate.samples_for_frames(c.frames) for c in tl.clips)
    for record, frames, _ in card_entries(SEQUENCE):
        a, b = rate.samples_for_frames(record), rate.samples_for_frames(record + frames)
        assert not cut[:, a:b].any(), "a card's sound is digital silence"
    # the shots' tone is there right next to them
    first = card_entries(SEQUENCE)[0]
    after = rate.samples_for_frames(first[0] + first[1])
    assert np.abs(cut[:, after : after + rate.samples_for_frames(FPS)]).max() > 0.01
    for clip in tl.clips:
        if clip.card is not None:
            wav = project.cache_dir / CARDS_DIR / Path(clip.source_path).with_suffix(".wav").name
            assert pcm(wav).shape[1] == rate.samples_for_frames(clip.frames)


def test_the_edl_and_otio_carry_the_cards(built) -> None:
    _, folder, _ = built
    project = load_project(folder.parent, "cards")
    tl = Timeline.from_json(project.timeline_path().read_text())
    text = project.edl_path().read_text()
    check_edl(text, tl)  # pycmx and OTIO's cmx_3600 reader: contiguous record, durations
    events = list(pycmx.parse_cmx3600(io.StringIO(text)).events)
    assert [e.edits[0].source == "AX" for e in events] == ["card" in e for e in SEQUENCE]
    for entry in SEQUENCE:
        if "card" in entry:
            assert f"* CARD: {entry['card']}" in text
    clips = list(otio.adapters.read_from_file(str(project.otio_path())).tracks[0])
    cards = [c for c in clips if isinstance(c.media_reference, otio.schema.GeneratorReference)]
    assert [c.metadata["vidasm"]["card"]["text"] for c in cards] == [e["card"] for e in SEQUENCE if "card" in e]
    assert [c.duration().value for c in cards] == [f for _, f, _ in card_entries(SEQUENCE)]


def test_a_card_text_change_or_a_new_card_rebuilds_the_roll_ups_and_no_shot(changed) -> None:
    """Make-like, from the event log: a card's new text re-renders that card in the cut and the deliveries, and
    re-writes the EDL/OTIO; no shot's picture, audio or segment is built. Adding a card does the same."""
    root, folder, instance = changed
    project = load_project(root, "cards")
    shot_files = {p: p.stat().st_mtime_ns for p in (project.picture_path("sh010"), project.audio_path("sh020"))}
    old_cards = {*(project.cache_dir / CARDS_DIR).glob("card1-*"), *(project.cache_dir / CARDS_DIR).glob("*/card1-*")}
    assert old_cards
    retitled = [{**SEQUENCE[0], "card": "A new title"}, *SEQUENCE[1:]]
    interlude = {"card": "Interlude", "seconds": 0.5, "background": "#305020"}
    edits = [retitled, [*retitled[:2], interlude, *retitled[2:]]]
    before = SEQUENCE
    for sequence in edits:
        write_sequence(folder, sequence)
        rebuilt = rebuild(root, instance)
        # no shot's picture, audio or plain segment; review segments burn in the record timecode: those of the
        # shots a new card moved are re-encoded, as for any edit before them
        moved = {s for s, at in shot_starts(sequence).items() if shot_starts(before)[s] != at}
        assert {label.split("/", 1)[1] for label in rebuilt} == ROLLUPS | {f"segments_review[{s}]" for s in moved}
        before = sequence
        for record, frames, entry in card_entries(sequence):
            want = list(range(record, record + frames))
            assert card_frames(project.cut_path(), background_of(entry)) == want, entry
            assert card_frames(project.delivery_path("proxy"), background_of(entry)) == want, entry
    assert {p: p.stat().st_mtime_ns for p in shot_files} == shot_files
    assert not any(p.exists() for p in old_cards)  # the old text's card outputs are gone, segments too
    for preset in ("proxy", "review"):
        names = sorted(p.name.split("-")[0] for p in (project.cache_dir / CARDS_DIR / preset).iterdir())
        assert names == sorted(e.get("id") or f"card{i}" for i, e in enumerate(
            (e for e in edits[-1] if "card" in e), start=1))  # fmt: skip
    mark = last_storage_id(instance)
    assert build_workspace(instance, root) == []  # nothing changed: nothing built
    assert materialized_since(instance, mark) == set()


def test_a_new_background_image_under_the_same_name_redraws_the_card(changed) -> None:
    """The image's content, not its name, is what the card shows: replacing the file rebuilds the roll-ups (no
    shot), and the card shows the new picture."""
    root, folder, instance = changed
    project = load_project(root, "cards")
    sequence = json.loads((folder / "project.json").read_text())["sequence"]
    new_colour = (40, 160, 60)
    Image.new("RGB", (32, 18), new_colour).save(folder / "art" / "end.png")
    assert {label.split("/", 1)[1] for label in rebuild(root, instance)} == ROLLUPS
    ((record, frames, _),) = [c for c in card_entries(sequence) if c[2].get("id") == "end"]
    assert card_frames(project.cut_path(), new_colour) == list(range(record, record + frames))


def test_a_sequence_of_cards_only_builds_a_cut_edl_and_deliveries(tmp_path: Path) -> None:
    """Issue 12's trial: a sequence with no shot at all is a cut of its cards (a slate reel, titles alone): every
    card at its record frames for exactly its length, digital silence of the exact sample count, AX events read
    back, the deliveries joined; a second build has nothing to do."""
    sequence = [SEQUENCE[0], SEQUENCE[3]]
    root, home = tmp_path / "ws", tmp_path / "home"
    home.mkdir()
    folder = write_project(root, "titles", {"fps": FPS, "resolution": f"{SIZE[0]}x{SIZE[1]}", "sequence": sequence,
                                            "exports": EXPORTS})  # fmt: skip
    (folder / "art").mkdir()
    Image.new("RGB", (32, 18), IMAGE_COLOUR).save(folder / "art" / "end.png")
    with built_instance(root, home) as instance:
        project = load_project(root, "titles")
        total = sum(f for _, f, _ in card_entries(sequence))
        for path in (project.cut_path(), *(project.delivery_path(p) for p in EXPORTS)):
            for record, frames, entry in card_entries(sequence):
                assert card_frames(path, background_of(entry)) == list(range(record, record + frames)), path
        cut = pcm(project.cut_path())
        assert cut.shape[1] == Rate(FPS).samples_for_frames(total) and not cut.any()
        tl = Timeline.from_json(project.timeline_path().read_text())
        check_edl(project.edl_path().read_text(), tl)
        events = list(pycmx.parse_cmx3600(io.StringIO(project.edl_path().read_text())).events)
        assert [e.edits[0].source for e in events] == ["AX", "AX"]
        assert build_workspace(instance, root) == []  # nothing stale: the planner and the assets agree


@pytest.mark.parametrize("with_shot", [False, True], ids=["cards-only", "beside-a-shot-without-render"])
def test_a_missing_background_image_is_named_whatever_else_fails(tmp_path: Path, with_shot: bool) -> None:
    """A card's missing background is said by its path, in the build's outcome and in status, and is not hidden by
    another problem: a sequence of cards only, or a shot that fails too (both are said)."""
    sequence = [{"shot": "sh010"}] if with_shot else []
    sequence += [SEQUENCE[0], {**SEQUENCE[3], "background": "art/missing.png"}]
    root = tmp_path / "ws"
    folder = write_project(root, "p", {"fps": FPS, "resolution": f"{SIZE[0]}x{SIZE[1]}", "sequence": sequence,
                                       "exports": ["web"]})  # fmt: skip
    (folder / "03_Renders" / "sh010").mkdir(parents=True)  # listed, no render in it
    missing = str(folder / "art" / "missing.png")
    with dg.DagsterInstance.ephemeral() as instance:
        report = make(root, instance=instance, jobs=1)
        lines = [o.message for o in report.outcomes if not o.success]
        assert any(missing in line and "card end's background image is missing" in line for line in lines), lines
        if with_shot:
            assert any("sh010" in line and "no render" in line for line in lines), lines
        plan = plan_workspace(instance, discover_projects(root), record=False)[0]
        assert all(missing in it.reason for it in plan.items if it.partition is None), plan.items
