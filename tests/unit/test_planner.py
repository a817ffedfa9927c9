"""What a failed build says: the assets a run left unbuilt and the error's own one line (``planner``)."""

from __future__ import annotations

import dagster as dg

from vidasm_assets.media.errors import UnsupportedMediaError
from vidasm_assets.planner import _failure_text, error_line, unbuilt

REFUSAL = "p review: transitions are not rendered with burn-ins yet [/ws/p/project.json]"


def test_a_vidasm_error_reads_as_its_own_message_and_others_keep_their_class() -> None:
    # as a roll-up run's step failure came back to `vidasm build` (captured from a real run)
    said = f"vidasm_assets.media.errors.UnsupportedMediaError: {REFUSAL}\n"
    assert error_line(said, "UnsupportedMediaError") == REFUSAL
    assert error_line(REFUSAL, "UnsupportedMediaError") == REFUSAL
    assert error_line("KeyError: 'sh010'\n", "KeyError") == "KeyError: 'sh010'"
    assert error_line("some.module.Boom: it broke\nTraceback...", "Boom") == "Boom: it broke"
    assert error_line("", "RangeError") == "RangeError" and error_line(None, None) == "failed"


def test_a_failed_roll_up_run_names_only_what_it_left_unbuilt() -> None:
    @dg.asset(key=["p", "cut"])
    def cut() -> int:
        return 1

    @dg.asset(key=["p", "edl"], deps=[cut])
    def edl() -> None:
        return None

    @dg.asset(key=["p", "delivery_review"], deps=[cut])
    def delivery_review() -> None:
        raise UnsupportedMediaError(REFUSAL.removesuffix(" [/ws/p/project.json]"), path="/ws/p/project.json")

    result = dg.materialize([cut, edl, delivery_review], raise_on_error=False)
    assert not result.success
    assert unbuilt(result, "p", ["cut", "edl", "delivery_review"]) == ["delivery_review"]
    assert _failure_text(result) == REFUSAL
    ok = dg.materialize([cut, edl], raise_on_error=False)
    assert ok.success and unbuilt(ok, "p", ["cut", "edl"]) == ["cut", "edl"]  # nothing unbuilt: named as asked
