"""Cards as sequence entries: project.json's model, the MoviePy still, the EDL/OTIO/FCP XML of a cut with cards.

Pictures are measured (pixel values of the drawn PNG), EDLs read back by pycmx and OTIO's cmx_3600 reader
(``check_edl``); nothing is compared with hard-coded output.
"""

from __future__ import annotations

import io
import json
import os
from pathlib import Path

import numpy as np
import opentimelineio as otio
import pycmx
import pytest
from PIL import Image

from tests.unit.test_editorial import check_edl
from vidasm_assets.media import versions as v
from vidasm_assets.media.cards import card_clip, draw_title, hex_colour
from vidasm_assets.media.editorial import write_cmx3600, write_fcp_xml, write_otio
from vidasm_assets.media.errors import ProjectConfigError, UnsafePathError
from vidasm_assets.media.project import CARD_TEXT_MAX, CardRef, ShotRef, discover_projects, load_project
from vidasm_assets.media.rates import Rate
from vidasm_assets.media.slate import ACCENT, BACKGROUND, draw_card
from vidasm_assets.media.timeline import Timeline, TimelineClip


def project_with(root: Path, sequence: list[dict], **spec: object) -> Path:
    folder = root / "p"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "project.json").write_text(json.dumps({"fps": 24, "resolution": "160x90", "sequence": sequence,
                                                     **spec}))  # fmt: skip
    return folder


def test_cards_are_entries_between_shots_with_derived_ids_and_whole_frames(tmp_path: Path) -> None:
    project_with(tmp_path, [{"card": "Title", "seconds": 3}, {"shot": "sh010"},
                            {"card": "The end", "seconds": 1.5, "id": "end", "background": "#102030"},
                            {"card": "Credits", "seconds": 2}], fps=29.97)  # fmt: skip
    project = load_project(tmp_path, "p")
    entries = project.entries()
    assert [type(e) for e in entries] == [CardRef, ShotRef, CardRef, CardRef]
    # card<N>: N counts every card of the sequence (the second card has its own id)
    assert [e.id for e in entries if isinstance(e, CardRef)] == ["card1", "end", "card3"]
    rate = project.spec.rate
    # seconds rounded to the nearest frame at the project rate: 3 s at 30000/1001 is 89.91 frames -> 90
    for card, seconds in zip([e for e in entries if isinstance(e, CardRef)], [3, 1.5, 2], strict=True):
        assert card.frames == round(seconds * rate.num / rate.den)
    assert project.shots() == ["sh010"]  # a card is no shot: no partition, no conform
    assert [r.shot for r in project.sequence()] == ["sh010"]


@pytest.mark.parametrize(
    ("entry", "field", "reason"),
    [
        ({"card": "x", "seconds": 0}, "sequence[0].seconds", "more than 0 and at most 3600"),
        ({"card": "x", "seconds": -1}, "sequence[0].seconds", "more than 0 and at most 3600"),
        ({"card": "  ", "seconds": 1}, "sequence[0].card", "empty"),
        ({"card": "x" * (CARD_TEXT_MAX + 1), "seconds": 1}, "sequence[0].card", f"at most {CARD_TEXT_MAX}"),
        ({"card": "x", "seconds": 1, "background": "#12345"}, "sequence[0].background", "#RRGGBB"),
        ({"card": "x", "seconds": 1, "background": "logo.gif"}, "sequence[0].background", ".png/.jpg"),
        ({"card": "x", "seconds": 1, "colour": "red"}, "sequence[0].colour", "#RRGGBB"),
        ({"card": "x", "seconds": 1, "id": "a b"}, "sequence[0].id", "invalid"),
        ({"card": "x", "seconds": 1, "font": "Comic"}, "sequence[0].font", "unknown field"),
        ({"card": "a\u0007b", "seconds": 1}, "sequence[0].card", "control character"),
        (
            {"card": "x", "seconds": 1, "transition_in": {"type": "fade_in", "frames": 4}},
            "sequence[0].transition_in",
            "a card takes no transition_in yet (cards cut in and out",
        ),
        (
            {"card": "x", "seconds": 1, "overlays": [{"text": "y"}]},
            "sequence[0].overlays",
            "a card takes no overlays yet (use the cut's overlays",
        ),
        (
            {"card": "Ünïcödé 日本語 — «ok» ✓", "seconds": 1},
            "sequence[0].card",
            "has no glyph for: '日本語' (U+65E5, U+672C, U+8A9E); they would be drawn as empty boxes",
        ),
    ],
)
def test_an_invalid_card_names_the_file_the_field_and_the_reason(
    tmp_path: Path, entry: dict, field: str, reason: str
) -> None:
    folder = project_with(tmp_path, [entry, {"shot": "sh010"}])
    ws = discover_projects(tmp_path)
    err = ws.errors["p"]
    assert isinstance(err, ProjectConfigError)
    assert str(folder / "project.json") in str(err) and f"field '{field}'" in str(err) and reason in str(err)


