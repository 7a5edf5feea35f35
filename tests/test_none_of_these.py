""" "None of these" on the collect page, in Review and in the window: photos of what is none of
the classes go into DIR/_unknown (edge.model_folder.UNKNOWN_FOLDER), like a class's photos
(burst, near-duplicates, undo), and training never takes `_unknown` for a class."""

from __future__ import annotations

import json

import numpy as np
import pytest

from edge.collect.captures import CaptureStore, read_log
from edge.collect.server import preview_frames
from edge.collect.session import Session
from edge.collect.unlabeled import Review
from edge.collect.window import on_key
from edge.errors import UserError
from edge.model_folder import UNKNOWN_FOLDER
from tests.test_pages import (
    SIZES,
    _jpegs,
    _uncertain,
    browser_at,
    collect_page,
    coloured,
    contrast_failures,
    shoot,
    text,
    wait_text,
)


def _unknown_jpegs(out):
    return sorted((out / UNKNOWN_FOLDER).glob("*.jpg"))


@pytest.mark.parametrize("size", SIZES)
def test_none_of_these_saves_into_unknown_with_bursts_key_and_undo(size, tmp_path, monkeypatch):
    out = tmp_path / "data"
    with (
        collect_page(monkeypatch, out, "--classes", "Hat,Cube") as url,
        browser_at(size, tmp_path) as browser,
    ):
        browser.open(url, ready="!!document.getElementById('shoot-_unknown')")
        assert text(browser, "shoot-_unknown") == "0  none of these"
        browser.eval("document.getElementById('shoot-_unknown').click()")  # a tap
        says = wait_text(browser, "msg", "saved _unknown/")
        assert says.startswith("saved _unknown/") and says.endswith(".jpg (none of these)")
        browser.wait_for("document.getElementById('count-_unknown').textContent === '1'")
        captions = browser.eval(
            "[...document.querySelectorAll('#recent .cap')].map(c => c.textContent)"
        )
        assert captions == ["none of these"]
        browser.wait_for("document.querySelector('#recent img').naturalWidth > 0")  # its thumbnail
        browser.key("0")  # its key
        browser.wait_for("document.getElementById('count-_unknown').textContent === '2'")

        browser.eval("document.getElementById('count').value = 3")
        browser.eval("document.getElementById('every').value = 0.05")
        browser.eval("document.getElementById('burst-_unknown').click()")
        says = wait_text(browser, "burst", 'saved 3 of 3 "none of these" photos in')
        assert says.startswith('saved 3 of 3 "none of these" photos in')
        browser.wait_for("document.getElementById('count-_unknown').textContent === '5'")
        assert text(browser, "count-Hat") == "0" and text(browser, "count-Cube") == "0"
        assert contrast_failures(browser) == []
        shoot(browser, f"collect-none-of-these-{size}")
        browser.key("u")  # undo: this page's newest, a "none of these" photo
        assert wait_text(browser, "msg", "removed _unknown/").endswith(", your newest photo")
        browser.wait_for("document.getElementById('count-_unknown').textContent === '4'")
    saved = _unknown_jpegs(out)
    assert len(saved) == 4
    assert [r["file"] for r in read_log(out / UNKNOWN_FOLDER)] == [p.name for p in saved]
    assert {r["class"] for r in read_log(out / UNKNOWN_FOLDER)} == {UNKNOWN_FOLDER}
    assert not (out / "none of these").exists() and sorted(p.name for p in out.iterdir()) == [
        "Cube", "Hat", UNKNOWN_FOLDER, "keys.txt"]  # fmt: skip


def test_a_still_scene_is_skipped_and_the_class_name_rules_still_hold(tmp_path):
    frames = preview_frames()
    session = Session(CaptureStore(tmp_path, "x", min_change=1.0), frames, classes=["Hat"])
    frames.publish(coloured((90, 90, 90)))
    assert session.capture({"class": UNKNOWN_FOLDER})["saved"]
    assert session.capture({"class": UNKNOWN_FOLDER})["says"] == "skipped: too like the last one"
    assert session.state()["unknown"] == {
        "name": UNKNOWN_FOLDER, "label": "none of these", "key": 0, "count": 1, "skipped": 1}  # fmt: skip
    assert session.classes() == ["Hat"]  # never a class, never a key 1-9
    for bad in ("_unlabeled", "_Unknown", "none of these"):
        with pytest.raises(UserError):
            session.capture({"class": bad})
    with pytest.raises(UserError):
        session.add_class({"name": UNKNOWN_FOLDER})
    frames.publish(coloured((20, 200, 90)))
    assert on_key(session, ord("0")).endswith(".jpg")  # the window's key 0
    assert len(_unknown_jpegs(tmp_path)) == 2


