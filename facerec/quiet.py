"""Keep TensorFlow's start-up log lines off the terminal.

TensorFlow 2.21 logs through absl from C++ while it is imported ("All log messages before
absl::InitializeLog() ...", "oneDNN custom operations are on ...", CPU-feature and CUDA-factory notes),
straight to file descriptor 2: TF_CPP_MIN_LOG_LEVEL silences only some of them, and Python's logging
none. So the first `import tensorflow` -- wherever it happens (keras, mtcnn, our own modules) -- runs
with descriptor 2 captured, and what it wrote goes back to stderr without those lines. Anything else
(a Python warning, an error) is still shown. `facerec -vv` shows everything.
"""
from __future__ import annotations

import contextlib
import importlib.abc
import importlib.util
import logging
import os
import re
import sys
import tempfile
from typing import Callable, Iterator

# absl's C++ prefix: I1124 21:30:00.123456   1234 port.cc:153] (the date is 0000 before absl is initialised)
_ABSL_LINE = re.compile(r"^[IW]\d{4} [\d:.]+\s+\d+ [\w./-]+:\d+\] ")
_NOISE = (
    re.compile(r"^WARNING: All log messages before absl::InitializeLog\(\) is called are written to STDERR"),
    _ABSL_LINE,
    re.compile(r"^To enable the following instructions: .* rebuild TensorFlow with the appropriate compiler flags"),
    re.compile(r"^E\d{4} .*Unable to register cu(DNN|FFT|BLAS) factory"),
)
_LOGGERS = ("absl", "tensorflow", "h5py")  # Python loggers TensorFlow and Keras chat on


def is_startup_noise(line: str) -> bool:
    return any(p.search(line) for p in _NOISE)


@contextlib.contextmanager
def filtered_stderr(keep: Callable[[str], bool]) -> Iterator[None]:
    """Capture file descriptor 2 (C++ and Python writes alike) and write back only the lines `keep` accepts."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as capture:
        os.dup2(capture.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            capture.seek(0)
            kept = [line for line in capture.read().decode("utf-8", "replace").splitlines(keepends=True) if keep(line)]
            if kept:
                sys.stderr.write("".join(kept))
                sys.stderr.flush()


class _QuietTensorFlowImport(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """A one-shot import hook: the first import of the `tensorflow` package runs inside filtered_stderr."""

    def find_spec(self, fullname, path, target=None):
        if fullname != "tensorflow":
            return None
        uninstall()  # once is enough: the lines come from the first import
        spec = importlib.util.find_spec(fullname)
        if spec is None or spec.loader is None:
            return None
        self._loader = spec.loader
        spec.loader = self
        return spec

    def create_module(self, spec):
        return self._loader.create_module(spec)

    def exec_module(self, module) -> None:
        module.__spec__.loader = module.__loader__ = self._loader  # the module keeps its real loader
        with filtered_stderr(lambda line: not is_startup_noise(line)):
            self._loader.exec_module(module)


_hook = _QuietTensorFlowImport()
_LEVEL_VARIABLE = "TF_CPP_MIN_LOG_LEVEL"
_we_set_the_level = False


def hide_tensorflow_startup_lines() -> None:
    """From now on, TensorFlow's import prints none of its start-up lines (a no-op once it is imported)."""
    global _we_set_the_level
    if _LEVEL_VARIABLE not in os.environ:  # the later C++ chatter honours this one; a user's own value wins
        os.environ[_LEVEL_VARIABLE] = "3"
        _we_set_the_level = True
    for name in _LOGGERS:
        logging.getLogger(name).setLevel(logging.ERROR)
    if "tensorflow" not in sys.modules and _hook not in sys.meta_path:
        sys.meta_path.insert(0, _hook)


def uninstall() -> None:
    if _hook in sys.meta_path:
        sys.meta_path.remove(_hook)


def show_tensorflow_log() -> None:
    """Let TensorFlow print what it likes (facerec -vv)."""
    global _we_set_the_level
    uninstall()
    for name in _LOGGERS:
        logging.getLogger(name).setLevel(logging.NOTSET)
    if _we_set_the_level or _LEVEL_VARIABLE not in os.environ:
        os.environ[_LEVEL_VARIABLE] = "0"
        _we_set_the_level = False
