"""The camera loop against bare invoke(), side by side, and its memory over a long run.

    .venv/bin/python bench/camera_loop.py                    # run by `make bench`
    .venv/bin/python bench/camera_loop.py --model models/mine --threads 4 --frames 5000
    .venv/bin/python bench/camera_loop.py --quick            # seconds: checks that it runs

Uses models/sample when it holds a .tflite (`make train convert`), else builds a small
stand-in model (train/'s VGG16, random weights, 96x96, int8) in a temporary folder, and says
which. Writes a video file, then measures in this one process, with the same model:

  bare   invoke() on one prepared frame, again and again
  loop   edge.camera's real loop, headless, on the video: capture thread decoding the file,
         colour conversion, fit(), the hand-over, classify, one JSON line per frame

at each interpreter thread count in --threads (default: edge.camera's default, and one
fewer). Side by side: --rounds rounds, each running (bare for 0.25 s, loop for
--round-frames frames, bare for 0.25 s again) at every thread count, each giving one ratio of
the loop to the bare runs around it; the median ratio is the result, so load from other
processes drifting in and out hits both sides alike.

The loop hides the capture work (decoding, colour, fit()) behind invoke() by running it on
another core. With as many interpreter threads as CPUs there is no other core: the capture's
CPU time comes out of invoke()'s, whatever the loop does. So the bench also measures that CPU
time per frame alone and prints the ratio that leaves to expect, and the goal is judged at
the thread counts that leave the capture thread a core (all of them on a 1-CPU machine).
Then one long loop run of --frames frames reads RSS after --early and after --frames.

Goals (issue 5): loop frame rate >= 90 % of bare; RSS after 5000 frames within 5 % of RSS
after 500. Missing a goal is printed; --strict also makes it exit 1.

--quick (the test suite runs it) takes a tiny stand-in (bench/_tiny.py) unless --model says
otherwise, a 64x48 video, one round of 20 frames and RSS at frames 20 and 40: seconds, and
no figure worth reading.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._tiny import tiny_int8  # noqa: E402
from edge import camera  # noqa: E402 - after the path set-up above
from edge.atomic import write_bytes  # noqa: E402
from edge.imaging import fit  # noqa: E402
from edge.model_folder import (  # noqa: E402
    TFLITE_FILES,
    read_model_folder,
    write_labels,
    write_meta,
)
from edge.prediction import pick_tflite  # noqa: E402
from edge.runner import TFLiteModel  # noqa: E402
from edge.video.sources import OpenCVSource  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "models" / "sample"
STAND_IN_SIZE = (96, 96)  # pixels, the Makefile's default SIZE
STAND_IN_CLASSES = ["Hat", "Cube", "Card", "Torch", "Screw"]
RATIO_GOAL = 0.90
RSS_GOAL = 0.05
BARE_SECONDS = 0.25  # s of bare invoke() before and after each loop run
QUICK = ("64x48", 1, 20, 40, 20)  # --quick: video size, rounds, round frames, frames, early
QUICK_SIZE = (32, 32)  # pixels, the tiny stand-in's input


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--model",
        type=Path,
        default=None,
        help="model folder (default: models/sample, else a stand-in)",
    )
    parser.add_argument(
        "--threads",
        type=thread_counts,
        default=default_thread_counts(),
        metavar="N[,N...]",
        help="interpreter threads, both sides, one row each "
        f"(default: {','.join(map(str, default_thread_counts()))})",
    )
    parser.add_argument(
        "--frames", type=int, default=5000, help="frames through the loop (default: 5000)"
    )
    parser.add_argument(
        "--early", type=int, default=500, help="frame of the first RSS reading (default: 500)"
    )
    parser.add_argument(
        "--size", default="640x480", help="video frame WIDTHxHEIGHT (default: 640x480)"
    )
    parser.add_argument("--rounds", type=int, default=20, help="bare/loop pairs (default: 20)")
    parser.add_argument(
        "--round-frames", type=int, default=150, help="loop frames per round (default: 150)"
    )
    parser.add_argument("--build-stand-in", type=Path, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--strict", action="store_true", help="exit 1 when a goal is missed")
    parser.add_argument(
        "--quick", action="store_true", help="tiny model and video, one round: checks that it runs"
    )
    args = parser.parse_args(argv)
    if args.quick:
        args.size, args.rounds, args.round_frames, args.frames, args.early = QUICK
    return args


def default_thread_counts() -> list[int]:
    """edge.camera's default thread count, and one fewer (a core left for capture)."""
    return sorted({max(1, camera.DEFAULT_THREADS - 1), camera.DEFAULT_THREADS})


def thread_counts(text: str) -> list[int]:
    try:
        counts = sorted({int(value) for value in text.split(",")})
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a list of thread counts") from None
    if counts[0] < 1:
        raise argparse.ArgumentTypeError("thread counts start at 1")
    return counts