@pytest.mark.parametrize(
    ("sequence", "said"),
    [
        ([{"card": "x", "seconds": 1, "id": "sh010"}, {"shot": "sh010"}],
         "field 'sequence[0].id': sequence[0] (card 'x', id 'sh010') is also the id of shot 'sh010' (sequence[1])"),
        ([{"shot": "card1"}, {"card": "x", "seconds": 1}],
         "field 'sequence[1].id': sequence[1] (card 'x', automatic id 'card1') is also the id of shot 'card1' "
         "(sequence[0])"),
        # an automatic id taken by a later written one: the written one is the id to change
        ([{"card": "x", "seconds": 1}, {"shot": "a"}, {"card": "y", "seconds": 1, "id": "card1"}],
         "field 'sequence[2].id': sequence[0] (card 'x', automatic id 'card1') and sequence[2] (card 'y', id "
         "'card1') have the same id"),
        # issue 12's trial: a written id taken by a later automatic one; the blame was on the wrong card
        ([{"card": "x", "seconds": 1, "id": "card2"}, {"shot": "a"}, {"card": "y", "seconds": 1}],
         "field 'sequence[0].id': sequence[0] (card 'x', id 'card2') and sequence[2] (card 'y', automatic id "
         "'card2') have the same id"),
        ([{"card": "x", "seconds": 1, "id": "t"}, {"shot": "a"}, {"card": "y", "seconds": 1, "id": "t"}],
         "field 'sequence[2].id': sequence[0] (card 'x', id 't') and sequence[2] (card 'y', id 't') have the same id"),
    ],
    ids=["written-is-a-shot", "automatic-is-a-shot", "written-takes-automatic", "automatic-takes-written", "twice"],
)  # fmt: skip
def test_a_card_id_clash_names_both_entries_by_index_and_id(tmp_path: Path, sequence: list, said: str) -> None:
    project_with(tmp_path, sequence)
    assert said in str(discover_projects(tmp_path).errors["p"])


def test_a_shot_entry_error_is_still_named_as_before(tmp_path: Path) -> None:
    project_with(tmp_path, [{"shot": "sh010", "in": "1:00"}])
    assert "field 'sequence[0].in': must be a frame number of the render" in str(
        discover_projects(tmp_path).errors["p"]
    )


@pytest.mark.parametrize("how", ["dotdot", "absolute", "symlink"])
def test_a_background_outside_the_project_is_refused_naming_it(tmp_path: Path, how: str) -> None:
    outside = tmp_path / "secret.png"
    Image.new("RGB", (8, 8)).save(outside)
    background = {"dotdot": "../secret.png", "absolute": str(outside), "symlink": "art/link.png"}[how]
    folder = project_with(tmp_path, [{"card": "x", "seconds": 1, "background": background}, {"shot": "sh010"}])
    if how == "symlink":
        (folder / "art").mkdir()
        os.symlink(outside, folder / "art" / "link.png")
    err = discover_projects(tmp_path).errors["p"]
    assert isinstance(err, UnsafePathError)
    assert background in str(err) and str(outside.resolve()) in str(err) and "outside the project folder" in str(err)
    assert "\n" not in str(err)


