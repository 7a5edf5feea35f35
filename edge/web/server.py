"""The HTTP server under every page the device serves (the live view, the collect page).

    from edge.web.server import PageHandler, PageServer
    server = PageServer.open(("0.0.0.0", 8000), Handler, app, max_clients=8)
    threading.Thread(target=server.run, daemon=True).start()   # ... server.stop()

    class Handler(PageHandler):
        def do_GET(self):
            if not self.admit(self.server.app.access):   # edge.web.access: token, cookie, Host
                return
            ...

A browser cannot take the capture or inference loop down: one thread accepts connections and
reads their request line and headers itself, without a thread per connection and without
ever waiting on one (a slow or silent client costs a buffer, not a thread); the oldest of
them is dropped when more than a share of the descriptor limit wait. A connection gets a
worker thread only once its whole head has arrived, at most max_clients at a time (503
beyond, sent without waiting), so clients that drip a byte now and then (slow-loris) never
hold a worker. The whole request (line, headers, body) must arrive within REQUEST_TIMEOUT of
the connection, not per read; the handler checks the token (admit()) as soon as the headers
are in, before any body is read, and read_json() parses Content-Length strictly. What a
handler writes back (a long /stream.mjpg included) is bounded per write by CLIENT_TIMEOUT
only. Who may ask is edge.web.access's decision; PageHandler.admit() applies it to a request.
"""

from __future__ import annotations

import contextlib
import io
import json
import re
import selectors
import socket
import threading
import time
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, HTTPServer

from edge.errors import UserError
from edge.web.access import Access
from edge.web.error_page import ERROR_PAGE

MAX_CLIENTS = 16  # connections served at once (streams included); 503 beyond
CLIENT_TIMEOUT = 10.0  # s; any one write to a client (a stream's frame included)
REQUEST_TIMEOUT = 10.0  # s from the connection; its line, headers and body, all of them
MAX_HEAD = 16384  # bytes; request line and headers together (431 beyond)
MAX_WAITING = 256  # connections whose head is still coming, at most (fewer under a low fd limit)
_POLL = 0.2  # s; how often the accept thread looks at the clock and the stop flag
_END_OF_HEAD = re.compile(rb"\r?\n\r?\n")  # http.server also takes bare \n line ends
_LENGTH = re.compile(r"[0-9]+")  # a Content-Length: digits only (no sign, no spaces, no hex)
_BUSY = b"HTTP/1.1 503 Service Unavailable\r\nRetry-After: 1\r\nContent-Length: 0\r\n\r\n"
_TOO_LARGE = b"HTTP/1.1 431 Request Header Fields Too Large\r\nContent-Length: 0\r\n\r\n"


class PageHandler(BaseHTTPRequestHandler):
    """A request handler with the pages' common rules: deadlines, no log lines, access, bodies.
    PageServer hands it (socket, the head already read, the request's deadline)."""

    cookie: str | None = None  # Set-Cookie for this answer, once the token came in the URL

    def setup(self) -> None:
        conn, head, deadline = self.request
        self.request = self.connection = conn
        conn.settimeout(CLIENT_TIMEOUT)
        self.rfile = io.BufferedReader(_RequestReader(conn, head, deadline))
        self.wfile = _Writer(conn)

    error_message_format = ERROR_PAGE  # phone-sized, the reason alone (edge.web.error_page)

    def log_message(self, format, *args) -> None:  # noqa: A002 - the base class's name
        pass  # one line per request would drown the useful ones (and the headless JSON)

    def admit(self, access: Access) -> bool:
        """True when the request may go on; otherwise it is answered here: 403 (a foreign
        Host on loopback), 401 (no or a wrong token), or 303 to the same page without the
        token in its address, setting the cookie."""
        decision = access.check(self.path, self.headers)
        if decision.status != HTTPStatus.OK:
            self.send_error(decision.status, decision.reason)
            return False
        self.cookie = decision.cookie
        if decision.redirect is None:
            return True
        self.send_response(HTTPStatus.SEE_OTHER)
        self.send_header("Location", decision.redirect)
        self.send_header("Set-Cookie", decision.cookie)
        self.send_header("Content-Length", "0")
        self.end_headers()
        return False

    def send_cookie(self) -> None:
        if self.cookie:
            self.send_header("Set-Cookie", self.cookie)

    def read_body(self, limit: int) -> bytes | None:
        """The request's body, at most `limit` bytes; or None after answering 411 (no
        Content-Length), 400 (not a plain number, or the body ended early), 413 (over limit,
        nothing read) or 408 (the body did not arrive within the request's deadline)."""
        lengths = self.headers.get_all("Content-Length") or []
        if not lengths or "Transfer-Encoding" in self.headers:
            self.send_error(HTTPStatus.LENGTH_REQUIRED, "send a Content-Length")
            return None
        if len(set(lengths)) > 1 or not _LENGTH.fullmatch(lengths[0].strip()):
            self.send_error(HTTPStatus.BAD_REQUEST, "Content-Length is not one plain number")
            return None
        length = lengths[0].strip()
        if len(length) > len(str(limit)) or int(length) > limit:
            self.send_error(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, "the request is too large")
            return None
        try:
            body = self.rfile.read(int(length))
        except TimeoutError:
            self.send_error(HTTPStatus.REQUEST_TIMEOUT, "the request took too long")
            return None
        if len(body) != int(length):  # the client closed early
            self.send_error(HTTPStatus.BAD_REQUEST, "the body is shorter than its Content-Length")
            return None
        return body

    def read_json(self, limit: int) -> dict | None:
        """The POST's JSON object; or None after answering 415 (not application/json: a
        browser cannot send that cross-site without a CORS preflight, which is never granted),
        400 (not a JSON object, however it is malformed or deep) or read_body()'s codes."""
        if self.headers.get("Content-Type", "").split(";")[0].strip() != "application/json":
            self.send_error(HTTPStatus.UNSUPPORTED_MEDIA_TYPE, "send application/json")
            return None
        body = self.read_body(limit)
        if body is None:
            return None
        try:
            value = json.loads(body or b"{}")  # no body: no arguments
        except (ValueError, RecursionError):  # bad JSON or UTF-8; nesting too deep to parse
            value = None
        if not isinstance(value, dict):
            self.send_error(HTTPStatus.BAD_REQUEST, "send a JSON object")
            return None
        return value


