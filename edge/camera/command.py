"""Live classification: capture -> classify -> draw / print / record / serve, frame after frame.

    python -m edge.camera --model models/sample --source 0                  # USB camera, window
    python -m edge.camera --source picamera2 --headless --serve 0.0.0.0:8000 # Pi without screen
    python -m edge.camera --source data/sample/Cube --headless --max-frames 20
    python -m edge.camera --source clip.mp4 --record annotated.mp4 --headless
    python -m edge.camera --source picamera2 --headless --save-uncertain data/mine  # doubts -> data

--source is a camera index (OpenCV/V4L2), `picamera2` (Pi CSI camera), a video file, a
folder of images or an rtsp:// / http:// stream URL. Capture runs in its own thread and the
loop always takes the newest frame (edge.video.capture). A lost camera or stream is reopened with
back-off while the loop keeps running; files and folders end at their last frame.

--headless prints one JSON line per frame on stdout (log lines go to stderr):
    {"timestamp": 1718000000.123, "frame": 0, "source_frame": 0, "label": "Cube",
     "probability": 0.9912, "top_k": [{"label": "Cube", "probability": 0.9912}, ...],
     "inference_ms": 4.21, "fps": 23.5, "unknown": false, "unknown_score": -41.2,
     "unknown_threshold": -55.0}
timestamp: capture time (Unix seconds); frame: frames classified before this one;
source_frame: the source's frame number (gaps are stale frames dropped); label: "unknown"
when the model's calibrated rule says none of the classes (unknown_score below
unknown_threshold; null when the model has no statistics: edge.openset), or below --threshold
when one is given; inference_ms: invoke() alone; fps: over the last 30 frames.
The first (warm-up) invoke runs before the loop and is not counted.

--save-uncertain DIR keeps frames whose top probability is below --uncertain-below, and those
the unknown rule called unknown (the sidecar's "reason" says which), in DIR/_unlabeled/ with
the prediction beside each (edge.collect.unlabeled), at most one per --save-every (on a video
file, its own clock) and none that barely differs from the last one kept. At
--uncertain-max-frames or --uncertain-max-mib, or when the disk is full, it stops keeping
them and says so once; the camera goes on classifying.

--wait-for-camera (what the boot service passes): a camera or stream that is not there at
start is waited for, with the same back-off and rare log lines as a lost one, instead of exit 2.

--serve beyond loopback needs the token printed at start (edge.web.access; --no-auth to serve
without one). Its page's "where it looked" toggle (and the window's key h) draws the Grad-CAM
heat-map over the picture, computed on one frame in EXPLAIN_EVERY (edge.video.overlay), only
while asked for; a model folder without the statistics says why there is none. --record never writes the --source file, nor an existing file without
--overwrite.

Ctrl-C (exit 130) and SIGTERM (exit 0) close the camera, the window, the recorder and the
server. A bad flag, model folder or source: one sentence on stderr and exit code 2.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from contextlib import ExitStack
from dataclasses import dataclass
from typing import TextIO

import cv2

from edge.camera.args import DEFAULT_THREADS, OPENCV_THREADS, WAIT_FOR_FRAME, flag_parser
from edge.camera.status import Health
from edge.cli import (
    run_until_sigterm,
)
from edge.collect.unlabeled import UncertainSaver
from edge.errors import ExitError, UserError
from edge.prediction import Classifier, Prediction, unknown_fields
from edge.video.capture import CaptureThread, Frame
from edge.video.fps import RollingFps
from edge.video.overlay import EXPLAIN_EVERY, WhereItLooked, annotate
from edge.video.reconnect import Reconnect
from edge.video.recorder import Recorder
from edge.video.sources import SourceError, parse_source
from edge.video.state import LIVE, FrameState, Guess
from edge.video.window import HEAT_KEY, Window, check_can_open
from edge.web.access import Access
from edge.web.join import phone_url, say_where
from edge.web.webview import WebView

__all__ = ["DEFAULT_THREADS", "OPENCV_THREADS", "build_parser", "main", "run"]


def build_parser():
    return flag_parser(__doc__)


def frame_clock(frame: Frame, video_fps: float) -> float:
    """Seconds on the frame's own clock: the position in a video file (video_fps > 0: a file
    is judged the same however fast it is read), else the capture time."""
    return frame.index / video_fps if video_fps > 0 else frame.timestamp


def as_record(frame: Frame, count: int, prediction: Prediction, fps: float) -> dict:
    """One headless JSON line (the schema in this module's docstring)."""
    return {
        "timestamp": round(frame.timestamp, 3),
        "frame": count,
        "source_frame": frame.index,
        "label": prediction.label,
        "probability": round(prediction.score, 4),
        "top_k": [{"label": name, "probability": round(p, 4)} for name, p in prediction.top],
        "inference_ms": round(prediction.inference_ms, 3),
        "fps": round(fps, 2),
        **unknown_fields(prediction),
    }


def as_state(frame: Frame, count: int, prediction: Prediction, fps: float) -> FrameState:
    """The frame's state for the web view (edge.video.state's schema)."""
    unknown = unknown_fields(prediction)  # the rounded values the JSON line has
    guess = Guess(
        prediction.label,
        prediction.score,
        prediction.top,
        prediction.inference_ms,
        unknown["unknown"],
        unknown["unknown_score"],
        unknown["unknown_threshold"],
    )
    return FrameState(LIVE, frame.timestamp, count, fps, guess)


def _as_user_error(error: BaseException, name: str) -> BaseException:
    """A failure inside the capture thread, as the one sentence run_cli prints."""
    if isinstance(error, ExitError):
        return error
    first_line = (str(error).strip().splitlines() or [type(error).__name__])[0]
    return UserError(f"reading {name} failed: {first_line}")


def _print_line(out, line: str) -> bool:
    """Write one JSON line; False when stdout is a pipe whose reader has closed it."""
    try:
        out.write(line + "\n")
        out.flush()
        return True
    except BrokenPipeError:
        # Point stdout at /dev/null, so Python's own flush at exit does not fail again.
        if out is sys.stdout:
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return False


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _checked_outputs(options) -> tuple[Recorder | None, Access | None]:
    """--source, --save-uncertain, --record and --serve, checked before the model loads (a
    refused file costs nothing)."""
    parse_source(options.source, (1, 1))  # the spec only: opened with the model's size later
    if options.save_uncertain is not None and not options.save_uncertain.is_dir():
        raise UserError(f"--save-uncertain {options.save_uncertain}: no such folder")
    recorder = access = None
    if options.record:
        recorder = Recorder(options.record, source=options.source, overwrite=options.overwrite)
    if options.serve:
        access = Access.for_address(options.serve[0], options.serve_token, options.no_auth)
    return recorder, access


def open_or_wait(options, input_size: tuple[int, int], stop: threading.Event, health=None):
    """The opened --source; with --wait-for-camera a live one that is not there yet is waited
    for (None when `stop` is set first)."""
    source = parse_source(options.source, input_size)
    try:
        source.open()
    except SourceError as exc:
        if not (options.wait_for_camera and source.live):
            raise
        waiting = f"{exc}; waiting for it (--wait-for-camera)"
        wait = stop.wait
        if health is not None:  # `make status` says why there are no frames, and it is fresh
            health.error(waiting)

            def wait(seconds: float) -> bool:
                health.write_due(force=True)
                return stop.wait(seconds)

        if not Reconnect(source, log=log, wait=wait).reopen(waiting):
            return None
    return source


def run(options, stop: threading.Event, out=None) -> int:
    """The loop. Returns when the source ends, --max-frames is reached, the window is closed
    or `stop` is set (SIGTERM); every resource is closed on the way out."""
    recorder, access = _checked_outputs(options)
    classify = Classifier.from_options(options)
    warm_ms = classify.warm_up()
    health = Health.start(classify.model.path, classify.labels)  # the status file, from now on
    health.write_due(force=True)
    with ExitStack() as stack:
        stack.callback(cv2.setNumThreads, cv2.getNumThreads())  # as the caller had it
        cv2.setNumThreads(OPENCV_THREADS)
        # Flags are checked before the camera opens; files and sockets open after it did.
        if not options.headless:
            check_can_open()
        if recorder is not None:
            stack.enter_context(recorder)
        source = open_or_wait(options, classify.input_size, stop, health)
        if source is None:
            log(f"stopped while waiting for {options.source}")
            return 0
        stack.callback(source.close)  # if the set-up below fails; the capture thread closes it too
        log(
            f"{classify.model.path} ({classify.model.backend}, {options.threads} threads) on "
            f"{source.name}; warm-up invoke {warm_ms:.1f} ms, not counted"
        )
        outputs = _open_outputs(stack, options, source, classify, recorder, access)
        outputs.out = (out or sys.stdout) if options.headless else None
        outputs.health = health.attach(outputs.saver, outputs.view)
        stack.callback(health.write_due, force=True)  # the last word, on every way out
        # Read now: the capture thread closes a file at its end, and the rate with it.
        video_fps = 0.0 if source.live else source.fps
        capture = stack.enter_context(CaptureThread(source, fit_to=classify.input_size))
        started = time.perf_counter()
        count = _classify_frames(options, classify, capture, outputs, stop, video_fps)
        elapsed = time.perf_counter() - started
    _log_totals(count, elapsed, capture, outputs.saver)
    return 0


@dataclass
class Outputs:
    """Where each classified frame goes: stdout (headless JSON), window, video, web view,
    the uncertain-frame folder. None: not asked for."""

    out: TextIO | None = None
    window: Window | None = None
    recorder: Recorder | None = None
    view: WebView | None = None
    saver: UncertainSaver | None = None
    health: Health | None = None  # the status file (edge.camera.status)
    looked: WhereItLooked | None = None  # the heat-map, while the view or the window asks
    looking: bool = False  # the window's key HEAT_KEY turned the heat-map on

    def send(
        self, frame: Frame, prediction: Prediction, record: dict, state: FrameState, now: float
    ):
        """Hand one classified frame to each output; False when the loop should end (the
        window was closed, or the reader of stdout went away, as with `| head`)."""
        if self.saver is not None:
            self.saver.offer(frame.image, prediction, now=now)
        if self.out is not None and not _print_line(self.out, json.dumps(record)):
            return False
        shown = None  # drawn only when someone looks at the picture
        if self.window is not None or self.recorder is not None or self._watched():
            shown = annotate(frame.image, prediction, state.fps, self._heat(frame, prediction))
        if self.recorder is not None:
            self.recorder.write(shown)
        if self.view is not None:
            self.view.publish(shown, state)  # the prediction, even without a picture
        if self.window is None:
            return True
        going_on = self.window.show(shown)
        if self.window.key == HEAT_KEY and self.looked is not None:
            self.looking = not self.looking and self.looked.off is None
        return going_on

    def _watched(self) -> bool:
        return self.view is not None and self.view.watching

    def _heat(self, frame: Frame, prediction: Prediction):
        """The heat-map's colours while the web view's toggle or the window's key asks for
        them (computed on one frame in EXPLAIN_EVERY), else None and nothing computed."""
        if self.looked is None:
            return None
        on = self.looking or (self.view is not None and self.view.explaining)
        return self.looked.update(frame.image, prediction, on)


def _open_outputs(stack: ExitStack, options, source, classify, recorder, access) -> Outputs:
    """The window, the web view and the uncertain-frame saver, opened once the source is."""
    if recorder is not None:
        recorder.fps = source.fps
    window = None if options.headless else stack.enter_context(Window())
    view = None
    if options.serve:
        view = stack.enter_context(WebView(*options.serve, access=access))
        open_to = "" if access.token or access.loopback else " (no token: anyone can open it)"
        log(f"web view at {view.url}{open_to}")
        say_where(phone_url(options.serve[0], view.port, access), sys.stderr)
    saver = _uncertain_saver(options, source, classify.model.path)
    looked = WhereItLooked(classify, EXPLAIN_EVERY)
    if view is not None:
        view.heat_map_off = looked.off  # the page's toggle is disabled with this line
    return Outputs(window=window, recorder=recorder, view=view, saver=saver, looked=looked)


def _classify_frames(options, classify, capture, outputs: Outputs, stop, video_fps) -> int:
    """Classify the newest frame, again and again, until the end; the number classified."""
    fps, count = RollingFps(), 0
    while not stop.is_set():
        frame = capture.next_frame(timeout=WAIT_FOR_FRAME)
        if frame is None:
            if capture.error is not None:
                raise _as_user_error(capture.error, capture.source.name)
            if outputs.view is not None:
                outputs.view.set_source(capture.state)  # "camera lost, retrying" on the page
            if outputs.health is not None:
                outputs.health.source_is(capture.state)
            if capture.ended or (outputs.window is not None and not outputs.window.poll()):
                break
            continue
        prediction = classify(frame.image if frame.model_input is None else frame.model_input)
        rate = fps.tick()
        record = as_record(frame, count, prediction, rate)
        state = as_state(frame, count, prediction, rate)
        count += 1
        if outputs.health is not None:
            uncertain = prediction.score < options.uncertain_below
            outputs.health.frame(state, uncertain, prediction.label == "unknown")
            outputs.health.write_due()
        if not outputs.send(frame, prediction, record, state, frame_clock(frame, video_fps)):
            break
        if options.max_frames and count >= options.max_frames:
            break
    return count


def _log_totals(count: int, elapsed: float, capture: CaptureThread, saver) -> None:
    log(
        f"classified {count} frames in {elapsed:.1f} s ({count / max(elapsed, 1e-9):.1f} fps); "
        f"{capture.dropped} stale frames dropped; {capture.reconnects} reconnects"
    )
    if saver is not None:
        log(
            f"kept {saver.kept} uncertain frames in {saver.folder} "
            f"({saver.kept_unknown} of them said unknown)"
        )


def _uncertain_saver(options, source, model_path) -> UncertainSaver | None:
    if options.save_uncertain is None:
        return None
    return UncertainSaver(
        options.save_uncertain,
        below=options.uncertain_below,
        every=options.save_every,
        min_change=options.min_change,
        source=source.name,
        model=model_path,
        max_frames=options.uncertain_max_frames,
        max_mib=options.uncertain_max_mib,
        say=log,
    )


def main(argv: list[str] | None = None) -> int:
    return run_until_sigterm(run, build_parser().parse_args(argv))
