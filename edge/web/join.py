"""Joining a page from a phone: the address a phone can open, as text and as a QR code.

    from edge.web.join import phone_url, qr_svg, print_qr
    url = phone_url("0.0.0.0", 8000, access)    # http://raspberrypi.local:8000/?token=...
    print_qr(url, sys.stderr)                    # the QR code in the terminal
    svg = qr_svg(url)                            # the same code for the page (bytes)

A phone on the same network finds the Pi by its mDNS name, `HOSTNAME.local` (Raspberry Pi OS
runs avahi), which a bare host name is not. The QR code is drawn by segno, a maintained
pure-Python QR encoder (an `edge` requirement: it runs on the device).
"""

from __future__ import annotations

import io
import socket
from typing import TextIO

import segno

from edge.web.access import Access, is_loopback

QR_SCALE = 6  # pixels per module in the SVG
QR_BORDER = 2  # modules of quiet zone (phones read 2 well on a plain page)


def mdns_name(hostname: str | None = None) -> str:
    """This machine's name as a phone on the LAN can look it up: `name.local`."""
    name = (hostname or socket.gethostname()).strip().rstrip(".")
    return name if "." in name else f"{name}.local"


def phone_url(host: str, port: int, access: Access, hostname: str | None = None) -> str | None:
    """The URL (with its token) a phone opens; None when the page serves this machine only."""
    if is_loopback(host):
        return None
    if host in ("0.0.0.0", "::", ""):
        host = mdns_name(hostname)
    return access.url(host, port)


def qr_svg(url: str) -> bytes:
    buffer = io.BytesIO()
    segno.make(url, error="m").save(
        buffer, kind="svg", scale=QR_SCALE, border=QR_BORDER, dark="#000", light="#fff"
    )
    return buffer.getvalue()


def print_qr(url: str, out: TextIO) -> None:
    """The QR code in the terminal (two characters a module), for a phone's camera."""
    segno.make(url, error="m").terminal(out=out, border=QR_BORDER)


def say_where(url: str | None, out: TextIO) -> None:
    """The phone's URL on one line, and its QR code when `out` is a terminal (a journal or a
    log file gets the line alone)."""
    if url is None:
        return
    isatty = getattr(out, "isatty", lambda: False)
    qr = isatty()
    print(f"from a phone on this network: {url}" + ("  (or scan this QR code)" if qr else ""),
          file=out, flush=True)  # fmt: skip
    if qr:
        print_qr(url, out)
