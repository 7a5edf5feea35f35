"""Which int8 attempt the remedy ladder keeps: a scripted ladder, no TensorFlow.

Each scripted step screens a made-up attempt; the ladder's own ranking and stopping decide."""

from __future__ import annotations

import numpy as np
import pytest

import convert.remedies
from convert.loading import Images
from convert.remedies import Attempt, Ladder


def _screen(agreement: float, drop: float, diff: float) -> dict:
    return {"agreement": agreement, "drop_points": drop, "mean_abs_prob_diff": diff}


class Scripted(Ladder):
    """A ladder whose steps screen the given results instead of quantizing a model."""

    def __init__(self, results: dict[str, dict], max_drop: float = 1.0, target: float = 98.0):
        images = Images("train", np.zeros((1, 2, 2, 3), np.uint8), np.zeros(1, int), [], 0)

        def screen(model_bytes: bytes) -> dict:
            return results[model_bytes.decode()]

        super().__init__(
            None, "uint8", images, None, screen,
            lambda s: s["drop_points"] <= max_drop, target, log=lambda line: None,
        )  # fmt: skip
        self.results = results

    def _step(self, name: str) -> bool:
        if name not in self.results:
            return False
        attempt = Attempt(name, name, None, self.calibration, name.encode(), b"")
        return self._try(attempt, 0.0)

    def plain(self):
        return self._step("plain")

    def equalize_remedy(self):
        return self._step("equalize")

    def calibration_remedy(self):
        return self._step("calibration")

    def percentile_remedy(self):
        return self._step("percentile")


@pytest.fixture(autouse=True)
def _no_tflite(monkeypatch):
    monkeypatch.setattr(convert.remedies, "float_ops", lambda model_bytes: [])


REMEDIES = ["equalize", "calibration", "percentile"]


def test_equalize_is_tried_and_kept_when_closer_although_plain_passes():
    """The built-in sample's validation split: both agree on every image, equalize is closer."""
    ladder = Scripted({
        "plain": _screen(100.0, 0.0, 0.0153), "equalize": _screen(100.0, 0.0, 0.0033),
        "calibration": _screen(100.0, 0.0, 0.0001),
    })  # fmt: skip
    assert ladder.run(REMEDIES).name == "equalize"
    assert [a.name for a in ladder.attempts] == ["plain", "equalize"]  # no costlier remedy


def test_plain_is_kept_when_equalize_moves_the_probabilities_more():
    ladder = Scripted({"plain": _screen(99.0, 0.3, 0.002), "equalize": _screen(99.0, 0.0, 0.004)})
    assert ladder.run(REMEDIES).name == "plain"


def test_a_passing_attempt_beats_a_closer_failing_one():
    ladder = Scripted({"plain": _screen(99.0, 0.5, 0.010), "equalize": _screen(99.5, 1.5, 0.001)})
    assert ladder.run(["equalize"]).name == "plain"


def test_reaching_the_target_agreement_beats_closeness():
    ladder = Scripted({
        "plain": _screen(97.0, 0.0, 0.001), "equalize": _screen(96.0, 0.0, 0.0009),
        "calibration": _screen(98.5, 0.3, 0.005), "percentile": _screen(100.0, 0.0, 0.0001),
    })  # fmt: skip
    assert ladder.run(REMEDIES).name == "calibration"
    assert "percentile" not in [a.name for a in ladder.attempts]  # the ladder stopped there


def test_the_remedies_go_on_while_nothing_passes_and_the_closest_failure_is_returned():
    ladder = Scripted({
        "plain": _screen(90.0, 5.0, 0.05), "equalize": _screen(92.0, 3.0, 0.04),
        "calibration": _screen(93.0, 2.0, 0.03), "percentile": _screen(91.0, 4.0, 0.035),
    })  # fmt: skip
    chosen = ladder.run(REMEDIES)
    assert chosen.name == "calibration" and not chosen.passed
    assert [a.name for a in ladder.attempts] == ["plain", "equalize", "calibration", "percentile"]


def test_without_equalize_in_the_list_only_plain_is_tried_when_it_passes():
    ladder = Scripted({"plain": _screen(100.0, 0.0, 0.02), "equalize": _screen(100.0, 0.0, 0.001)})
    assert ladder.run([]).name == "plain" and len(ladder.attempts) == 1
