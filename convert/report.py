"""The conversion report: report.json (for scripts), report.md (for people), confusion PNGs.

    from convert.report import write_report
    write_report(folder, report)    # report.json, report.md, confusion_float32/int8.png

Every file is written atomically. Accuracies and agreement are percent, drops are
percentage points, sizes bytes, latencies milliseconds per image (median and p90 of
invoke() alone, warm-up excluded).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from edge.atomic import replacing, write_text

_MAX_FLIPS_SHOWN = 50  # rows of the flipped-images table in report.md (all are in the JSON)
_MAX_LAYERS_SHOWN = 10


def write_report(folder: Path, report: dict) -> list[Path]:
    """Write report.json, report.md and the confusion matrices; return the paths."""
    written = [write_text(folder / "report.json", json.dumps(report, indent=2) + "\n")]
    classes = report["classes"]
    for kind in ("float32", "int8"):
        matrix = report["confusion"].get(kind)
        if matrix is not None:
            title = f"{kind} on the test split: {report[f'{kind[:5]}_accuracy']:.2f} % accurate"
            written.append(confusion_png(folder / f"confusion_{kind}.png", matrix, classes, title))
    written.append(write_text(folder / "report.md", markdown(report)))
    return written


def confusion_png(path: Path, matrix, classes: list[str], title: str) -> Path:
    """A confusion matrix as a PNG (rows: true class, columns: predicted), counts written in."""
    # A Figure of its own, not pyplot: no backend switched, no figure registered globally.
    from matplotlib.figure import Figure

    matrix = np.asarray(matrix)
    side = max(4.0, 0.5 * len(classes) + 2.5)
    figure = Figure(figsize=(side, side))
    axes = figure.subplots()
    axes.imshow(matrix, cmap="Blues")
    axes.set_xticks(range(len(classes)), classes, rotation=45, ha="right")
    axes.set_yticks(range(len(classes)), classes)
    axes.set_xlabel("predicted")
    axes.set_ylabel("true")
    axes.set_title(title, fontsize=10)
    threshold = matrix.max() / 2 if matrix.size else 0
    for (row, col), count in np.ndenumerate(matrix):
        if count:
            colour = "white" if count > threshold else "black"
            axes.text(col, row, str(count), ha="center", va="center", color=colour, fontsize=8)
    figure.tight_layout()
    with replacing(path) as tmp:
        figure.savefig(tmp, format="png", dpi=100)
    return path


def _short(tensor: str) -> str:
    """A converter tensor name ("a/b/Relu;a/b/BiasAdd;…") shortened to its first part."""
    return tensor.split(";")[0][-70:]


def _fmt(value, spec: str = ".2f", suffix: str = "") -> str:
    return "n/a" if value is None else f"{value:{spec}}{suffix}"


def _kind(r: dict) -> str:
    if r["full_integer"]:
        return "full-integer"
    layers = ", ".join(f"`{name}`" for name in r["float_layers"])
    return f"**not full-integer**: {len(r['float_layers'])} layer(s) kept float: {layers}"


def markdown(r: dict) -> str:
    """report.md: the verdict first, then the numbers behind it."""
    sections = (
        _verdict,
        _summary,
        _attempts,
        _per_class,
        _flipped,
        _openset,
        _pointing,
        _layer_errors,
    )
    return "\n".join(line for section in sections for line in section(r)) + "\n"


def _verdict(r: dict) -> list[str]:
    gate = r["gate"]
    verdict = "PASSED" if gate["passed"] else "FAILED"
    lines = [f"# Conversion report: {r['model']}", "", f"**Gate {verdict}**: {gate['reason']}", ""]
    lines += [f"> **Warning:** {w}" for w in r["warnings"]]
    return lines + ([""] if r["warnings"] else [])


def _summary(r: dict) -> list[str]:
    return [
        f"Test split: {r['test']['images']} images ({r['test']['skipped']} skipped). "
        f"int8 file: `{r['int8_file']}` ({_kind(r)}, input {r['input_type']}). "
        f"Remedy used: **{r['remedy']}**.",
        "",
        "| | Keras | float32 TFLite | int8 TFLite |",
        "| --- | --- | --- | --- |",
        f"| accuracy | {_fmt(r['keras_accuracy'], '.2f', ' %')} | {_fmt(r['float_accuracy'], '.2f', ' %')} "
        f"| {_fmt(r['int8_accuracy'], '.2f', ' %')} |",
        f"| size | | {r['float_bytes']:,} B | {r['int8_bytes']:,} B ({_fmt(r['size_ratio'] * 100, '.1f', ' %')}) |",
        f"| latency median / p90 | | {_fmt(r['float_ms'], '.2f')} / {_fmt(r['float_ms_p90'], '.2f')} ms "
        f"| {_fmt(r['int8_ms'], '.2f')} / {_fmt(r['int8_ms_p90'], '.2f')} ms ({_fmt(r['speedup'], '.1f', 'x')}) |",
        "",
        f"- int8 drop: **{r['drop_points']:+.2f} points** (allowed: {r['gate']['max_drop']:.2f})",
        f"- top-1 agreement float vs int8: **{r['agreement']:.2f} %**; Keras vs float TFLite: "
        f"{r['keras_float_agreement']:.2f} %",
        f"- latency: {r['threads']} thread(s), {r['backend']}, per image around invoke() only, "
        "first (warm-up) call excluded",
        f"- calibration: {r['calibration']['images']} images from the training split, stratified "
        f"by class; {r['calibration']['overlap_with_test']} overlap with the test split",
        "",
    ]


def _attempts(r: dict) -> list[str]:
    lines = [
        f"## Attempts (screened on the {r['selection_split']} split, in order of cost)",
        "",
        f"Each attempt is screened against the gate and a target agreement of "
        f"{r['target_agreement']:.1f} %. Plain and equalize are always tried, the other "
        "remedies only while no attempt reaches both. Kept: one that passes, then one that "
        "reaches the target, then the one whose class probabilities are closest to the float "
        "model's (mean absolute difference, mean |Δp|).",
        "",
    ]
    if r.get("selection_split_in_training"):
        lines += [
            "The float model was refit on the validation photos too (`train --refit`): this "
            "screen measures how the int8 model follows it on photos it trained on; the test "
            "split below is the measure of the result.",
            "",
        ]
    lines += [
        "| attempt | what | drop (pts) | agreement | mean \\|Δp\\| | bytes | verdict |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for a in r["attempts"]:
        s = a["screen"]
        verdict = f"**{a['verdict']} (kept)**" if a["name"] == r["remedy"] else a["verdict"]
        lines.append(
            f"| {a['name']} | {a['what']} | {s['drop_points']:+.2f} | {s['agreement']:.2f} % "
            f"| {s['mean_abs_prob_diff']:.4f} | {a['bytes']:,} | {verdict} |"
        )
    return lines


def _per_class(r: dict) -> list[str]:
    lines = [
        "",
        "## Per class (test split)",
        "",
        "| class | support | float P / R / F1 | int8 P / R / F1 |",
        "| --- | --- | --- | --- |",
    ]
    for name in r["classes"]:
        f, q = r["per_class"]["float32"][name], r["per_class"]["int8"][name]
        lines.append(
            f"| {name} | {f['support']} | {f['precision']:.3f} / {f['recall']:.3f} / {f['f1']:.3f} "
            f"| {q['precision']:.3f} / {q['recall']:.3f} / {q['f1']:.3f} |"
        )
    return lines + ["", "Confusion matrices: `confusion_float32.png`, `confusion_int8.png`."]


def _flipped(r: dict) -> list[str]:
    lines = ["", f"## Flipped predictions ({len(r['flipped'])})", ""]
    if not r["flipped"]:
        return lines + ["None: float32 and int8 agree on every test image."]
    lines += ["| image | true | float32 | int8 |", "| --- | --- | --- | --- |"]
    for f in r["flipped"][:_MAX_FLIPS_SHOWN]:
        lines.append(
            f"| {f['path']} | {f['label']} | {f['float']} ({f['float_prob']:.2f}) "
            f"| {f['int8']} ({f['int8_prob']:.2f}) |"
        )
    if len(r["flipped"]) > _MAX_FLIPS_SHOWN:
        lines.append(f"\n… and {len(r['flipped']) - _MAX_FLIPS_SHOWN} more in report.json")
    return lines


def _openset(r: dict) -> list[str]:
    """The unknown rule on the int8 model, and where it looked on the photos it got wrong."""
    openset = r.get("openset")
    if not openset:
        return []
    lines = ["", "## Unknown rule (int8 model)", "", f"{openset['status']}: {openset['reason']}"]
    rows = openset.get("explained") or []
    if rows:
        lines += [
            "",
            "Test photos the int8 model got wrong, and float/int8 flips, with the Grad-CAM of "
            "the int8 prediction (the cross marks its peak):",
            "",
            "| heat-map | image | true | float32 | int8 |",
            "| --- | --- | --- | --- | --- |",
        ]
        lines += [
            f"| ![]({e['png']}) | {e['path']} | {e['label']} | {e['float']} | {e['int8']} |"
            for e in rows
        ]
    return lines


def _pointing(r: dict) -> list[str]:
    """The Grad-CAM pointing game (convert.pointing), when the data had the sample's boxes."""
    entry = r.get("pointing")
    if not entry:
        return []
    lines = ["", "## Where the int8 model looked: the pointing game", ""]
    if entry.get("not_measured"):
        return lines + [f"Not measured: {entry['not_measured']}"]
    return lines + [
        f"Test photos whose Grad-CAM peak (the int8 model's best class, at the photo's size) "
        f"falls inside the box where the sample's generator drew the shape, beside a map that "
        f"always peaks at the image's centre ({entry['photos']} photos played, "
        f"{entry['without_box']} without a box, {entry['skipped']} not decoded):",
        "",
        "| map | hits | share |",
        "| --- | --- | --- |",
        f"| int8 Grad-CAM | {entry['hits']} | {entry['share']:.2f} % |",
        f"| the image's centre | {entry['centre_hits']} | {entry['centre_share']:.2f} % |",
    ]


def _layer_errors(r: dict) -> list[str]:
    lines = []
    for name, layers in r.get("layer_errors", {}).items():
        lines += [
            "",
            f"## Per-layer int8 error, attempt {name} (quantization debugger)",
            "",
            "Each layer's own error, fed the same quantized input as the float op: noise-to-",
            "signal ratio (error power / output variance) and RMS error in quantization steps",
            "(0.29 is pure rounding). Worst first.",
            "",
            "| layer | op | NSR | RMSE / scale |",
            "| --- | --- | --- | --- |",
        ]
        for layer in layers[:_MAX_LAYERS_SHOWN]:
            lines.append(
                f"| `{_short(layer['tensor'])}` | {layer['op']} | {layer['nsr']:.5f} "
                f"| {layer['rmse_scale']:.3f} |"
            )
    return lines
