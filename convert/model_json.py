"""What convert/ adds to model.json: which int8 model it left in the folder, and what kind.

    from convert.model_json import record_int8
    record_int8(folder, {"file": "int8.tflite", "full_integer": True, ...})   # or None

model.json is written by training; convert keeps every key training wrote and owns only
"int8": set when an int8 model passed the gate, removed when none did (no int8.tflite is
left then), so the folder never describes a model it does not hold. The device reads
"int8" ["full_integer"] to know whether the file needs float kernels too.
"""

from __future__ import annotations

import json
from pathlib import Path

from edge.atomic import write_text

KEY = "int8"


def int8_entry(report: dict) -> dict:
    """model.json's "int8" entry for a report whose gate passed."""
    return {
        "file": report["int8_file"],
        "full_integer": report["full_integer"],
        "float_layers": report["float_layers"],
        "remedy": report["remedy"],
        "report": "report.json",
    }


def record_int8(folder: Path, entry: dict | None) -> None:
    """Set (or with None remove) model.json's "int8" entry; every other key stays as it is."""
    path = folder / "model.json"
    meta = json.loads(path.read_text(encoding="utf-8"))
    if entry is None and KEY not in meta:
        return
    if entry is None:
        del meta[KEY]
    else:
        meta[KEY] = entry
    write_text(path, json.dumps(meta, indent=2) + "\n")