def test_review_files_a_frame_into_unknown_and_undo_stays_per_tab(tmp_path):
    frames = preview_frames()
    session = Session(CaptureStore(tmp_path, "x"), frames, classes=["Hat"])
    _uncertain(tmp_path, "20250101-000000-000-0001", "Hat")
    frames.publish(coloured((90, 90, 90)))
    mine = session.capture({"class": "Hat", "client": "phone"})["saved"]
    answer = session.handle(
        "/review/file", {"file": "20250101-000000-000-0001.jpg", "class": UNKNOWN_FOLDER,
                         "client": "laptop"})  # fmt: skip
    assert answer["says"] == "filed into _unknown (none of these)"
    assert [p.name for p in _unknown_jpegs(tmp_path)] == ["20250101-000000-000-0001.jpg"]
    assert not list((tmp_path / "_unlabeled").iterdir())  # the frame and its sidecar moved
    (record,) = read_log(tmp_path / UNKNOWN_FOLDER)
    assert record["class"] == UNKNOWN_FOLDER and record["source"] == "review"
    assert session.undo({"client": "laptop"})["says"] == "nothing of yours to undo"
    assert session.undo({"client": "phone"})["undone"] == f"Hat/{mine}"
    assert len(_unknown_jpegs(tmp_path)) == 1
    with pytest.raises(UserError):
        Review(tmp_path).file("nope.jpg", UNKNOWN_FOLDER)


def _unknown_frame(root, name: str) -> None:
    """A frame edge.camera --save-uncertain kept because the rule said unknown."""
    _uncertain(root, name, "Hat")
    sidecar = root / "_unlabeled" / f"{name}.json"
    meta = json.loads(sidecar.read_text())
    meta.update(reason="unknown", unknown=True, unknown_score=1.25, unknown_threshold=2.5)
    sidecar.write_text(json.dumps(meta))


def test_review_offers_none_of_these_and_an_unknown_guess_in_chromium(tmp_path, monkeypatch):
    out = tmp_path / "mine"
    _jpegs(out / "Hat", 3)
    _jpegs(out / "Cube", 3)
    _unknown_frame(out, "20250101-000000-000-0001")
    _uncertain(out, "20250101-000000-000-0002", "Hat")
    with collect_page(monkeypatch, out) as url, browser_at("phone", tmp_path) as browser:
        browser.open(url, ready="!!document.getElementById('shoot-Hat')")
        browser.wait_for("!document.getElementById('tab-review').hidden")
        browser.eval("document.getElementById('tab-review').click()")
        browser.wait_for("!!document.getElementById('file-_unknown')")
        assert text(browser, "file-_unknown") == "0 none of these"
        assert browser.eval("document.getElementById('file-_unknown').className") == "none guess"
        assert browser.eval("document.getElementById('file-Hat').className") == ""
        assert text(browser, "guess").startswith("model said: unknown (score 1.25, threshold 2.50)")
        assert browser.eval(
            "getComputedStyle(document.querySelector('#guess .unknown')).color"
        ) == (
            "rgb(255, 183, 77)"  # the unknown state's own colour, as on the live view
        )
        assert contrast_failures(browser) == []
        shoot(browser, "collect-review-unknown-phone")
        browser.key("Enter")  # the guess: none of these
        assert (
            wait_text(browser, "msg", "filed into _unknown")
            == "filed into _unknown (none of these)"
        )
        browser.wait_for("document.getElementById('file-Hat').className === 'guess'")
        assert text(browser, "guess").startswith("model's guess: Hat 0.41")
        browser.key("0")  # the guess was Hat; 0 files it into none of these instead
        wait_text(browser, "current", "Nothing to review")
    assert [p.name for p in _unknown_jpegs(out)] == [
        "20250101-000000-000-0001.jpg",
        "20250101-000000-000-0002.jpg",
    ]
    assert not list((out / "Hat").glob("2025*.jpg"))
    assert np.all([r["class"] == UNKNOWN_FOLDER for r in read_log(out / UNKNOWN_FOLDER)])
