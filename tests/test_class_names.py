"""One class-name rule for train, collect and the pages (issue 27, item 7): the names collect
used to accept and train refused, JSON values that are not text, names that differ from a
class only by case, and a name too long for a folder, each answered with one sentence."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import numpy as np
import pytest

from edge.collect.captures import CaptureStore
from edge.collect.server import CollectServer, preview_frames
from edge.collect.session import Session
from edge.errors import UserError
from edge.model_folder import check_class_name
from edge.web.access import Access
from tests.datagen import make_dataset
from train.dataset import scan

HIDDEN = ["a\u2028b", "a\u0085b", "a\u200bb", "a\x7fb", "a\u202eb", "a\tb", "a\u00a0b"]
NOT_TEXT = [None, 5, 1.5, True, ["x"], {"x": 1}]
EMOJI = "\U0001f9e2"  # billed cap: 4 bytes of UTF-8


@pytest.mark.parametrize("name", HIDDEN)
def test_invisible_and_control_characters_are_refused_everywhere(name, tmp_path):
    with pytest.raises(UserError, match="invisible or control character"):
        check_class_name(name)
    data = make_dataset(tmp_path / "d", per_class=4, size=16)
    (data / "bar").rename(data / name)
    with pytest.raises(UserError, match="rename it"):
        scan(data)  # train refuses the same names with the same words


@pytest.mark.parametrize("value", NOT_TEXT)
def test_json_values_that_are_not_text_are_refused_not_converted(value):
    with pytest.raises(UserError, match="must be text"):
        check_class_name(value)


def test_a_name_too_long_for_a_folder_is_refused_and_one_that_fits_works(tmp_path):
    store = CaptureStore(tmp_path, "x")
    with pytest.raises(UserError, match="255 bytes"):
        store.add_class(EMOJI * 64)  # 256 bytes: ext4 would say ENAMETOOLONG
    assert (tmp_path / store.add_class(EMOJI * 63)).is_dir()  # 252 bytes
    with pytest.raises(UserError, match="64 characters"):
        check_class_name("a" * 65)


def test_a_name_differing_from_a_class_only_by_case_is_refused_by_collect(tmp_path):
    store = CaptureStore(tmp_path, "x")
    store.add_class("Hat")
    for twin in ("hat", "HAT"):
        with pytest.raises(UserError, match="differs from the class 'Hat' only by case"):
            store.add_class(twin)
        with pytest.raises(UserError, match="only by case"):
            store.save(twin, np.zeros((8, 8, 3), np.uint8))
    assert store.add_class("Hat") == "Hat" and store.classes() == ["Hat"]


def test_train_warns_about_classes_differing_only_by_case(tmp_path, capsys):
    data = make_dataset(tmp_path / "d", per_class=4, size=16)
    (data / "disc").rename(data / "Bar")
    assert scan(data).classes == ["Bar", "bar", "square"]
    assert "classes 'Bar' and 'bar'" in capsys.readouterr().err


def _post(url: str, body) -> tuple[int, dict]:
    data = json.dumps(body).encode()
    request = urllib.request.Request(url, data, {"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_the_page_answers_every_bad_name_with_a_sentence(tmp_path):
    session = Session(CaptureStore(tmp_path / "d", "x"), preview_frames(), classes=["Hat"])
    with CollectServer("127.0.0.1", 0, session, Access.for_address("127.0.0.1")) as server:
        url = server.url + "class"
        for name in [*HIDDEN, *NOT_TEXT, EMOJI * 64, "hat", "HAT"]:
            status, answer = _post(url, {"name": name})
            assert status == 400, (name, answer)
            assert any(w in answer["error"] for w in ("class name", "by case")), (name, answer)
        status, answer = _post(server.url + "capture", {"class": None})
        assert status == 400 and "must be text" in answer["error"]
    assert session.store.classes() == ["Hat"]


def test_a_burst_into_a_case_twin_is_refused_before_the_camera_opens(tmp_path, capsys):
    from edge import collect
    from edge.errors import run_cli

    (tmp_path / "out" / "Hat").mkdir(parents=True)
    argv = ["--source", "/no/such/clip.mp4", "--out", str(tmp_path / "out"), "--label", "hat"]
    assert run_cli(collect.main, argv) == 2  # the class is refused first, not the --source
    assert "only by case" in capsys.readouterr().err