def test_a_background_inside_the_project_is_fine(tmp_path: Path) -> None:
    folder = project_with(tmp_path, [{"card": "x", "seconds": 1, "background": "art/bg.png"}, {"shot": "sh010"}])
    (folder / "art").mkdir()
    Image.new("RGB", (16, 9), (200, 30, 30)).save(folder / "art" / "bg.png")
    project = load_project(tmp_path, "p")
    card = next(e for e in project.entries() if isinstance(e, CardRef))
    clip = card_clip(project, card)
    assert clip.card is not None and clip.card["image"]  # the image's content is part of what the card shows
    (folder / "art" / "bg.png").unlink()
    Image.new("RGB", (16, 9), (30, 200, 30)).save(folder / "art" / "bg.png")
    assert card_clip(project, card).card["image"] != clip.card["image"]  # type: ignore[index]


def test_the_title_still_is_the_background_with_text_pixels(tmp_path: Path) -> None:
    bg, fg = "#102040", "#FFD000"
    png = draw_title(tmp_path / "t.png", 160, 90, "Hello cards", colour=hex_colour(fg), background=hex_colour(bg))
    pixels = np.asarray(Image.open(png).convert("RGB")).reshape(-1, 3).astype(int)
    assert Image.open(png).size == (160, 90)
    is_bg = (np.abs(pixels - hex_colour(bg)).max(axis=1) == 0).mean()
    drawn = (np.abs(pixels - hex_colour(bg)).max(axis=1) > 64).sum()
    in_colour = (np.abs(pixels - hex_colour(fg)).max(axis=1) <= 8).sum()
    assert is_bg > 0.7 and drawn > 50 and in_colour > 10  # mostly background, and the text drawn in its colour


def test_the_placeholder_slate_is_drawn_by_the_same_renderer(tmp_path: Path) -> None:
    png = draw_card(tmp_path / "s.png", 160, 90, ["PLACEHOLDER - MISSING SHOT", "sh020", "details"])
    img = np.asarray(Image.open(png).convert("RGB")).astype(int)
    assert img.shape == (90, 160, 3)
    assert tuple(img[45, 150]) == BACKGROUND and tuple(img[0, 80]) == ACCENT  # background, border
    assert (np.abs(img - BACKGROUND).max(axis=2) > 60).sum() > 50  # text drawn


def card_timeline() -> Timeline:
    shot = TimelineClip(shot="sh010", take="v001", clip_name="sh010_v001", source_path="/r/sh010_v001.mov",
                        frames=48, source_start_frame=86400)  # fmt: skip
    title = TimelineClip(shot="card1", take="card", clip_name="card1", source_path="/c/cards/card1-abc.mov",
                         frames=36, notes="opening", card={"text": "My film\nby me", "colour": "#FFFFFF",
                                                           "background": "#000000"})  # fmt: skip
    end = TimelineClip(shot="end", take="card", clip_name="end", source_path="/c/cards/end-def.mov", frames=12,
                       card={"text": "The end", "colour": "#FFFFFF", "background": "#101010"})  # fmt: skip
    return Timeline("p", Rate(24), (title, shot, end))


@pytest.mark.parametrize("style", ["resolve", "premiere", "avid"])
def test_cards_are_ax_events_read_back_by_pycmx_and_otio(style: str) -> None:
    tl = card_timeline()
    text = write_cmx3600(tl, style=style)
    check_edl(text, tl)  # contiguous record, source durations = record, both readers
    events = list(pycmx.parse_cmx3600(io.StringIO(text)).events)
    sources = [e.edits[0].source for e in events]
    assert [s == "AX" for s in sources] == [c.card is not None for c in tl.clips]
    if style != "premiere":
        assert "* CARD: My film by me" in text and "* CARD: The end" in text
        assert "* TAKE: card" not in text


