"""Device side of the edge classifier: image I/O, the TFLite runner and the camera loop.

Nothing in this package imports TensorFlow: it is what runs on the Raspberry Pi, and
train/ and convert/ import it so that the device and the evaluation run the same code.

    python -m edge.classify --model models/sample photo.jpg
    python -m edge.camera --model models/sample --source 0
"""

__version__ = "0.1.0"
