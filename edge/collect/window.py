"""The collect window on a Pi with a screen: keys 1-9 capture into a class, 0 into "none of
these" (DIR/_unknown), u undo, q quit.

    python -m edge.collect --source picamera2 --out data/mine --classes Hat,Cube --window

Thin by design (it cannot be tested without a display): the frame, the class list with
counts and the last message are drawn; every decision is edge.collect.session's.
"""

from __future__ import annotations

import threading

import cv2
import numpy as np

from edge.collect.captures import NONE_OF_THESE, UNKNOWN_FOLDER
from edge.collect.loop import SOURCE_SHAPE, feed, summary
from edge.collect.session import UNKNOWN_KEY, Session
from edge.errors import UserError
from edge.video.capture import CaptureThread
from edge.video.sources import open_source
from edge.video.window import Window

LINE = 28  # pixels between text lines


def draw(rgb: np.ndarray, session: Session, message: str) -> np.ndarray:
    shown = rgb.copy()
    counts = session.store.counts()
    lines = [f"{i + 1} {c}: {counts.get(c, 0)}" for i, c in enumerate(session.classes()[:9])]
    lines.append(f"{UNKNOWN_KEY} {NONE_OF_THESE}: {session.store.unknown_count()}")
    lines += ["u undo   q quit", message]
    for row, text in enumerate(lines):
        origin = (10, LINE * (row + 1))
        cv2.putText(shown, text, origin, cv2.FONT_HERSHEY_SIMPLEX, 0.7, (0, 0, 0), 4)
        cv2.putText(shown, text, origin, cv2.FONT_HERSHEY_SIMPLEX, 0.7, (255, 255, 255), 1)
    return shown


def on_key(session: Session, key: int) -> str:
    """What a key press did, as the message to show ("" for keys that do nothing)."""
    classes = session.classes()
    try:
        chosen = None
        if ord("1") <= key <= ord("9") and key - ord("1") < len(classes):
            chosen = classes[key - ord("1")]
        elif key == ord(str(UNKNOWN_KEY)):
            chosen = UNKNOWN_FOLDER
        if chosen is not None:
            answer = session.capture({"class": chosen})
            return "skipped: too like the last one" if answer["skipped"] else answer["saved"]
        if key in (ord("u"), ord("U")):
            return session.undo({})["says"]
    except UserError as exc:
        return str(exc)
    return ""


def run_window(options, session: Session, stop: threading.Event) -> int:
    message = ""
    with Window("edge collect") as window:
        source = open_source(options.source, SOURCE_SHAPE)
        with CaptureThread(source) as capture:

            def on_frame(rgb) -> bool:
                nonlocal message
                latest = rgb if rgb is not None else session.frames.latest()
                shown = None if latest is None else draw(latest, session, message)
                key = window.show_key(shown)
                if key is None:
                    return False
                message = on_key(session, key) or message
                return True

            feed(capture, source, session.frames, stop, on_frame)
    summary(session.store)
    return 0