def test_cards_in_otio_and_fcp_xml_carry_their_text(tmp_path: Path) -> None:
    tl = card_timeline()
    back = otio.adapters.read_from_file(str(write_otio(tl, tmp_path / "p.otio")))
    clips = list(back.tracks[0].find_clips())
    assert [c.name for c in clips] == ["card1", "sh010_v001", "end"]
    ref = clips[0].media_reference
    assert isinstance(ref, otio.schema.GeneratorReference) and ref.parameters["text"] == "My film\nby me"
    assert clips[0].metadata["vidasm"]["card"]["text"] == "My film\nby me"
    assert [c.duration().value for c in clips] == [c.frames for c in tl.clips]
    xml = otio.adapters.read_from_file(str(write_fcp_xml(tl, tmp_path / "p.xml")))
    assert [c.duration().value for c in xml.tracks[0].find_clips()] == [c.frames for c in tl.clips]


def test_a_project_without_cards_keeps_its_versions(tmp_path: Path) -> None:
    """No card: the edit facet and the timeline carry no card key, so their versions are what they were."""
    project_with(tmp_path, [{"shot": "sh010"}, {"shot": "sh020", "in": 2, "out": 10}])
    project = load_project(tmp_path, "p")
    assert "cards" not in v.spec_facets(project)[v.Asset.EDIT_SPEC]
    shot = TimelineClip(shot="sh010", take="v001", clip_name="sh010_v001", source_path="/r/a.mov", frames=4)
    assert "card" not in Timeline("p", Rate(24), (shot,)).to_dict()["clips"][0]


def test_a_card_change_touches_the_edit_facet_only(tmp_path: Path) -> None:
    folder = project_with(tmp_path, [{"card": "One", "seconds": 1}, {"shot": "sh010"}])
    before = v.spec_facets(load_project(tmp_path, "p"))
    project_with(tmp_path, [{"card": "Two", "seconds": 1}, {"shot": "sh010"}])
    after = v.spec_facets(load_project(tmp_path, "p"))
    assert before[v.Asset.PICTURE_SPEC] == after[v.Asset.PICTURE_SPEC]
    assert before[v.Asset.AUDIO_SPEC] == after[v.Asset.AUDIO_SPEC]
    assert before[v.Asset.EDIT_SPEC] != after[v.Asset.EDIT_SPEC]
    assert folder.is_dir()


def test_a_missing_or_broken_background_image_names_the_file(tmp_path: Path) -> None:
    from vidasm_assets.media.errors import InvalidMediaError, MediaNotFoundError

    folder = project_with(tmp_path, [{"card": "x", "seconds": 1, "background": "art/bg.png"}, {"shot": "sh010"}])
    project = load_project(tmp_path, "p")
    card = next(e for e in project.entries() if isinstance(e, CardRef))
    with pytest.raises(MediaNotFoundError, match=r"art/bg\.png: card card1's background image is missing"):
        card_clip(project, card)
    (folder / "art").mkdir()
    (folder / "art" / "bg.png").write_text("not a picture")
    with pytest.raises(InvalidMediaError, match=r"art/bg\.png: card card1's background is not an image"):
        card_clip(project, card)


def test_a_background_image_with_transparency_is_flattened_over_black(tmp_path: Path) -> None:
    """A PNG logo whose transparent pixels store white (as many exports do), and a palette PNG with a transparent
    entry: the card shows black there, as renders with alpha are flattened, not the stored white."""
    rgba = np.zeros((90, 160, 4), dtype=np.uint8)
    rgba[..., :3] = 255  # white everywhere, stored under the alpha
    rgba[:, 80:, 3] = 255  # the right half opaque (white), the left half transparent
    Image.fromarray(rgba, "RGBA").save(tmp_path / "logo.png")
    pal = Image.new("P", (160, 90), 1)
    pal.putpalette([255, 255, 255, 255, 255, 255])
    pal.paste(0, (0, 0, 80, 90))  # the left half: palette entry 0, transparent, white
    pal.save(tmp_path / "pal.png", transparency=0)
    for name in ("logo.png", "pal.png"):
        card = draw_title(tmp_path / f"{name}.card.png", 160, 90, " ", colour=(255, 255, 255),
                          background=tmp_path / name)  # fmt: skip
        frame = np.asarray(Image.open(card).convert("RGB")).astype(int)
        assert frame[:, 5:75].max() <= 2, (name, "transparent half")
        assert frame[:, 85:155].min() >= 250, (name, "opaque half")
