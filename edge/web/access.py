"""Who may open the device's web pages: a token beyond loopback, a Host check on loopback.

    from edge.web.access import Access
    access = Access.for_address("0.0.0.0")           # creates the token file at first start
    print(access.url("raspberrypi", 8080))           # http://raspberrypi:8080/?token=...
    decision = access.check("/?token=...", headers)  # Decision(status, cookie, redirect)

- Bound beyond loopback (0.0.0.0, ::, a LAN address), every request needs the token: once
  as `?token=...` in the URL, after which a cookie carries it (HttpOnly, SameSite=Strict).
  The token is made on the device at first start, random (secrets), and kept in a file of
  mode 0600 (default ~/.config/edge-classifier/token), so it survives restarts and the same
  URL keeps working. `--no-auth` turns this off on purpose.
- Bound to loopback (127.0.0.1, ::1), the page is this machine's only, but a web page from
  elsewhere could still reach it through DNS rebinding (evil.example resolving to
  127.0.0.1): the Host header must then name loopback, or the request is refused.

Used by edge.web.webview (the live view) and meant for every page the device serves.
"""

from __future__ import annotations

import hmac
import ipaddress
import re
import secrets
import stat
from dataclasses import dataclass
from http import HTTPStatus
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit

from edge.atomic import create_new
from edge.errors import UserError

DEFAULT_TOKEN_FILE = Path("~/.config/edge-classifier/token")
COOKIE = "edge_token"
_TOKEN = re.compile(r"[A-Za-z0-9_-]{16,128}")
_TOKEN_BYTES = 24  # random bytes; 32 URL-safe characters
_LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost"})


def is_loopback(host: str) -> bool:
    """True for a name or address that only this machine can reach."""
    host = host.strip("[]").lower()
    if host in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def load_or_create_token(path: Path) -> str:
    """The token in `path`, created (mode 0600) when the file does not exist yet."""
    path = path.expanduser()
    if not path.exists():
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        try:
            create_new(path, (secrets.token_urlsafe(_TOKEN_BYTES) + "\n").encode(), mode=0o600)
        except FileExistsError:
            pass  # another process made it a moment ago: use theirs
        except OSError as exc:
            raise UserError(f"cannot create the web view token {path}: {exc.strerror}") from None
    try:
        mode = path.stat().st_mode
        text = path.read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(f"cannot read the web view token {path}: {exc}") from None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise UserError(f"the web view token {path} is readable by others: chmod 600 {path}")
    if not _TOKEN.fullmatch(text):
        raise UserError(f"{path} does not hold a token (16+ of A-Z a-z 0-9 _ -): delete it")
    return text


@dataclass(frozen=True)
class Decision:
    status: HTTPStatus  # OK, or why not
    cookie: str | None = None  # a Set-Cookie value, once the token came in the URL
    redirect: str | None = None  # the same target without ?token=, so it leaves the URL bar
    reason: str = ""


@dataclass(frozen=True)
class Access:
    token: str | None  # None: no token needed
    loopback: bool  # bound to loopback: check the Host header
    token_file: Path | None = None

    @classmethod
    def for_address(
        cls, host: str, token_file: Path | None = None, no_auth: bool = False
    ) -> Access:
        """A token for non-loopback addresses (or when a token file is named), unless no_auth."""
        loopback = is_loopback(host)
        if no_auth or (loopback and token_file is None):
            return cls(None, loopback)
        path = (token_file or DEFAULT_TOKEN_FILE).expanduser()
        return cls(load_or_create_token(path), loopback, path)

    def url(self, host: str, port: int, path: str = "/") -> str:
        """The address to open, with the token when one is needed."""
        if ":" in host:
            host = f"[{host}]"
        query = f"?{urlencode({'token': self.token})}" if self.token else ""
        return f"http://{host}:{port}{path}{query}"

    def check(self, target: str, headers) -> Decision:
        """Decide on one request: its target (path?query) and headers (a Message/dict)."""
        if self.loopback and not _host_is_loopback(headers.get("Host", "")):
            return Decision(HTTPStatus.FORBIDDEN, reason="this page answers to localhost only")
        if self.token is None:
            return Decision(HTTPStatus.OK)
        parts = urlsplit(target)
        query = parse_qsl(parts.query, keep_blank_values=True)
        given = dict(query).get("token")
        if given is not None and hmac.compare_digest(given.encode(), self.token.encode()):
            cookie = f"{COOKIE}={self.token}; Path=/; HttpOnly; SameSite=Strict"
            rest = urlencode([(k, v) for k, v in query if k != "token"])
            redirect = parts.path + (f"?{rest}" if rest else "") if parts.path == "/" else None
            return Decision(HTTPStatus.OK, cookie=cookie, redirect=redirect)
        if hmac.compare_digest(_cookie(headers.get("Cookie", "")).encode(), self.token.encode()):
            return Decision(HTTPStatus.OK)
        where = f" (kept in {self.token_file} on the device)" if self.token_file else ""
        return Decision(
            HTTPStatus.UNAUTHORIZED,
            reason="this page needs its access token: open the address the device printed at "
            "start (it ends in ?token=...), or scan its QR code (printed beside it, and shown on "
            f"the collect page under 'join from a phone'){where}",
        )


def _host_is_loopback(header: str) -> bool:
    host = header.strip()
    if host.startswith("["):  # [::1]:8000
        host = host[1 : host.find("]")] if "]" in host else host
    else:
        host = host.rsplit(":", 1)[0]
    return bool(host) and is_loopback(host)


def _cookie(header: str) -> str:
    for part in header.split(";"):
        name, _, value = part.strip().partition("=")
        if name == COOKIE:
            return value
    return ""
