"""edge.collect.burst: N photos that pass the near-duplicate check, and one sentence why it ended."""

from __future__ import annotations

import threading

import numpy as np

from edge.collect.burst import DONE, SOURCE_ENDED, STILL, STOPPED, Burst, run_burst


class Store:
    """A store whose near-duplicate check is a flag on the frame: frames are [changed]."""

    min_change = 1.0

    def __init__(self):
        self.saved = []

    def save(self, cls, rgb):
        if not rgb[0]:
            return None
        self.saved.append((cls, rgb))
        return f"{len(self.saved)}.jpg"


def frames(changes, fps=10.0, on_take=None):
    """take() over frames whose `changes` say which ones differ enough; None at the end."""
    items = iter(enumerate(changes))

    def take():
        i, changed = next(items, (None, None))
        if on_take:
            on_take(i)
        return None if i is None else (np.array([changed]), i / fps)

    return take


def test_a_slow_scene_still_gives_n_photos_and_says_how_many_were_passed_over():
    changes = ([False] * 3 + [True]) * 12  # one frame in four differs enough
    store, burst = Store(), Burst("Cube", count=10)
    run_burst(store, burst, frames(changes), threading.Event())
    assert (burst.saved, burst.skipped, burst.ended) == (10, 30, DONE)
    assert len(store.saved) == 10
    assert burst.sentence == (
        "saved 10 of 10 Cube photos in 3.9 s; 30 frames too like the last one saved were "
        "passed over"
    )


def test_every_is_the_least_time_between_saved_photos():
    store, burst = Store(), Burst("Cube", count=3, every=0.5)
    run_burst(store, burst, frames([True] * 30), threading.Event())
    assert burst.ended == DONE and burst.skipped == 0 and burst.seconds == 1.0  # 0, 0.5, 1.0 s


def test_a_still_scene_ends_after_still_for_with_the_reason():
    store, burst = Store(), Burst("Cube", count=10, still_for=2.0)
    run_burst(store, burst, frames([True] + [False] * 100), threading.Event())
    assert (burst.saved, burst.ended) == (1, STILL)
    assert burst.skipped == 20  # 2 s at 10 frames a second
    assert burst.sentence.startswith("saved 1 of 10 Cube photo: the scene did not change for 2 s")
    assert "lower --min-change" in burst.sentence


def test_the_source_ending_mid_burst_ends_it_and_says_so():
    store, burst = Store(), Burst("Hat", count=10)
    run_burst(store, burst, frames([True, False, True]), threading.Event())
    assert (burst.saved, burst.ended, burst.active) == (2, SOURCE_ENDED, False)
    assert burst.sentence == (
        "saved 2 of 10 Hat photos: the source ended; 1 frames too like the last one saved "
        "were passed over (a change under 1 of the last photo does not count)"
    )


def test_stop_ends_it_at_once_and_says_so():
    burst = Burst("Hat", count=10)
    take = frames([True] * 50, on_take=lambda i: i == 4 and burst.cancel.set())
    run_burst(Store(), burst, take, threading.Event())
    assert (burst.saved, burst.ended) == (4, STOPPED)
    assert burst.sentence == "saved 4 of 10 Hat photos: stopped"


def test_while_waiting_for_a_change_it_says_so():
    burst = Burst("Cube", count=10)
    seen = []
    take = frames([True, True, True, False], on_take=lambda i: seen.append(burst.says()))
    run_burst(Store(), burst, take, threading.Event())
    assert seen[3] == "Cube: burst: 3 of 10"
    assert seen[4] == "Cube: waiting for the scene to change: 3 of 10"
    assert burst.to_json()["says"] == burst.sentence and not burst.to_json()["active"]


def test_a_hold_counts_without_a_target_and_says_released():
    burst = Burst("Cube", count=200, hold=True)
    take = frames([True] * 50, on_take=lambda i: i == 5 and burst.cancel.set())
    run_burst(Store(), burst, take, threading.Event())
    assert burst.sentence == "saved 5 Cube photos: released"
