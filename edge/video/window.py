"""The on-screen window of `python -m edge.camera` (without --headless).

    from edge.video.window import Window
    with Window("edge classifier") as window:
        if not window.show(annotated_rgb):   # False once the user pressed q / Esc or closed it
            ...

Needs an OpenCV with GUI support (opencv-python, not -headless) and a display; without them
the command says so in one sentence and suggests --headless, --serve or --record.
"""

from __future__ import annotations

import os
import re
import sys

import cv2
import numpy as np

from edge.errors import UserError

QUIT_KEYS = {ord("q"), ord("Q"), 27}  # 27 = Esc
HEAT_KEY = ord("h")  # edge.camera's window: the heat-map ("where it looked") on and off
NO_WINDOW = "use --headless (JSON lines), --serve HOST:PORT (browser) or --record FILE"


def check_can_open() -> None:
    """UserError when no window can open here: no GUI in this OpenCV, or no display."""
    gui = re.search(r"^\s*GUI:\s*(\S+)", cv2.getBuildInformation(), re.MULTILINE)
    if gui is not None and gui.group(1).upper() == "NONE":
        raise UserError(f"this OpenCV cannot open windows (opencv-python-headless): {NO_WINDOW}")
    if sys.platform.startswith("linux") and not (
        os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")
    ):
        raise UserError(f"there is no display to open a window on: {NO_WINDOW}")


class Window:
    def __init__(self, title: str = "edge classifier"):
        check_can_open()
        self.title = title
        try:
            cv2.namedWindow(title, cv2.WINDOW_NORMAL)
        except cv2.error:
            raise UserError(
                f"this OpenCV cannot open windows (opencv-python-headless?): {NO_WINDOW}"
            ) from None
        self._open = True
        self.key = -1  # the key poll() saw last (-1: none)

    def __enter__(self) -> Window:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def show(self, rgb: np.ndarray) -> bool:
        """Show a frame; False when the user asked to quit."""
        # OpenCV displays BGR: frames are RGB inside the program, so swap back on the way out.
        cv2.imshow(self.title, cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
        return self.poll()

    def show_key(self, rgb: np.ndarray | None) -> int | None:
        """Show a frame (None: keep the last) and return the key pressed (-1: none), or None
        when the user asked to quit (q, Esc, or closed the window)."""
        if rgb is not None:
            cv2.imshow(self.title, cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
        key = cv2.waitKey(1) & 0xFF
        if key in QUIT_KEYS or cv2.getWindowProperty(self.title, cv2.WND_PROP_VISIBLE) < 1:
            return None
        return -1 if key == 0xFF else key

    def poll(self) -> bool:
        """Keep the window responsive (also while no frame arrives); False on q, Esc or close."""
        key = cv2.waitKey(1) & 0xFF
        self.key = -1 if key == 0xFF else key
        if key in QUIT_KEYS:
            return False
        return cv2.getWindowProperty(self.title, cv2.WND_PROP_VISIBLE) >= 1

    def close(self) -> None:
        if self._open:
            self._open = False
            try:
                cv2.destroyWindow(self.title)
                cv2.waitKey(1)
            except cv2.error:
                pass
