"""A backbone's embedding in a child process, so that album tagging keeps both cores busy.

Only for the `dlib` backbone on dlib's own engine (no `onnx` extra, or FACEREC_DLIB_ENGINE=dlib): ONNX Runtime,
the default engine, releases the GIL while it runs the network (and takes ~6 ms per face instead of ~84), so
there tagging embeds in its main thread while the worker threads decode and detect, with no second interpreter.

dlib's `compute_face_descriptor` holds Python's GIL for the whole batch (about 80 ms of CPU per face
here): while the main thread embeds, the decode/detect threads cannot run a line of Python, and a
pipeline of threads degenerates into one thing at a time. In a child process the embedding has its own
interpreter, and decoding + MTCNN in the parent overlap with it.

The child is `python -m facerec.album.embed_process BACKBONE [flip]` (not multiprocessing: spawning re-imports the
caller's __main__, which breaks scripts without a main guard). Chips go to its stdin and vectors come
back on its stdout as raw bytes (length, shape header, pixels / float32): no pickle, nothing on disk,
nothing on the network. One batch is in flight at a time; the caller collects it before sending the next.
"""
from __future__ import annotations

import logging
import os
import struct
import subprocess
import sys
from typing import Any, BinaryIO

import numpy as np

from facerec.paths import ENV_DLIB_ENGINE

log = logging.getLogger(__name__)

_LENGTH = struct.Struct("<Q")
_HEADER = struct.Struct("<4q")  # n, height, width, channels (chips) or n, dim, 0, 0 (vectors)
READY, ERROR = b"ready", b"error:"


def pack(array: np.ndarray) -> bytes:
    shape = tuple(array.shape) + (0,) * (4 - array.ndim)
    return _HEADER.pack(*shape) + np.ascontiguousarray(array).tobytes()


def unpack(data: bytes, dtype: Any, ndim: int) -> np.ndarray:
    shape = _HEADER.unpack_from(data)[:ndim]
    return np.frombuffer(data, dtype=dtype, offset=_HEADER.size).reshape(shape)


def send(stream: BinaryIO, payload: bytes) -> None:
    stream.write(_LENGTH.pack(len(payload)) + payload)
    stream.flush()


def receive(stream: BinaryIO) -> bytes | None:
    """One message, or None when the other side has closed the pipe."""
    head = stream.read(_LENGTH.size)
    if len(head) < _LENGTH.size:
        return None
    (length,) = _LENGTH.unpack(head)
    data = stream.read(length)
    return data if len(data) == length else None


def serve(backbone_name: str, source: BinaryIO, sink: BinaryIO, flip: bool = False) -> None:
    """Child side: embed every batch of chips received until the parent closes the pipe (with test-time
    flip when the parent's pipeline uses it, so the vectors are the ones FacePipeline.embed_chips makes)."""
    from facerec.backbones import get_backbone
    from facerec.device import quiet_tensorflow
    from facerec.recognition.pipeline import flip_averaged

    quiet_tensorflow()
    backbone = get_backbone(backbone_name)
    embed = (lambda chips: flip_averaged(backbone.embed, chips)) if flip else backbone.embed
    send(sink, READY)
    while (data := receive(source)) is not None:
        try:
            send(sink, pack(np.asarray(embed(unpack(data, np.uint8, 4)), dtype=np.float32)))
        except Exception as e:  # noqa: BLE001 - reported to the parent, which raises it there
            send(sink, ERROR + str(e).encode("utf-8", "replace"))


class EmbeddingProcess:
    """backbone.embed(chips) in a child process: submit(chips), then collect() -> (n, d) float32."""

    def __init__(self, backbone_name: str, flip: bool = False, dlib_engine: str | None = None):
        """dlib_engine: the engine of the parent's dlib backbone, so that the child runs the same one."""
        command = [sys.executable, "-m", "facerec.album.embed_process", backbone_name] + (["flip"] if flip else [])
        env = child_environment()
        if dlib_engine:
            env[ENV_DLIB_ENGINE] = dlib_engine
        self._process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env)
        self._in_flight = False
        self._ready = False  # the child loads the backbone while the parent decodes and detects

    def submit(self, chips: np.ndarray) -> None:
        if self._in_flight:
            raise RuntimeError("collect() the previous batch first")
        try:
            send(self._process.stdin, pack(np.asarray(chips, dtype=np.uint8)))
        except (BrokenPipeError, OSError) as e:
            raise RuntimeError("the embedding process ended unexpectedly") from e
        self._in_flight = True

    def collect(self) -> np.ndarray:
        if not self._ready:
            if self._receive() != READY:
                raise RuntimeError("the embedding process did not start")
            self._ready = True
        data = self._receive()
        self._in_flight = False
        if data.startswith(ERROR):
            raise RuntimeError(f"embedding failed: {data[len(ERROR):].decode('utf-8', 'replace')}")
        return unpack(data, np.float32, 2).copy()

    def _receive(self) -> bytes:
        data = receive(self._process.stdout)
        if data is None:
            raise RuntimeError("the embedding process ended unexpectedly")
        return data

    def close(self) -> None:
        try:
            self._process.stdin.close()  # the child's loop ends at end of input
        except OSError:
            pass
        try:
            self._process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        self._process.stdout.close()

    def __enter__(self) -> "EmbeddingProcess":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def child_environment() -> dict[str, str]:
    """The parent's environment, with this facerec importable in the child however the parent found it."""
    env = dict(os.environ)
    import facerec

    package_root = os.path.dirname(os.path.dirname(os.path.abspath(facerec.__file__)))
    env["PYTHONPATH"] = os.pathsep.join(p for p in (package_root, env.get("PYTHONPATH", "")) if p)
    return env


def holds_the_gil(pipeline: Any) -> bool:
    """Whether the pipeline embeds with dlib's own network (which blocks every other Python thread);
    the ONNX Runtime engine of the same backbone does not."""
    backbone = getattr(pipeline, "backbone", None)
    return (getattr(backbone, "name", "") == "dlib" and getattr(backbone, "engine", "dlib") == "dlib"
            and getattr(pipeline, "embedder", None) == backbone.embed)


def main(argv: list[str]) -> int:
    """Child entry point. Its stdout is the protocol: anything a library prints goes to stderr instead."""
    sink = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    serve(argv[0], sys.stdin.buffer, sink, flip=argv[1:2] == ["flip"])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
