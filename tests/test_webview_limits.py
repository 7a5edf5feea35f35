"""The web view under abuse: idle connections, too many clients, tokens, IPv6 (loopback only).

The server runs in a subprocess with a lowered descriptor limit (as a Pi service would hit
it): hundreds of idle connections must not stop the page from answering, the frames from
coming, or make the accept thread spin.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from http.cookiejar import CookieJar

import numpy as np
import pytest

from edge.video.state import FrameState
from edge.web.access import Access
from edge.web.webview import WebView, parse_address
from tests.conftest import ROOT

IDLE_CLIENTS = 400  # connections that never send a request
FD_LIMIT = 128  # descriptors the server process may hold

SERVER = f"""
import json, resource, sys, time
resource.setrlimit(resource.RLIMIT_NOFILE, ({FD_LIMIT}, {FD_LIMIT}))
import numpy as np
from edge.video.state import FrameState
from edge.web.webview import WebView
with WebView("127.0.0.1", 0) as view:
    print(view.port, flush=True)
    frame, worst, count = np.zeros((48, 64, 3), np.uint8), 0.0, 0
    end = time.monotonic() + float(sys.argv[1])
    while time.monotonic() < end:  # the inference loop: publish must never wait on a client
        started = time.perf_counter()
        view.publish(frame, FrameState(frames=count))
        worst, count = max(worst, time.perf_counter() - started), count + 1
        time.sleep(0.01)
print(json.dumps({{"frames": count, "worst_publish_ms": worst * 1000}}), flush=True)
"""


def get(url: str, timeout: float = 1.0, headers: dict | None = None):
    request = urllib.request.Request(url, headers=headers or {})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return response.status, response.read()


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_hundreds_of_idle_clients_do_not_stop_the_page_or_the_frames():
    server = subprocess.Popen(
        [sys.executable, "-c", SERVER, "12"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    idle = []
    try:
        port = int(server.stdout.readline())
        url = f"http://127.0.0.1:{port}/"
        connected, deadline = 0, time.monotonic() + 5
        while len(idle) < IDLE_CLIENTS and time.monotonic() < deadline:
            client = socket.socket()
            client.settimeout(0.2)  # s; each waits until the server took it (or its backlog)
            connected += client.connect_ex(("127.0.0.1", port)) == 0
            idle.append(client)
        time.sleep(1.0)  # let the server accept (and drop) what it will
        used = cpu_seconds(server.pid)
        time.sleep(1.0)
        assert cpu_seconds(server.pid) - used < 0.2  # s of CPU: no accept loop spinning
        started = time.monotonic()
        status, page = get(url)
        assert status == 200 and b"stream.mjpg" in page
        first = json.loads(get(url + "prediction.json")[1])["frame"]
        assert time.monotonic() - started < 1.0
        time.sleep(0.3)
        assert json.loads(get(url + "prediction.json")[1])["frame"] > first  # frames keep coming
    finally:
        for client in idle:
            client.close()
        out, _ = server.communicate(timeout=30)
    result = json.loads(out.splitlines()[-1])
    assert server.returncode == 0 and result["frames"] > 100
    assert result["worst_publish_ms"] < 100


def test_clients_beyond_the_cap_get_503_and_the_loop_goes_on():
    with WebView("127.0.0.1", 0, max_clients=2) as view:
        view.publish(np.zeros((8, 8, 3), np.uint8), FrameState(frames=1))
        streams = [urllib.request.urlopen(view.url + "stream.mjpg", timeout=5) for _ in range(2)]
        try:
            time.sleep(0.2)
            with pytest.raises(urllib.error.HTTPError, match="503"):
                get(view.url + "prediction.json", timeout=2)
        finally:
            for stream in streams:
                stream.close()
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:  # the stream threads notice and end
            try:
                assert get(view.url + "prediction.json", timeout=2)[0] == 200
                break
            except urllib.error.HTTPError:
                view.publish(
                    np.zeros((8, 8, 3), np.uint8), FrameState(frames=1)
                )  # streams write, fail
                time.sleep(0.2)
        else:
            pytest.fail("the slots were never freed")


def test_token_in_the_url_then_the_cookie(tmp_path):
    access = Access.for_address("127.0.0.1", token_file=tmp_path / "token")
    with WebView("127.0.0.1", 0, access=access) as view:
        base = f"http://127.0.0.1:{view.port}/"
        assert view.url == f"{base}?token={access.token}"
        with pytest.raises(urllib.error.HTTPError, match="401"):
            get(base + "prediction.json")
        jar = CookieJar()
        browser = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
        with browser.open(view.url, timeout=2) as response:  # 303 to / with the cookie
            assert response.status == 200 and response.url == base
        with browser.open(base + "prediction.json", timeout=2) as response:
            assert response.status == 200


def test_loopback_refuses_a_foreign_host_header():
    with WebView("127.0.0.1", 0) as view:
        with pytest.raises(urllib.error.HTTPError, match="403"):
            get(view.url, headers={"Host": f"evil.example:{view.port}"})
        assert get(view.url)[0] == 200


def test_ipv6_loopback_is_served():
    if not socket.has_ipv6:
        pytest.skip("no IPv6")
    assert parse_address("[::1]:8000") == ("::1", 8000)
    try:
        view = WebView(*parse_address("[::1]:0"))
    except Exception as exc:  # a host without an IPv6 loopback
        pytest.skip(f"::1 cannot be bound here: {exc}")
    with view:
        assert view.url.startswith("http://[::1]:")
        assert get(view.url, timeout=2)[0] == 200
