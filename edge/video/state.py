"""The state of the newest frame, as every page and status file tells it: one schema, one owner.

    from edge.video.state import FrameState, Guess, LIVE
    state = FrameState(source=LIVE, timestamp=frame.timestamp, frames=120, fps=14.9,
                       guess=Guess("Cube", 0.86, [("Cube", 0.86), ("Hat", 0.12)], 4.2))
    state.to_json()        # what /prediction.json, the collect page's state.json and the
                           # device's status file carry (fields below)

A page must never show a stale picture, label or fps as live, so the age of the newest frame
and the source's state travel with every prediction:

    {"source": "live",            starting | live | reconnecting | ended
     "says": "live",              the source's state in words, for a person (WORDS)
     "age_s": 0.04,               seconds since the newest frame was captured (null: none yet)
     "stale": false,              true when the source is not live or age_s > STALE_AFTER
     "timestamp": 1718000000.123, capture time of the newest frame (Unix seconds; null: none)
     "frame": 120,                frames seen (classified, or shown on the collect page)
     "fps": 14.9,                 over a rolling window (edge.video.fps)
     "label": "Cube", "probability": 0.86,            null on a page without a model
     "top_k": [{"label": "Cube", "probability": 0.86}, ...],
     "inference_ms": 4.2,
     "unknown": false,            true when the model's unknown rule says "none of the classes"
     "unknown_score": null, "unknown_threshold": null}  that rule's score and its threshold

The unknown fields are slots: they stay false / null until a model carries the statistics
for the rule (then the loop fills them from its prediction).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

STARTING, LIVE, RECONNECTING, ENDED = "starting", "live", "reconnecting", "ended"
WORDS = {
    STARTING: "waiting for the first frame",
    LIVE: "live",
    RECONNECTING: "camera lost, retrying",
    ENDED: "source ended",
}
STALE_AFTER = 2.0  # s; a newer frame than this is expected from any live source


@dataclass
class Guess:
    """What the model said about the newest frame."""

    label: str
    probability: float
    top_k: list[tuple[str, float]] = field(default_factory=list)  # best first
    inference_ms: float = 0.0
    unknown: bool = False  # the unknown rule said: none of the classes
    unknown_score: float | None = None  # the rule's score for this frame
    unknown_threshold: float | None = None  # above it (or below, as the rule says): unknown


@dataclass
class FrameState:
    """The newest frame's age and source state, and what was made of it."""

    source: str = STARTING  # STARTING, LIVE, RECONNECTING or ENDED
    timestamp: float | None = None  # time.time() when the newest frame was captured
    frames: int = 0  # frames seen so far
    fps: float = 0.0
    guess: Guess | None = None  # None: no model looks at these frames

    def age(self, now: float | None = None) -> float | None:
        """Seconds since the newest frame was captured; None before the first."""
        if self.timestamp is None:
            return None
        return max(0.0, (time.time() if now is None else now) - self.timestamp)

    def stale(self, now: float | None = None) -> bool:
        age = self.age(now)
        return self.source != LIVE or age is None or age > STALE_AFTER

    def says(self, now: float | None = None) -> str:
        """The state in words: the source's state, or how old the newest frame is."""
        age = self.age(now)
        if self.source == LIVE and age is not None and age > STALE_AFTER:
            return f"no new frame for {age:.0f} s"
        return WORDS.get(self.source, self.source)

    def to_json(self, now: float | None = None) -> dict:
        now = time.time() if now is None else now
        age = self.age(now)
        guess = self.guess
        return {
            "source": self.source,
            "says": self.says(now),
            "age_s": None if age is None else round(age, 2),
            "stale": self.stale(now),
            "timestamp": None if self.timestamp is None else round(self.timestamp, 3),
            "frame": self.frames,
            "fps": round(self.fps, 2),
            "label": guess.label if guess else None,
            "probability": round(float(guess.probability), 4) if guess else None,
            "top_k": [{"label": name, "probability": round(float(p), 4)} for name, p in guess.top_k]
            if guess
            else [],
            "inference_ms": round(guess.inference_ms, 3) if guess else None,
            "unknown": bool(guess and guess.unknown),
            "unknown_score": guess.unknown_score if guess else None,
            "unknown_threshold": guess.unknown_threshold if guess else None,
        }