def rss_mib() -> float:
    """Resident set size now (Linux /proc), in MiB."""
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def stand_in_model(folder: Path, quick: bool = False) -> Path:
    """The product's network with random weights: train/'s VGG16 model (96x96, 5 classes),
    int8 through train/tflite's quantize() as convert/ does, so the input is raw pixels (scale
    1, zero point 0) exactly as in the int8.tflite `make convert` writes; with quick,
    bench/_tiny.py's 32x32 model instead. Needs the dev install (TensorFlow)."""
    size = QUICK_SIZE if quick else STAND_IN_SIZE
    if quick:
        tiny_int8(folder / TFLITE_FILES["int8"], size, len(STAND_IN_CLASSES))
    else:
        from train.tf_import import import_tensorflow

        import_tensorflow()  # TensorFlow's log level and start-up filter, before it loads
        from train.model import build_model
        from train.tflite.quantize import calibrate, quantize

        model = build_model(num_classes=len(STAND_IN_CLASSES), size=size, base_weights=None)
        pixels = np.random.default_rng(0).integers(0, 256, (8, *size, 3), np.uint8)
        int8 = quantize(calibrate(model, pixels, "uint8", progress=False), "uint8")
        write_bytes(folder / TFLITE_FILES["int8"], int8)
    write_labels(folder / "labels.txt", STAND_IN_CLASSES)
    write_meta(folder, {"classes": STAND_IN_CLASSES, "input_size": list(size),
                        "input_color": "RGB", "input_range": [0, 255]})  # fmt: skip
    return folder


def write_video(path: Path, frames: int, size: tuple[int, int]) -> Path:
    """A moving colour gradient, MJPG (every OpenCV wheel decodes it)."""
    width, height = size
    ramp = np.linspace(0, 255, width, dtype=np.float32)[None, :]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 30, size)
    for i in range(frames):
        shift = (ramp + i * 3) % 256
        frame = np.empty((height, width, 3), np.uint8)
        frame[:, :, 0] = shift
        frame[:, :, 1] = np.linspace(0, 255, height, dtype=np.float32)[:, None]
        frame[:, :, 2] = 255 - shift
        writer.write(frame)
    writer.release()
    return path


def bare_fps(model_path: Path, threads: int, seconds: float) -> tuple[float, float]:
    """(invoke() calls per second, process CPU ms per call) on one prepared frame."""
    model = TFLiteModel(model_path, num_threads=threads)
    pixels = np.random.default_rng(0).integers(0, 256, (1, *model.input_size, 3), np.uint8)
    tensor = model.quantize_input(pixels)
    model.invoke_raw(tensor)  # warm-up, not counted
    calls, start, cpu = 0, time.perf_counter(), time.process_time()
    while (elapsed := time.perf_counter() - start) < seconds:
        model.invoke_raw(tensor)
        calls += 1
    return calls / elapsed, (time.process_time() - cpu) * 1000 / calls


class Lines:
    """The loop's stdout: counts the JSON lines, notes when they came and RSS at two of them."""

    def __init__(self, early: int, late: int):
        self.count, self.early, self.late = 0, early, late
        self.first = self.last = self.first_cpu = self.last_cpu = 0.0
        self.rss: dict[int, float] = {}

    def write(self, text: str) -> None:
        now, cpu = time.perf_counter(), time.process_time()
        self.count += text.count("\n")
        if self.count == 1:
            self.first, self.first_cpu = now, cpu
        self.last, self.last_cpu = now, cpu
        if self.count in (self.early, self.late):
            self.rss[self.count] = rss_mib()

    def flush(self) -> None:
        pass

    @property
    def fps(self) -> float:
        """Frames per second from the first JSON line to the last (start-up excluded)."""
        return (self.count - 1) / (self.last - self.first)

    @property
    def cpu_ms(self) -> float:
        """Process CPU time per frame (all threads), first JSON line to the last."""
        return (self.last_cpu - self.first_cpu) * 1000 / (self.count - 1)


def capture_cpu_ms(video: Path, input_size: tuple[int, int], frames: int) -> float:
    """CPU ms per frame of the capture thread's work alone, in this thread: the video source
    decoding and converting to RGB (edge.video.sources), then fit() to the model's input."""
    before = cv2.getNumThreads()  # put back afterwards: the whole process's setting
    cv2.setNumThreads(camera.OPENCV_THREADS)  # as in the loop
    source = OpenCVSource(str(video), live=False)
    try:
        source.open()
        start, count = time.process_time(), 0
        while count < frames and (image := source.read()) is not None:
            fit(image, input_size)
            count += 1
    finally:
        source.close()
        cv2.setNumThreads(before)
    return (time.process_time() - start) * 1000 / max(count, 1)


