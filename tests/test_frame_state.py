"""edge.video.state: the one frame-state schema the pages and status files carry."""

from __future__ import annotations

import json

from edge.video.state import ENDED, LIVE, RECONNECTING, STALE_AFTER, STARTING, FrameState, Guess


def test_a_fresh_live_frame_is_live_and_carries_the_guess():
    state = FrameState(LIVE, timestamp=100.0, frames=7, fps=14.93,
                       guess=Guess("Cube", 0.861234, [("Cube", 0.861234), ("Hat", 0.1)], 4.2))  # fmt: skip
    record = state.to_json(now=100.5)
    assert record == {
        "source": "live", "says": "live", "age_s": 0.5, "stale": False, "timestamp": 100.0,
        "frame": 7, "fps": 14.93, "label": "Cube", "probability": 0.8612,
        "top_k": [{"label": "Cube", "probability": 0.8612}, {"label": "Hat", "probability": 0.1}],
        "inference_ms": 4.2, "unknown": False, "unknown_score": None, "unknown_threshold": None,
    }  # fmt: skip
    assert json.loads(json.dumps(record)) == record


def test_an_old_frame_is_stale_and_says_how_old():
    state = FrameState(LIVE, timestamp=100.0, frames=7)
    record = state.to_json(now=100.0 + STALE_AFTER + 3)
    assert record["stale"] and record["says"] == "no new frame for 5 s"
    assert record["label"] is None and record["top_k"] == []  # no model: nothing guessed


def test_each_source_state_is_said_in_words_and_is_stale_unless_live():
    says = {
        s: FrameState(s, timestamp=10.0).to_json(now=10.1) for s in (STARTING, RECONNECTING, ENDED)
    }
    assert {s: r["says"] for s, r in says.items()} == {
        STARTING: "waiting for the first frame",
        RECONNECTING: "camera lost, retrying",
        ENDED: "source ended",
    }
    assert all(r["stale"] for r in says.values())
    assert FrameState().to_json()["age_s"] is None and FrameState().stale()


def test_the_unknown_slots_are_carried_when_filled():
    guess = Guess("unknown", 0.4, [("Cube", 0.4)], unknown=True, unknown_score=3.2,
                  unknown_threshold=2.5)  # fmt: skip
    record = FrameState(LIVE, timestamp=1.0, guess=guess).to_json(now=1.0)
    assert (record["unknown"], record["unknown_score"], record["unknown_threshold"]) == (
        True, 3.2, 2.5)  # fmt: skip
