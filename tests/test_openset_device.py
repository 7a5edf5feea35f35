"""The unknown rule end to end on a tiny real-architecture model: train.openset -> convert (int8
with extra outputs, threshold on int8 features) -> the device's Classifier and edge.classify."""

from __future__ import annotations

import json
import shutil
import time
import urllib.request

import numpy as np
import pytest

pytest.importorskip("tensorflow")

from edge.model_folder import read_model_folder  # noqa: E402
from edge.prediction import Classifier  # noqa: E402
from edge.runner import TFLiteModel  # noqa: E402
from tests.convert_fixture import make_model_folder, make_shapes_dataset  # noqa: E402


@pytest.fixture(scope="module")
def converted(tmp_path_factory):
    """A 32 px model folder with statistics (train.openset.build) converted by python -m convert."""
    from convert.__main__ import main as convert_main
    from train import openset
    from train.dataset import load_split, read_split
    from train.keras_file import load_keras_file

    root = tmp_path_factory.mktemp("openset-device")
    data = make_shapes_dataset(root / "data", per_class=24)
    folder = make_model_folder(data, root / "models" / "shapes", epochs=30)
    meta = read_model_folder(folder)
    loaded = {
        name: load_split(
            read_split(folder / f"splits/{name}.txt", data, meta.labels), (32, 32), progress=False
        )[:2]
        for name in ("train", "validation", "test")
    }
    model = load_keras_file(folder / "model.keras")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(openset, "_LOCO_EPOCHS", 2)
        # the plumbing, not the choice: 8 validation photos rank a combined rule too coarsely
        openset.build(model, loaded, folder, data, 0.1, score="max_softmax")
        # plain quantization only: equalize (kept when closer) rescales the pooled features,
        # and this test compares them with the unequalized Keras model's
        args = ["--model", str(folder), "--no-progress", "--threads", "1", "--remedies", "none"]
        code = convert_main(args)
    assert code == 0
    return folder, model, loaded


def test_int8_extra_outputs_match_the_float_features(converted):
    from train.openset import feature_model

    folder, model, loaded = converted
    pixels = loaded["test"][0][:8]
    probs, pooled, conv_map = (
        np.asarray(a) for a in feature_model(model)(pixels.astype("float32"))
    )
    int8 = TFLiteModel(folder / "int8.tflite")
    assert set(int8.extras) == {"pooled", "conv_map"}
    for i, image in enumerate(pixels):
        p = int8.predict_one(image)
        assert np.argmax(p) == np.argmax(probs[i])
        for name, want in (("pooled", pooled[i]), ("conv_map", conv_map[i])):
            got = int8.last_extras[name].reshape(want.shape)
            scale = float(int8.extras[name]["quantization"][0])
            # within a few int8 steps of the float value (ranges from calibration, per tensor)
            assert np.mean(np.abs(got - want)) < 3 * scale, name
            assert np.corrcoef(got.ravel(), want.ravel())[0, 1] > 0.98, name


def test_model_json_records_the_int8_rule_and_the_output_names(converted):
    folder, _, _ = converted
    entry = json.loads((folder / "model.json").read_text())["openset"]
    assert set(entry["thresholds"]) == {"float32", "int8"}
    assert entry["int8"]["outputs"] == {
        "probabilities": "output_0",
        "pooled": "output_1",
        "conv_map": "output_2",
    }
    assert entry["int8"]["gate"]["passed"] is True
    assert (folder / "openset.int8.npz").is_file() and (folder / "head.int8.npz").is_file()
    report = json.loads((folder / "report.json").read_text())
    assert report["openset"]["status"] == "on"
    markdown = (folder / "report.md").read_text()
    assert "## Unknown rule (int8 model)" in markdown
    wrong = [r for r in entry["int8"]["explained"] if r["int8"] != r["label"]]
    flips = [r for r in entry["int8"]["explained"] if r["int8"] != r["float"]]
    assert len(entry["int8"]["explained"]) == len({r["path"] for r in wrong + flips})
    for row in entry["int8"]["explained"]:
        assert (folder / row["png"]).is_file() and f"![]({row['png']})" in markdown


def test_classify_json_carries_the_unknown_fields(converted, capsys):
    from edge.classify import main as classify_main

    folder, _, loaded = converted
    entry = json.loads((folder / "model.json").read_text())["openset"]
    data = read_model_folder(folder).meta["dataset"]["root"]
    test_dir = next(p for p in sorted(__import__("pathlib").Path(data).iterdir()) if p.is_dir())
    assert classify_main(["--model", str(folder), "--json", str(test_dir)]) == 0
    out, err = capsys.readouterr()
    lines = [json.loads(line) for line in out.splitlines()]
    assert "unknown: calibrated" in err
    for line in lines:
        assert line["unknown_threshold"] == round(entry["thresholds"]["int8"], 4)
        assert line["unknown"] == (line["unknown_score"] < line["unknown_threshold"])
        assert (line["label"] == "unknown") == line["unknown"]


def test_the_calibrated_rule_rejects_what_it_says_and_threshold_overrides(converted):
    folder, _, loaded = converted
    classify = Classifier.from_folder(folder)
    assert classify.rejection.startswith("calibrated")
    results = [classify(image) for image in loaded["validation"][0]]
    scores = np.array([r.unknown_score for r in results])
    assert [r.unknown for r in results] == list(scores < classify.openset.threshold)
    override = Classifier.from_folder(folder, threshold=0.5)
    assert override.openset is None and "--threshold" in override.rejection
    assert override(loaded["validation"][0][0]).unknown_score is None


