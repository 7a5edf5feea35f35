"""The flags of `python -m edge.camera` (the command's own docstring is its --help text).

from edge.camera.args import flag_parser
options = flag_parser(__doc__).parse_args(["--model", "models/sample", "--source", "0"])
"""

from __future__ import annotations

import os
from pathlib import Path

from edge.cli import (
    Parser,
    add_classifier_arguments,
    add_model_arguments,
    non_negative_int,
    positive_float,
    positive_int,
    probability,
    seconds,
)
from edge.collect.captures import DEFAULT_MIN_CHANGE
from edge.collect.unlabeled import DEFAULT_MAX_FRAMES, DEFAULT_MAX_MIB
from edge.prediction import KINDS
from edge.web.access import DEFAULT_TOKEN_FILE
from edge.web.webview import parse_address

DEFAULT_THREADS = min(4, os.cpu_count() or 1)  # a Pi 4/5 has 4 cores
WAIT_FOR_FRAME = 0.25  # s; how often the loop looks up from an empty hand-over
# OpenCV's own worker pool (resize, colour conversion, FFmpeg decoding) would fight the
# interpreter's --threads for the same cores; one thread keeps the capture work on the capture
# thread. Measured by bench/camera_loop.py: ~0.3 ms less CPU a frame at 640x480.
OPENCV_THREADS = 1


def flag_parser(description: str) -> Parser:
    parser = Parser(prog="python -m edge.camera", description=description)
    add_model_arguments(parser, KINDS)
    parser.add_argument(
        "--source",
        default="0",
        help="camera index, picamera2, a video file, an image folder or an rtsp/http URL",
    )
    add_classifier_arguments(parser, DEFAULT_THREADS, "labels to show per frame", "label")
    parser.add_argument(
        "--smooth",
        type=positive_int,
        default=1,
        metavar="N",
        help="average probabilities over N frames",
    )
    parser.add_argument(
        "--headless", action="store_true", help="no window; one JSON line per frame on stdout"
    )
    parser.add_argument(
        "--wait-for-camera",
        action="store_true",
        help="a camera or stream that does not open at start is retried with back-off "
        "(as a lost one is) instead of ending with an error; for boot services",
    )
    parser.add_argument(
        "--max-frames",
        type=non_negative_int,
        default=0,
        metavar="N",
        help="stop after N classified frames (0: until the source ends or Ctrl-C)",
    )
    add_output_arguments(parser)
    add_uncertain_arguments(parser)
    return parser


def add_output_arguments(parser: Parser) -> None:
    """--record and --serve: where annotated frames go besides the window."""
    parser.add_argument(
        "--record",
        type=Path,
        default=None,
        metavar="FILE",
        help="write the annotated frames to a .mp4/.avi (never the --source file)",
    )
    parser.add_argument(
        "--overwrite", action="store_true", help="--record may replace an existing file"
    )
    parser.add_argument(
        "--serve",
        type=parse_address,
        default=None,
        metavar="HOST:PORT",
        help="serve a live web view (MJPEG + JSON); HOST defaults to 127.0.0.1 (this machine "
        "only); beyond it a token is needed (printed at start)",
    )
    parser.add_argument(
        "--serve-token",
        type=Path,
        default=None,
        metavar="FILE",
        help=f"the web view's token file, made (mode 0600) at first start; default "
        f"{DEFAULT_TOKEN_FILE} when HOST is not loopback",
    )
    parser.add_argument(
        "--no-auth",
        action="store_true",
        help="serve beyond loopback without a token (anyone on the network sees the camera)",
    )


def add_uncertain_arguments(parser: Parser) -> None:
    parser.add_argument(
        "--save-uncertain",
        type=Path,
        default=None,
        metavar="DIR",
        help="keep frames whose top probability is below --uncertain-below, and those said "
        "unknown, in DIR/_unlabeled/ (review them with python -m edge.collect --out DIR --review)",
    )
    parser.add_argument(
        "--uncertain-below",
        type=probability,
        default=0.6,
        metavar="P",
        help="a frame is uncertain when its top probability is below this",
    )
    parser.add_argument(
        "--save-every",
        type=seconds,
        default=2.0,
        metavar="SECONDS",
        help="keep at most one uncertain frame per this interval (2s, 500ms)",
    )
    parser.add_argument(
        "--uncertain-max-frames",
        type=positive_int,
        default=DEFAULT_MAX_FRAMES,
        metavar="N",
        help="stop keeping uncertain frames once DIR/_unlabeled/ holds this many (the camera "
        "goes on classifying)",
    )
    parser.add_argument(
        "--uncertain-max-mib",
        type=positive_float,
        default=DEFAULT_MAX_MIB,
        metavar="MIB",
        help="stop keeping uncertain frames once DIR/_unlabeled/ holds this many MiB",
    )
    parser.add_argument(
        "--min-change",
        type=float,
        default=DEFAULT_MIN_CHANGE,
        metavar="D",
        help="skip an uncertain frame this close to the last one kept "
        "(mean abs. difference of 32x32 gray thumbnails, 0..255)",
    )
