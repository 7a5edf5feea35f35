"""`python -m edge.collect`: training photos from the device's own camera (edge.collect.command).

    python -m edge.collect --source picamera2 --out data/mine --classes Hat,Cube,Card
    from edge.collect import main, run, build_parser

The room: command (flags, the headless burst, the page or window), loop (capture -> page or
window), captures (the store: how photos are written), session (what a page or key asks),
burst (N photos that each differ, and why it ended), undo (what a page session takes back),
server + page (the collect page), window (keys on a Pi with a screen), unlabeled (edge.camera's
uncertain frames and their review).
"""

from edge.collect.command import build_parser, main, run

__all__ = ["build_parser", "main", "run"]
