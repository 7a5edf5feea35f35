"""Collect training photos from the device's own camera, into the layout `train` reads.

    python -m edge.collect --source picamera2 --out data/mine --classes Hat,Cube,Card
        # a page at http://127.0.0.1:8000/: live preview, a button per class, burst, undo
    python -m edge.collect --source picamera2 --out data/mine --serve 0.0.0.0:8000
        # from a phone on the LAN: open the printed URL (it carries the access token once)
    python -m edge.collect --source 0 --out data/mine --window      # keys 1-9, 0 none of these, u, q
    python -m edge.collect --source clip.mp4 --out data/mine --label Cube --count 20 --every 0.5
    python -m edge.collect --out data/mine --review      # review only, no camera

Classes default to DIR's existing sub-folders (folders starting with `_` or `.` are never
classes); --classes adds folders; keys 1-9 keep their order across sessions (DIR/keys.txt).
What is saved and how (full frames, JPEG q95, unique names, temporary name then rename,
captures.jsonl, near-duplicates skipped): edge.collect.captures. --label runs a headless burst
(edge.collect.burst): --count photos that pass the near-duplicate check, at least --every
seconds apart; it ends early when the source ends or nothing changed for --still-for seconds,
saying how many and why, then exit 0. The page's Review tab shows itself whenever
DIR/_unlabeled/ holds frames. Beyond loopback the command prints the address with its token
and a QR code of it for a phone. Ctrl-C exits 130; bad input: one sentence, exit 2.
"""

from __future__ import annotations

import sys
import threading
import time
from contextlib import ExitStack
from pathlib import Path

from edge.cli import Parser, non_negative_int, positive_int, run_until_sigterm, seconds
from edge.collect.burst import DEFAULT_STILL_FOR, MAX_BURST, Burst, run_burst
from edge.collect.captures import (
    DEFAULT_MIN_CHANGE,
    UNKNOWN_FOLDER,
    CaptureStore,
    check_class_name,
    check_folder,
)
from edge.collect.loop import SOURCE_SHAPE, WAIT_FOR_FRAME, feed, log, summary
from edge.collect.server import MAX_CLIENTS, CollectServer, preview_frames
from edge.collect.session import NextStep, Session
from edge.collect.unlabeled import Review
from edge.collect.window import run_window
from edge.errors import UserError
from edge.video.capture import CaptureThread
from edge.video.sources import open_source
from edge.web.access import DEFAULT_TOKEN_FILE, Access
from edge.web.join import say_where
from edge.web.webview import parse_address

DEFAULT_SERVE = "127.0.0.1:8000"


def build_parser() -> Parser:
    parser = Parser(prog="python -m edge.collect", description=__doc__)
    parser.add_argument(
        "--source",
        default=None,
        help="camera index, picamera2, a video file, an image folder or a stream URL "
        "(default: 0, or none with --review)",
    )
    parser.add_argument("--out", type=Path, required=True, metavar="DIR", help="dataset folder")
    parser.add_argument(
        "--classes", default=None, metavar="A,B,C", help="classes (folders) to offer, in key order"
    )
    parser.add_argument(
        "--label",
        default=None,
        metavar="CLASS",
        help=f"headless burst into CLASS ({UNKNOWN_FOLDER}: photos of none of the classes)",
    )
    parser.add_argument(
        "--count", type=positive_int, default=10, metavar="N", help="photos the burst saves"
    )
    parser.add_argument(
        "--every",
        type=seconds,
        default=0.5,
        metavar="SECONDS",
        help="least time between two saved photos (0: as soon as the scene changed enough)",
    )
    parser.add_argument(
        "--still-for",
        type=seconds,
        default=DEFAULT_STILL_FOR,
        metavar="SECONDS",
        help="a burst ends when the scene has not changed enough for this long",
    )
    parser.add_argument(
        "--min-change",
        type=float,
        default=DEFAULT_MIN_CHANGE,
        metavar="D",
        help="skip a frame this close to the class's last one (mean abs. difference of 32x32 "
        "gray thumbnails, 0..255; 0 keeps every frame)",
    )
    parser.add_argument(
        "--max-side",
        type=non_negative_int,
        default=0,
        metavar="PIXELS",
        help="scale saved frames down to this longest side (0: as captured)",
    )
    parser.add_argument(
        "--serve",
        type=parse_address,
        default=None,
        metavar="HOST:PORT",
        help=f"serve the collect page (default {DEFAULT_SERVE} when neither --label nor "
        "--window); a non-loopback HOST needs the token in --token-file",
    )
    parser.add_argument("--window", action="store_true", help="an OpenCV window instead")
    parser.add_argument(
        "--review",
        action="store_true",
        help="review only: no camera unless --source (the Review tab shows by itself whenever "
        "DIR/_unlabeled holds frames)",
    )
    parser.add_argument(
        "--pi",
        default=None,
        metavar="USER@HOST",
        help="this Pi as the workstation reaches it (make collect PI= passes it), for the "
        "`make pull` the page shows once the data is ready",
    )
    parser.add_argument(
        "--host-data",
        default=None,
        metavar="DIR",
        help="DATA on the workstation (make collect passes it), for the commands the page shows",
    )
    parser.add_argument(
        "--token-file",
        type=Path,
        default=None,
        metavar="FILE",
        help="the page's token file, made (mode 0600) when missing; default "
        f"{DEFAULT_TOKEN_FILE} when HOST is not loopback (naming one asks for it on loopback too)",
    )
    parser.add_argument(
        "--max-clients", type=positive_int, default=MAX_CLIENTS, help="connections at once"
    )
    return parser


