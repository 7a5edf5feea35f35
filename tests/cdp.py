"""Drive headless Chromium from a test: the DevTools protocol over a pipe (no extra package).

    with Browser(chromium_path, profile_dir) as browser:
        browser.open("http://127.0.0.1:8000/")
        browser.eval("document.querySelector('#add').click()")
        browser.key("2")                   # a real key press (keydown/keyup)
        png = browser.screenshot()

Chromium's --remote-debugging-pipe reads JSON messages, each ended by a NUL byte, on file
descriptor 3 and writes its answers on 4.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import subprocess
import time

_SPECIAL_KEYS = {"Enter": (13, "\r"), "Escape": (27, ""), "Tab": (9, "")}  # key: (code, text)


class Browser:
    def __init__(
        self, executable: str, profile, width: int = 412, height: int = 900, mobile: bool = True
    ):
        self.executable, self.profile, self.size = executable, profile, (width, height)
        self.mobile = mobile
        self._id = 0
        self._buffer = b""

    def __enter__(self) -> Browser:
        to_child, self._send_fd = os.pipe()
        self._read_fd, from_child = os.pipe()

        def wire():  # runs in the child: its fds 3 and 4 become the protocol pipe
            high_in, high_out = os.dup2(to_child, 100), os.dup2(from_child, 101)  # no clobbering
            os.dup2(high_in, 3)
            os.dup2(high_out, 4)

        flags = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--disable-quic", "--remote-debugging-pipe",
                 f"--user-data-dir={self.profile}", f"--window-size={self.size[0]},{self.size[1]}"]  # fmt: skip
        self.process = subprocess.Popen(
            [self.executable, *flags, "about:blank"],
            pass_fds=(3, 4),  # kept open after wire() (the rest is closed)
            preexec_fn=wire,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        os.close(to_child)
        os.close(from_child)
        page = next(t for t in self.call("Target.getTargets")["targetInfos"] if t["type"] == "page")
        self.session = self.call("Target.attachToTarget", targetId=page["targetId"], flatten=True)[
            "sessionId"
        ]
        width, height = self.size  # a phone's viewport (the window itself has a minimum width)
        self.call("Emulation.setDeviceMetricsOverride", self.session, width=width,
                  height=height, deviceScaleFactor=1, mobile=self.mobile)  # fmt: skip
        return self

    def __exit__(self, *exc) -> None:
        with contextlib.suppress(OSError, RuntimeError):
            self.call("Browser.close")
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
        os.close(self._send_fd)
        os.close(self._read_fd)

    def call(self, method: str, session: str | None = None, **params) -> dict:
        self._id += 1
        message = {"id": self._id, "method": method, "params": params}
        if session:
            message["sessionId"] = session
        os.write(self._send_fd, json.dumps(message).encode() + b"\0")
        while True:
            answer = self._next()
            if answer.get("id") == self._id:
                if "error" in answer:
                    raise RuntimeError(f"{method}: {answer['error']}")
                return answer.get("result", {})

    def _next(self) -> dict:
        while b"\0" not in self._buffer:
            chunk = os.read(self._read_fd, 1 << 16)
            if not chunk:
                raise RuntimeError("Chromium closed the protocol pipe")
            self._buffer += chunk
        message, self._buffer = self._buffer.split(b"\0", 1)
        return json.loads(message)

    def open(self, url: str, ready: str = "document.readyState === 'complete'") -> None:
        self.call("Page.navigate", self.session, url=url)
        self.wait_for(ready)

    def eval(self, expression: str):
        result = self.call(
            "Runtime.evaluate", self.session, expression=expression, awaitPromise=True,
            returnByValue=True,
        )  # fmt: skip
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression}: {result['exceptionDetails']}")
        return result["result"].get("value")

    def wait_for(self, expression: str, timeout: float = 15.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = self.eval(expression)
            if value:
                return value
            time.sleep(0.1)
        raise TimeoutError(f"never true in the page: {expression}")

    def key(self, text: str) -> None:
        """Press and release a key: a character, or Enter / Escape / Tab."""
        self.key_down(text)
        self.key_up(text)

    def key_down(self, key: str) -> None:
        self._key("keyDown", key)

    def key_up(self, key: str) -> None:
        self._key("keyUp", key)

    def _key(self, kind: str, key: str) -> None:
        code, text = _SPECIAL_KEYS[key] if key in _SPECIAL_KEYS else (ord(key.upper()), key)
        params = {"type": kind, "key": key, "windowsVirtualKeyCode": code}
        if text and kind == "keyDown":
            params["text"] = text
        self.call("Input.dispatchKeyEvent", self.session, **params)

    def screenshot(self) -> bytes:
        return base64.b64decode(self.call("Page.captureScreenshot", self.session)["data"])