def run_loop(model: Path, video: Path, threads: int, frames: int, early: int) -> Lines:
    argv = ["--model", str(model), "--source", str(video), "--headless", "--threads", str(threads)]
    options = camera.build_parser().parse_args([*argv, "--max-frames", str(frames)])
    lines = Lines(early, frames)
    camera.run(options, threading.Event(), out=lines)
    return lines


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.build_stand_in is not None:
        stand_in_model(args.build_stand_in, args.quick)
        return 0
    width, height = (int(v) for v in args.size.lower().split("x"))
    cpus = os.cpu_count() or 1
    with tempfile.TemporaryDirectory(prefix="bench-camera-") as tmp:
        tmp = Path(tmp)
        folder = args.model
        has_sample = any((SAMPLE / name).is_file() for name in TFLITE_FILES.values())
        if folder is None and has_sample and not args.quick:
            folder = SAMPLE
        if folder is None:
            if args.quick:
                print("model: --quick: a tiny stand-in (bench/_tiny.py), random weights, 32x32")
            else:
                print(f"model: {SAMPLE} has no .tflite (`make train convert` makes the real one);")
                print(
                    "       building a stand-in: train/'s VGG16 model, random weights, 96x96, int8"
                )
            folder = tmp / "model"
            folder.mkdir()
            # In a child process: TensorFlow stays out of this one, as it is on the device.
            quick = ["--quick"] if args.quick else []
            built = subprocess.run(
                [sys.executable, __file__, "--build-stand-in", str(folder), *quick],
                capture_output=True,
                text=True,
            )
            if built.returncode != 0:
                print(built.stderr[-3000:], file=sys.stderr)
                print("error: could not build the stand-in model (needs `make setup`)")
                return 2
        model_folder = read_model_folder(folder)
        model_path = pick_tflite(model_folder, "auto")
        print(f"model: {model_path}", flush=True)
        start = time.perf_counter()
        frames = max(args.frames, args.round_frames)
        video = write_video(tmp / "clip.avi", frames, (width, height))
        seconds = time.perf_counter() - start
        print(
            f"video: {frames} frames {width}x{height} MJPG, written in {seconds:.0f} s", flush=True
        )

        load_before = os.getloadavg()[0]
        capture_ms = capture_cpu_ms(video, model_folder.input_size, min(frames, 500))
        pairs: dict[int, list] = {threads: [] for threads in args.threads}
        for _ in range(args.rounds):
            for threads in args.threads:
                before = bare_fps(model_path, threads, BARE_SECONDS)
                lines = run_loop(folder, video, threads, args.round_frames, 0)
                after = bare_fps(model_path, threads, BARE_SECONDS)
                bare, bare_cpu = np.mean([before, after], axis=0)
                pairs[threads].append((bare, lines.fps, bare_cpu, lines.cpu_ms))
        long_threads = max(args.threads)
        long = run_loop(folder, video, long_threads, args.frames, args.early)
        load_after = os.getloadavg()[0]

    print(
        f"machine:  {cpus} CPUs, load average {load_before:.1f} at the start and "
        f"{load_after:.1f} at the end (other processes share the CPUs: see min/max below)"
    )
    print(
        f"capture:  {capture_ms:.2f} ms CPU a frame alone (decoding {width}x{height}, RGB, fit() "
        "to the model's input)"
    )
    print(f"medians of {args.rounds} rounds; ratio = loop / bare, paired within each round")
    print("threads     bare fps    loop fps   ratio (min-max)         CPU ms/frame bare, loop")
    judged = [t for t in args.threads if t < cpus] or list(args.threads)
    ratio_ok, expected = True, {}
    for threads, rows in pairs.items():
        bares, loops, bare_cpu, loop_cpu = (np.array(column) for column in zip(*rows, strict=True))
        ratios = loops / bares
        ratio = float(np.median(ratios))
        bare_ms = 1000 / float(np.median(bares))
        if threads >= cpus:
            expected[threads] = bare_ms / (bare_ms + capture_ms)
        if threads in judged:
            verdict = "met" if ratio >= RATIO_GOAL else "MISSED"
            ratio_ok &= ratio >= RATIO_GOAL
        else:
            verdict = "not judged: no core left for capture"
        print(
            f"{threads:>7}  {np.median(bares):>10.1f}  {np.median(loops):>10.1f}   "
            f"{ratio:6.1%} ({ratios.min():.1%}-{ratios.max():.1%})   "
            f"{np.median(bare_cpu):>7.2f}, {np.median(loop_cpu):.2f}   {verdict}"
        )
    counts = ", ".join(map(str, judged)) + (" thread" if judged == [1] else " threads")
    names = {threads: f"{threads} thread{'s' if threads > 1 else ''}" for threads in args.threads}
    print(
        f"goal:     loop >= {RATIO_GOAL:.0%} of bare at {counts}: {'met' if ratio_ok else 'MISSED'}"
    )
    for threads, share in expected.items():
        print(
            f"expected: at {names[threads]} every CPU is busy in invoke(), so the capture's "
            f"{capture_ms:.2f} ms a frame comes out of its time: about {share:.0%}"
        )
    early_rss, late_rss = long.rss[args.early], long.rss[args.frames]
    growth = late_rss / early_rss - 1
    rss_ok = abs(growth) <= RSS_GOAL
    print(f"long run: {long.fps:.1f} fps over {long.count} frames at {names[long_threads]}")
    print(
        f"RSS:      {early_rss:.1f} MiB after {args.early} frames, {late_rss:.1f} MiB after "
        f"{args.frames}: {growth:+.2%}; goal within {RSS_GOAL:.0%}: {'met' if rss_ok else 'MISSED'}"
    )
    return 0 if (ratio_ok and rss_ok) or not args.strict else 1


if __name__ == "__main__":
    sys.exit(main())
