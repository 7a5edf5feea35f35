"""What convert/ adds to model.json: which int8 model it left in the folder, and what kind.

    from convert.model_json import record_int8
    record_int8(folder, {"file": "int8.tflite", "full_integer": True, ...})   # or None

model.json is written by training (edge.model_folder owns it); convert keeps every key
training wrote and owns only "int8": set when an int8 model passed the gate, removed when none did (no int8.tflite is
left then), so the folder never describes a model it does not hold. The device reads
"int8" ["full_integer"] to know whether the file needs float kernels too.
"""

from __future__ import annotations

from pathlib import Path

from edge.model_folder import read_meta, update_meta

KEY = "int8"


def int8_entry(report: dict) -> dict:
    """model.json's "int8" entry for a report whose gate passed."""
    return {
        "file": report["int8_file"],
        "full_integer": report["full_integer"],
        "float_layers": report["float_layers"],
        "remedy": report["remedy"],
        "report": "report.json",
        # the Grad-CAM pointing game (convert.pointing), when the data has the sample's boxes
        **({"pointing": report["pointing"]} if "pointing" in report else {}),
    }


def record_int8(folder: Path, entry: dict | None) -> None:
    """Set (or with None remove) model.json's "int8" entry; every other key stays as it is."""
    if entry is None:
        if KEY in read_meta(folder / "model.json"):
            update_meta(folder, remove=(KEY,))
    else:
        update_meta(folder, **{KEY: entry})
