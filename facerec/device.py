"""Which device TensorFlow runs on, decided once; sensible CPU thread settings; which optional engines are installed."""
from __future__ import annotations

import functools
import logging
import os

log = logging.getLogger(__name__)


def quiet_tensorflow() -> None:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")  # mtcnn 1.0.0 needs the TF backend


@functools.lru_cache(maxsize=1)
def tensorflow_device() -> str:
    """'GPU:0' when TensorFlow sees a GPU, else 'CPU:0'. Logged once so users know which one is used."""
    quiet_tensorflow()
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    for gpu in gpus:
        try:  # share the GPU politely with other processes instead of grabbing all its memory
            tf.config.experimental.set_memory_growth(gpu, True)
        except RuntimeError:
            pass
    device = "GPU:0" if gpus else "CPU:0"
    log.info("TensorFlow device: %s (%d GPU(s) visible)", device, len(gpus))
    return device


def gpu_names() -> list[str]:
    quiet_tensorflow()
    import tensorflow as tf

    return [d.name for d in tf.config.list_physical_devices("GPU")]


def installed(*modules: str) -> bool:
    """Whether every one of `modules` can be imported (an optional extra is installed), without importing them."""
    import importlib.util

    return all(importlib.util.find_spec(m) is not None for m in modules)


DLIB_MODULES = ("dlib", "face_recognition_models")  # the `dlib` extra
ONNX_MODULES = ("onnx", "onnxruntime")  # the `onnx` extra