def test_a_folder_without_statistics_still_classifies_and_says_rejection_is_off(
    converted, tmp_path
):
    folder, _, loaded = converted
    old = tmp_path / "old"
    shutil.copytree(folder, old)
    meta = json.loads((old / "model.json").read_text())
    del meta["openset"]
    (old / "model.json").write_text(json.dumps(meta))
    classify = Classifier.from_folder(old)
    assert classify.rejection.startswith("off") and "no open-set statistics" in classify.rejection
    result = classify(loaded["test"][0][0])
    assert result.label in classify.labels and result.unknown is False
    assert result.unknown_score is None


def keras_gradcam(model, pixels: np.ndarray, class_index: int) -> np.ndarray:
    """The reference: Grad-CAM by automatic differentiation of the float Keras model's logit."""
    import keras
    import tensorflow as tf

    from train.backbones import base_of, preprocess_of

    base, head = base_of(model), model.get_layer("head")
    hidden = keras.Model(head.inputs, head.get_layer("fc").output)
    w2, b2 = head.get_layer("predictions").get_weights()
    with tf.GradientTape() as tape:
        maps = base(preprocess_of(model)(pixels[None].astype("float32")))
        tape.watch(maps)
        logit = (hidden(maps) @ w2 + b2)[:, class_index]
    grads = tape.gradient(logit, maps).numpy()[0]
    weights = grads.mean(axis=(0, 1))
    cam = np.maximum(maps.numpy()[0] @ weights, 0)
    return cam / cam.max() if cam.max() > 0 else cam


def test_numpy_gradcam_equals_keras_gradcam_on_the_float_model(converted):
    from edge.openset.gradcam import gradcam
    from train.openset import feature_model, head_weights

    folder, model, loaded = converted
    head = head_weights(model.get_layer("head"))
    features = feature_model(model)
    for image in loaded["test"][0][:4]:
        probs, pooled, conv_map = (np.asarray(a)[0] for a in features(image[None].astype("f4")))
        for class_index in range(3):
            want = keras_gradcam(model, image, class_index)
            got = gradcam(conv_map, pooled, head, class_index)
            np.testing.assert_allclose(got, want, atol=1e-4)


def test_the_device_explains_a_frame_and_classify_writes_heat_maps(converted, tmp_path):
    from edge.classify import main as classify_main

    folder, _, loaded = converted
    classify = Classifier.from_folder(folder)
    frame = np.ascontiguousarray(np.repeat(loaded["test"][0][0], 2, axis=1))  # 32 x 64: cropped
    heat = classify.explain(frame)
    assert heat.shape == frame.shape[:2] and heat.dtype == np.float32
    assert heat.min() >= 0.0 and heat.max() <= 1.0
    assert not heat[:, :16].any() and not heat[:, -16:].any()  # outside the centre crop
    images = tmp_path / "images"
    images.mkdir()
    import cv2

    for i in range(2):
        cv2.imwrite(str(images / f"{i}.png"), loaded["test"][0][i][:, :, ::-1])
    assert (
        classify_main(["--model", str(folder), "--explain", str(tmp_path / "cam"), str(images)])
        == 0
    )
    written = sorted(p.name for p in (tmp_path / "cam").iterdir())
    assert written == ["0.png.cam.png", "1.png.cam.png"]
    assert cv2.imread(str(tmp_path / "cam" / "0.png.cam.png")).shape == (32, 32, 3)


def test_bench_reports_the_unknown_and_grad_cam_cost_beside_invoke(converted, capsys):
    from edge import bench

    folder, _, _ = converted
    argv = ["--model", str(folder), "--runs", "3", "--threads", "1", "--json"]
    assert bench.main(argv) == 0
    rows = {r["model"]: r for r in map(json.loads, capsys.readouterr().out.splitlines())}
    assert isinstance(rows["int8"]["unknown_ms"], float)
    assert isinstance(rows["int8"]["gradcam_ms"], float)
    # float32.tflite has no extra outputs: its cost is not made up
    assert rows["float32"]["unknown_ms"] is None and rows["float32"]["gradcam_ms"] is None


def test_the_live_view_draws_where_it_looked_on_the_int8_model(converted, monkeypatch):
    """edge.camera --serve on the converted folder: the toggle is offered, POST /explain turns
    the heat-map over the streamed picture on, and off again."""
    import cv2

    from tests.test_webview import first_mjpeg_frame
    from tests.test_webview_explain import Camera, _post

    folder, _, loaded = converted
    frame = cv2.resize(loaded["test"][0][0], (128, 128), interpolation=cv2.INTER_NEAREST)
    with Camera(monkeypatch, folder, frame) as cam:
        state = json.loads(urllib.request.urlopen(cam.url + "explain.json", timeout=5).read())
        assert state == {"on": False, "available": True, "why": None}
        plain = first_mjpeg_frame(cam.url + "stream.mjpg").astype(int)
        assert _post(cam.url + "explain", {"on": True})["on"] is True

        def low_half_change() -> float:
            shown = first_mjpeg_frame(cam.url + "stream.mjpg").astype(int)
            return float(np.abs(shown - plain)[plain.shape[0] // 2 :].mean())

        deadline = time.monotonic() + 20
        while low_half_change() < 20 and time.monotonic() < deadline:
            time.sleep(0.1)  # the frame streamed may still be one drawn before the toggle
        assert low_half_change() >= 20  # the heat-map's colours over the picture
        assert _post(cam.url + "explain", {"on": False})["on"] is False
        deadline = time.monotonic() + 20
        while low_half_change() > 5 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert low_half_change() <= 5  # the picture as it was
