"""edge.video.reconnect on a fake clock: waits that double, log lines that become rare, stopping."""

from __future__ import annotations

import re

from edge.video.reconnect import LINE_GAP_MAX, Reconnect
from edge.video.sources import SourceError


class Clock:
    """time.monotonic and Event.wait stand-ins: waiting moves the clock, nothing sleeps."""

    def __init__(self, stop_after: int | None = None):
        self.now, self.waits, self.stop_after = 1000.0, [], stop_after

    def __call__(self) -> float:
        return self.now

    def wait(self, seconds: float) -> bool:
        if self.stop_after is not None and len(self.waits) >= self.stop_after:
            return True  # told to stop (SIGTERM)
        self.waits.append(seconds)
        self.now += seconds
        return False


class AbsentCamera:
    """A camera that is plugged in at `back_at` on the clock: open() fails until then."""

    name = "camera 0"

    def __init__(self, clock: Clock, back_at: float):
        self.clock, self.back_at = clock, back_at
        self.opens = self.closes = 0
        self.opened = False

    def open(self) -> None:
        self.opens += 1
        if self.clock.now < self.back_at:
            raise SourceError("cannot open camera 0: is the camera plugged in")
        self.opened = True

    def close(self) -> None:
        self.closes += 1
        self.opened = False


def reconnect_for(seconds_away: float, stop_after: int | None = None):
    clock = Clock(stop_after)
    camera = AbsentCamera(clock, clock.now + seconds_away)
    lines: list[tuple[float, str]] = []
    log = lambda message: lines.append((clock.now, message))  # noqa: E731
    reconnect = Reconnect(camera, log=log, wait=clock.wait, clock=clock)
    return reconnect, camera, clock, lines


def test_a_camera_back_after_three_seconds_is_reopened_at_the_next_try():
    reconnect, camera, clock, lines = reconnect_for(3.0)
    assert reconnect.reopen("lost camera 0")
    assert camera.opened and camera.closes == 1 and reconnect.reconnects == 1
    assert clock.waits == [0.5, 1.0, 2.0]  # tried at 0.5, 1.5 and 3.5 s: back at the third
    assert [m for _, m in lines] == [
        "lost camera 0; trying again every 0.5 to 8 s",
        "still no camera 0 after 2 s: cannot open camera 0: is the camera plugged in",
        "reopened camera 0 after 3.5 s",
    ]


def test_waits_double_up_to_8_s_and_the_lines_become_rare():
    """Ten minutes without a camera: tries every 8 s, but a line only about once a minute."""
    reconnect, camera, clock, lines = reconnect_for(600.0)
    assert reconnect.reopen("lost camera 0")
    assert clock.waits[:6] == [0.5, 1.0, 2.0, 4.0, 8.0, 8.0] and set(clock.waits[4:]) == {8.0}
    assert camera.opens == len(clock.waits) > 75
    still = [when - 1000.0 for when, line in lines if line.startswith("still no camera 0 after")]
    gaps = [b - a for a, b in zip(still, still[1:], strict=False)]
    assert still[0] <= 2.0  # the first repeat comes soon: the user may be watching
    assert gaps[:4] == [2.0, 4.0, 8.0, 16.0]  # then doubling ...
    assert all(LINE_GAP_MAX <= gap <= LINE_GAP_MAX + 8.0 for gap in gaps[6:])  # ... to a minute
    assert len(lines) == 2 + len(still) and len(still) <= 15
    assert re.fullmatch(r"reopened camera 0 after 60\d\.\d s", lines[-1][1])


def test_stop_while_waiting_ends_without_opening():
    reconnect, camera, clock, lines = reconnect_for(600.0, stop_after=3)
    assert not reconnect.reopen("lost camera 0")
    assert camera.opens == 3 and not camera.opened and reconnect.reconnects == 0