class _RequestReader(io.RawIOBase):
    """The request as the handler reads it: first the head the accept thread already has, then
    the socket, each read bounded by what is left of the request's deadline (not per read)."""

    def __init__(self, conn: socket.socket, head: bytes, deadline: float):
        self.conn, self.head, self.deadline = conn, memoryview(head), deadline

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        if self.head:
            n = min(len(buffer), len(self.head))
            buffer[:n], self.head = self.head[:n], self.head[n:]
            return n
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("the request took too long")
        self.conn.settimeout(min(left, CLIENT_TIMEOUT))
        try:
            return self.conn.recv_into(buffer)
        finally:
            self.conn.settimeout(CLIENT_TIMEOUT)  # what writes (a long stream) get


class _Writer(io.BufferedIOBase):
    """wfile: every write sent whole (sendall), each bounded by CLIENT_TIMEOUT."""

    def __init__(self, conn: socket.socket):
        self.conn = conn

    def writable(self) -> bool:
        return True

    def write(self, data) -> int:
        self.conn.sendall(data)
        return len(data)


def _waiting_limit() -> int:
    """Idle connections to hold: a quarter of the descriptor limit, so accept never runs dry."""
    try:
        import resource

        soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    except (ImportError, OSError, ValueError):
        return MAX_WAITING
    if soft == resource.RLIM_INFINITY:
        return MAX_WAITING
    return max(4, min(MAX_WAITING, soft // 4))


class PageServer(HTTPServer):
    """Accepts in one thread; a connection gets a worker thread once its request arrived.
    run() serves until stop(); handlers find the page's object as self.server.app."""

    request_queue_size = 128  # listen() backlog

    def __init__(self, address: tuple[str, int], handler: type, app, max_clients: int):
        self.address_family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        super().__init__(address, handler)
        self.socket.setblocking(False)
        self.app, self.max_clients, self.max_waiting = app, max_clients, _waiting_limit()
        self.active = 0
        self._lock = threading.Lock()
        self._waiting: dict[socket.socket, _Waiting] = {}  # oldest first
        self._selector = selectors.DefaultSelector()
        self._stop = threading.Event()

    @classmethod
    def open(cls, address: tuple[str, int], handler: type, app, max_clients: int) -> PageServer:
        """Bound and listening; UserError in one sentence when the address cannot be had."""
        try:
            return cls(address, handler, app, max_clients)
        except (OSError, OverflowError) as exc:
            where = f"{address[0]}:{address[1]}"
            raise UserError(f"cannot serve on {where}: {getattr(exc, 'strerror', exc)}") from None

    def url(self, access: Access) -> str:
        """The address to open (with the token when one is needed)."""
        host, port = self.server_address[:2]
        if host in ("0.0.0.0", "::"):  # every interface: name this machine
            host = socket.gethostname()
        return access.url(host, port)

    def server_bind(self) -> None:
        # HTTPServer.server_bind asks DNS for our own name (getfqdn), which can hang offline.
        self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.socket.bind(self.server_address)
        self.server_address = self.socket.getsockname()
        self.server_name, self.server_port = str(self.server_address[0]), self.server_address[1]

    def run(self) -> None:
        self._selector.register(self.socket, selectors.EVENT_READ)
        try:
            while not self._stop.is_set():
                for key, _ in self._selector.select(_POLL):
                    if key.fileobj is self.socket:
                        self._accept()
                    else:
                        self._ready(key.fileobj)
                self._expire()
        finally:
            for conn in list(self._waiting):
                self._drop(conn)
            self._selector.close()

    def start(self, name: str) -> None:
        """Serve in a daemon thread until close()."""
        self._thread = threading.Thread(target=self.run, name=name, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def close(self) -> None:
        """Stop serving, wait (bounded) for the accept thread, close the listening socket."""
        self.stop()
        thread = getattr(self, "_thread", None)
        if thread is not None and thread.is_alive():
            thread.join(CLIENT_TIMEOUT)
        self.server_close()

    def _accept(self) -> None:
        try:
            conn, address = self.socket.accept()
        except BlockingIOError:
            return
        except OSError:  # out of descriptors (EMFILE): free the oldest idle one, never spin
            if self._waiting:
                self._drop(next(iter(self._waiting)))
            else:
                self._stop.wait(_POLL)
            return
        if len(self._waiting) >= self.max_waiting:
            self._drop(next(iter(self._waiting)))
        conn.setblocking(False)  # this thread reads what has come, never waits for more
        self._waiting[conn] = _Waiting(time.monotonic() + REQUEST_TIMEOUT, address)
        self._selector.register(conn, selectors.EVENT_READ)

    def _ready(self, conn: socket.socket) -> None:
        """Take what arrived; once the head is complete, the connection gets a worker."""
        waiting = self._waiting.get(conn)
        if waiting is None:  # dropped earlier in this round of select() (to make room)
            return
        try:
            chunk = conn.recv(MAX_HEAD)
        except BlockingIOError:
            return
        except OSError:
            chunk = b""
        if not chunk:  # the client closed (or reset) before its request was complete
            self._drop(conn)
            return
        waiting.head += chunk
        if not _END_OF_HEAD.search(waiting.head, max(0, len(waiting.head) - len(chunk) - 3)):
            if len(waiting.head) > MAX_HEAD:
                self._forget(conn)
                _refuse(conn, _TOO_LARGE)
            return
        self._forget(conn)
        with self._lock:
            busy = self.active >= self.max_clients
            if not busy:
                self.active += 1
        if busy:
            _refuse(conn)
            return
        request = (conn, bytes(waiting.head), waiting.deadline)
        threading.Thread(target=self._serve, args=(request, waiting.address), daemon=True).start()

    def _serve(self, request: tuple, address) -> None:
        conn = request[0]
        try:
            conn.setblocking(True)
            self.finish_request(request, address)
        except OSError:
            pass  # the browser went away or timed out
        finally:
            self.shutdown_request(conn)
            with self._lock:
                self.active -= 1

    def _expire(self) -> None:
        now = time.monotonic()
        for conn, waiting in list(self._waiting.items()):
            if waiting.deadline > now:
                break  # the rest came later
            self._drop(conn)

    def _forget(self, conn: socket.socket) -> None:
        self._waiting.pop(conn, None)
        with contextlib.suppress(KeyError, ValueError):
            self._selector.unregister(conn)

    def _drop(self, conn: socket.socket) -> None:
        self._forget(conn)
        conn.close()


class _Waiting:
    """A connection whose head is still coming: when it must be complete, and what came."""

    __slots__ = ("deadline", "address", "head")

    def __init__(self, deadline: float, address):
        self.deadline, self.address, self.head = deadline, address, bytearray()


def _refuse(conn: socket.socket, answer: bytes = _BUSY) -> None:
    """503 (or `answer`) without waiting on the browser: one non-blocking send, then close."""
    try:
        conn.setblocking(False)
        conn.send(answer)
    except OSError:
        pass
    finally:
        conn.close()


class ServedPage:
    """A page's object served by a PageServer in a background thread while a with-block
    runs: subclasses set _server (PageServer.open(..., app=self)), access and thread_name."""

    thread_name = "page"
    _server: PageServer
    access: Access

    @property
    def url(self) -> str:
        """The address to open (with the token when one is needed)."""
        return self._server.url(self.access)

    def __enter__(self):
        self._server.start(self.thread_name)
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self._server.close()
