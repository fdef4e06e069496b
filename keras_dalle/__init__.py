"""keras_dalle: text-to-image for TensorFlow/Keras.

Importing the package selects Keras's TensorFlow backend (unless KERAS_BACKEND is already set),
so users need not. Submodules are imported on use, which keeps the CLI quick to start.
"""

import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

__version__ = "0.1.0"
