"""A stream URL that answers with something else than video (issue 27, item 9): the sentence
says what was received (a web page, 404), not "is the stream up and reachable?". Loopback."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from edge.video.sources import SourceError, open_source


class _Answers(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        if self.path == "/page":
            body = b"<!DOCTYPE html><html><body><img src='/stream.mjpg'></body></html>"
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        else:
            self.send_error(404, "Not Found")

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def server():
    httpd = HTTPServer(("127.0.0.1", 0), _Answers)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def test_a_web_page_at_a_stream_url_is_named_for_what_it_is(server):
    with pytest.raises(SourceError, match=r"answered with a web page \(text/html\)"):
        open_source(server + "/page", (32, 32))


def test_a_missing_stream_says_404(server):
    with pytest.raises(SourceError, match="answered 404 Not Found"):
        open_source(server + "/stream.mjpg", (32, 32))
