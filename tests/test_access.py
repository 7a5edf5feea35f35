"""edge.web.access: the token file, the token in the URL then a cookie, the Host check on loopback."""

from __future__ import annotations

import os
import stat
from http import HTTPStatus

import pytest

from edge.errors import UserError
from edge.web.access import COOKIE, Access, is_loopback, load_or_create_token


def test_token_file_is_made_once_with_mode_0600(tmp_path):
    path = tmp_path / "config" / "edge-classifier" / "token"
    first = load_or_create_token(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert len(first) >= 32 and load_or_create_token(path) == first  # kept across restarts
    assert load_or_create_token(tmp_path / "other") != first  # random


def test_token_readable_by_others_is_refused(tmp_path):
    path = tmp_path / "token"
    load_or_create_token(path)
    os.chmod(path, 0o644)
    with pytest.raises(UserError, match="chmod 600"):
        load_or_create_token(path)


@pytest.mark.parametrize("host, expected", [
    ("127.0.0.1", True), ("127.1.2.3", True), ("::1", True), ("[::1]", True),
    ("localhost", True), ("0.0.0.0", False), ("::", False), ("192.168.1.5", False),
    ("pi.local", False),
])  # fmt: skip
def test_is_loopback(host, expected):
    assert is_loopback(host) is expected


def test_lan_address_needs_the_token_then_the_cookie(tmp_path):
    access = Access.for_address("0.0.0.0", token_file=tmp_path / "token")
    token = access.token
    assert access.check("/", {"Host": "pi:8000"}).status == HTTPStatus.UNAUTHORIZED
    assert access.check("/?token=wrong", {}).status == HTTPStatus.UNAUTHORIZED
    first = access.check(f"/?token={token}", {"Host": "pi:8000"})
    assert first.status == HTTPStatus.OK and first.redirect == "/"
    assert first.cookie.startswith(f"{COOKIE}={token};") and "HttpOnly" in first.cookie
    cookie = {"Cookie": f"other=1; {COOKIE}={token}"}
    assert access.check("/prediction.json", cookie).status == HTTPStatus.OK
    assert access.check("/stream.mjpg", {"Cookie": f"{COOKIE}=x"}).status == 401
    assert access.url("pi", 8000) == f"http://pi:8000/?token={token}"


def test_no_auth_turns_the_token_off_on_purpose(tmp_path):
    access = Access.for_address("0.0.0.0", token_file=tmp_path / "token", no_auth=True)
    assert access.token is None and not (tmp_path / "token").exists()
    assert access.check("/", {"Host": "evil.example"}).status == HTTPStatus.OK


@pytest.mark.parametrize("host, status", [
    ("127.0.0.1:8000", 200), ("localhost:8000", 200), ("[::1]:8000", 200), ("localhost", 200),
    ("evil.example:8000", 403), ("", 403), ("127.0.0.1.evil.example", 403),
])  # fmt: skip
def test_loopback_checks_the_host_header_against_dns_rebinding(host, status):
    access = Access.for_address("127.0.0.1")
    assert access.token is None
    assert access.check("/", {"Host": host}).status == status
