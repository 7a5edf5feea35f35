"""Percentile activation ranges: clip the rare outliers that min/max calibration keeps.

    from convert.clipping import percentile_ranges
    by_percentile = percentile_ranges(calibrated, pixels, percentiles=(99.999, 99.99))
    int8 = quantize(set_ranges(calibrated, by_percentile[99.99]))

Min/max calibration sizes each int8 activation grid to the single largest value it saw.
VGG16 on raw caffe-scaled pixels has long-tailed ReLU outputs (block1 reaches ~2000 while
most values sit far lower), so one outlier can leave few of the 256 levels for the values
that carry the signal. The TFLite converter has no percentile option, so this runs the
calibrated float model with every tensor preserved, keeps each activation's largest values
across the calibration set (exactly, in bounded memory), and writes the percentile as that
tensor's upper range end.

Only non-negative (post-ReLU) activations are clipped. Signed tensors keep their full
range: the preprocessed input's range is known exactly, and the largest logit is the answer.
"""

from __future__ import annotations

import math

import numpy as np

from edge.quiet import progress_of
from train.tf_import import quiet_tensorflow
from train.tflite.quantize import recorded_ranges


class _Tail:
    """The k largest values seen so far (exact, in bounded memory)."""

    def __init__(self, k: int):
        self.k = max(1, k)
        self.values = np.empty(0, dtype=np.float32)

    def add(self, values: np.ndarray) -> None:
        if values.size > self.k:
            values = np.partition(values, values.size - self.k)[-self.k :]
        merged = np.concatenate([self.values, values])
        if merged.size > self.k:
            merged = np.partition(merged, merged.size - self.k)[-self.k :]
        self.values = merged

    def kth_largest(self, k: int) -> float:
        ordered = np.sort(self.values)[::-1]
        return float(ordered[min(max(k, 1), ordered.size) - 1])


def percentile_ranges(
    calibrated: bytes,
    pixels: np.ndarray,
    percentiles: tuple[float, ...] = (99.99,),
    progress: bool = True,
) -> dict[float, dict[int, tuple[float, float]]]:
    """{percentile: {tensor index: (0, high)}} for the post-ReLU activations of the model.

    One pass over `pixels` serves every percentile asked for. A range is only narrowed.
    """
    import tensorflow as tf

    recorded = recorded_ranges(calibrated)
    with quiet_tensorflow():
        interpreter = tf.lite.Interpreter(
            model_content=calibrated, experimental_preserve_all_tensors=True
        )
        interpreter.allocate_tensors()
    model_input = interpreter.get_input_details()[0]["index"]
    outputs = {d["index"] for d in interpreter.get_output_details()}
    candidates = [
        i
        for i, (_, low, _) in recorded.items()
        if low >= 0.0 and i != model_input and i not in outputs
    ]
    sizes = {i: int(np.prod(interpreter.get_tensor(i).shape)) * len(pixels) for i in candidates}
    widest = 1.0 - min(percentiles) / 100.0
    tails = {i: _Tail(math.ceil(widest * sizes[i]) + 1) for i in candidates}
    for image in progress_of(pixels, "activation tails", enabled=progress):
        interpreter.set_tensor(model_input, image[None].astype(np.float32))
        interpreter.invoke()
        for i in candidates:
            tails[i].add(interpreter.get_tensor(i).ravel())
    result = {}
    for percentile in percentiles:
        ranges = {}
        for i in candidates:
            high = tails[i].kth_largest(math.ceil((1.0 - percentile / 100.0) * sizes[i]) + 1)
            if 0.0 < high < recorded[i][2]:
                ranges[i] = (0.0, high)
        result[percentile] = ranges
    return result
