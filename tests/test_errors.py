"""Exit codes have their own classes, and only a user's bad file is called one (no blanket catch)."""

from __future__ import annotations

import sys
import types

import pytest

from edge.errors import ExitError, Refused, UserError, run_cli


def _main_raising(error: BaseException):
    def main(argv):
        raise error

    return main


def test_each_exit_code_has_its_own_class_and_bad_input_is_not_a_refusal(capsys):
    from convert.__main__ import GateFailed
    from train.tflite.quantize import ConversionFailed

    for refused in (GateFailed, ConversionFailed):
        assert issubclass(refused, Refused) and not issubclass(refused, UserError)
        assert run_cli(_main_raising(refused("int8 model failed the gate"))) == 1
    assert not issubclass(UserError, Refused) and issubclass(UserError, ExitError)
    assert run_cli(_main_raising(UserError("no such folder"))) == 2
    assert capsys.readouterr().err.splitlines() == [
        "error: int8 model failed the gate",
        "error: int8 model failed the gate",
        "error: no such folder",
    ]


def test_a_bug_keeps_its_traceback():
    with pytest.raises(ZeroDivisionError):
        run_cli(_main_raising(ZeroDivisionError("a bug")))


class _Base:
    """A VGG16 base whose load_weights raises what it is given."""

    def __init__(self, error: BaseException):
        self.error = error

    def load_weights(self, path):
        raise self.error


def test_a_weights_file_keras_cannot_read_is_the_users_and_out_of_memory_is_not(tmp_path):
    from train.backbones.vgg16_weights import load_base_weights

    path = str(tmp_path / "w.h5")
    for error in (OSError("file signature not found"), ValueError("Layer count mismatch")):
        with pytest.raises(UserError, match="is not a VGG16"):
            load_base_weights(_Base(error), path)
    for error in (MemoryError(), RuntimeError("a bug in our code")):
        with pytest.raises(type(error)):
            load_base_weights(_Base(error), path)


def test_a_failed_imagenet_download_is_the_users_and_a_bug_is_not():
    from train.backbones.vgg16_weights import _unusable_weights

    assert _unusable_weights(Exception("URL fetch failure on https://…: None -- timed out"))
    assert _unusable_weights(OSError("Unable to synchronously open file"))
    assert _unusable_weights(ValueError("Incomplete or corrupted file detected"))
    assert not _unusable_weights(MemoryError())
    assert not _unusable_weights(AttributeError("'NoneType' object has no attribute 'x'"))


@pytest.fixture
def fake_keras(monkeypatch):
    """keras.models.load_model raising on demand, without loading TensorFlow (seconds saved)."""
    keras = types.SimpleNamespace(models=types.SimpleNamespace())
    monkeypatch.setitem(sys.modules, "keras", keras)
    monkeypatch.setitem(sys.modules, "tensorflow", types.ModuleType("tensorflow"))
    monkeypatch.setitem(sys.modules, "train.model", types.ModuleType("train.model"))
    return keras


@pytest.mark.parametrize(
    "error, users",
    [
        (ValueError("File not found: filepath=model.keras"), True),
        (KeyError("There is no item named 'config.json' in the archive"), True),
        (OSError("Unable to open file"), True),
        (MemoryError(), False),
        (AttributeError("a bug"), False),
    ],
)
def test_a_model_file_keras_cannot_load_is_the_users_and_out_of_memory_is_not(
    fake_keras, tmp_path, error, users
):
    from convert.loading import load_keras_model

    def load_model(*args, **kwargs):
        raise error

    fake_keras.models.load_model = load_model
    source = types.SimpleNamespace(path=tmp_path)
    if users:
        with pytest.raises(UserError, match="cannot be loaded as a Keras model"):
            load_keras_model(source)
    else:
        with pytest.raises(type(error)):
            load_keras_model(source)


def test_interruptible_turns_sigterm_into_the_hint_and_puts_the_handler_back(capsys):
    import os
    import signal

    from edge.errors import interruptible, run_cli

    def previous(signum, frame):
        raise AssertionError("not while the block runs")

    signal.signal(signal.SIGTERM, previous)
    try:

        def main(argv):
            with interruptible("run it again with --resume"):
                os.kill(os.getpid(), signal.SIGTERM)
                signal.pause()  # the handler raises before this returns

        assert run_cli(main, []) == 130
        assert capsys.readouterr().err.strip() == "interrupted: run it again with --resume"
        assert signal.getsignal(signal.SIGTERM) is previous
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)


def test_with_safe_points_sigterm_waits_for_the_next_check():
    import os
    import signal

    from edge.errors import check_terminated, interruptible

    reached = []
    with pytest.raises(KeyboardInterrupt, match="hint"), interruptible("hint", safe_points=True):
        os.kill(os.getpid(), signal.SIGTERM)
        reached.append("after the signal")  # no exception inside native code: only flagged
        check_terminated()
        reached.append("never")
    assert reached == ["after the signal"]
