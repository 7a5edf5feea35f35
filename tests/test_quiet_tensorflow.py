"""train.tf_import.quiet_tensorflow: a conversion prints none of its known lines, and what is
not known (a new warning, an error line, our own output) still reaches the terminal.

Run in a fresh process: under pytest, sys.stdout and warnings are pytest's, not descriptor 1
and the terminal as in `python -m convert`."""

from __future__ import annotations

import subprocess
import sys

from tests.conftest import ROOT

_CONVERSION = """
import os, warnings
import numpy as np
from train.tf_import import import_tensorflow, quiet_tensorflow
import_tensorflow()
from train.tflite.quantize import calibrate, float_tflite, quantize
from tests.tiny_models import SIZE, tiny_keras_model

model = tiny_keras_model()
pixels = np.random.default_rng(0).integers(0, 256, (4, *SIZE, 3), dtype=np.uint8)
float_tflite(model)  # Keras' "Saved artifact at ..." summary on stdout, without the filter
quantize(calibrate(model, pixels, progress=False))  # "fully_quantize: 0, ..." on stderr
print("converted", flush=True)
with quiet_tensorflow() as console:
    os.write(2, b"fully_quantize: 0, inference_type: 6\\nERROR: an op failed\\n")
    print("our own result line")
    warnings.warn("something new", UserWarning, stacklevel=1)
    console.write("progress 50 %\\r")
"""


def test_a_conversion_prints_only_what_is_not_its_known_chatter():
    result = subprocess.run(
        [sys.executable, "-c", _CONVERSION], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout == "converted\nour own result line\n"
    err = result.stderr
    assert "ERROR: an op failed\n" in err and "progress 50 %" in err, err  # \r read as \n
    assert "UserWarning: something new" in err, err
    known = ("fully_quantize", "Saved artifact", "TensorSpec", "Statistics for quantized")
    assert not any(word in err for word in known), err
