"""Keras -> TFLite, below both train/ and convert/: quantize (float, calibrate, int8) and
tf_private (the private TensorFlow APIs it needs, behind one door). train --search measures an
int8 copy's latency with it; convert/ builds its models and remedies on it."""