def check_options(options) -> None:
    """Everything that can be checked before a camera opens."""
    if options.min_change < 0:
        raise UserError("--min-change must be 0 or more")
    if options.count > MAX_BURST:
        raise UserError(f"--count is at most {MAX_BURST} (a bigger burst is a typo)")
    if options.out.exists() and not options.out.is_dir():
        raise UserError(f"--out {options.out} is a file, not a folder")
    if options.label is not None:
        options.label = check_folder(options.label)  # a class, or _unknown ("none of these")
        if options.window or options.serve or options.review:
            raise UserError("--label is a headless burst: leave out --window, --serve, --review")
    if options.window and options.serve:
        raise UserError("choose --window or --serve, not both")
    options.classes = [check_class_name(c) for c in (options.classes or "").split(",") if c.strip()]
    if options.source is None and not options.review:
        options.source = "0"
    if options.source is None and (options.label or options.window):
        raise UserError("--label and --window need a --source")


def headless_burst(options, store: CaptureStore, stop: threading.Event) -> int:
    source = open_source(options.source, SOURCE_SHAPE)
    video_fps = 0.0 if source.live else source.fps  # now: the file's rate goes when it closes
    with CaptureThread(source) as capture:

        def take():
            """The next frame and its time on its own clock (a file's position, else now)."""
            while not stop.is_set():
                frame = capture.next_frame(timeout=WAIT_FOR_FRAME)
                if frame is not None:
                    clock = frame.index / video_fps if video_fps > 0 else frame.timestamp
                    return frame.image, clock
                if capture.error is not None or capture.ended:
                    return None
            return None

        started = time.perf_counter()
        burst = Burst(options.label, options.count, options.every, options.still_for)
        run_burst(store, burst, take, stop)
        elapsed = time.perf_counter() - started
    if capture.error is not None:
        raise UserError(f"reading {source.name} failed: {capture.error}")
    log(f"{burst.sentence} (into {store.root / options.label}, {elapsed:.1f} s here)")
    summary(store)
    return 0


def serve(options, session: Session, stop: threading.Event) -> int:
    host, port = options.serve or parse_address(DEFAULT_SERVE)
    access = Access.for_address(host, options.token_file)
    with ExitStack() as stack:
        source = open_source(options.source, SOURCE_SHAPE) if options.source else None
        if source is not None:
            stack.callback(source.close)
        server = CollectServer(host, port, session, access, options.max_clients)
        stack.enter_context(server)
        log(f"collect page at {server.url}")
        say_where(server.join_url, sys.stderr)
        if source is None:
            stop.wait()
        else:
            capture = stack.enter_context(CaptureThread(source))
            feed(capture, source, session.frames, stop)
        session.stop.set()
    summary(session.store)
    return 0


def run(options, stop: threading.Event) -> int:
    check_options(options)
    options.out.mkdir(parents=True, exist_ok=True)
    store = CaptureStore(
        options.out, options.source or "", min_change=options.min_change, max_side=options.max_side
    )
    if options.label is not None:
        if options.label != UNKNOWN_FOLDER:
            store.new_class_name(options.label)  # not Hat's twin hat: before the camera opens
        return headless_burst(options, store, stop)
    next_step = NextStep(data=options.host_data, pi=options.pi)
    session = Session(store, preview_frames(), options.classes, Review(options.out), next_step)
    if options.window:
        return run_window(options, session, stop)
    return serve(options, session, stop)


def main(argv: list[str] | None = None) -> int:
    return run_until_sigterm(run, build_parser().parse_args(argv))
