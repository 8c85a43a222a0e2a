"""Tagging on many machines: the per-photo work as a pure, picklable function, plus a Ray driver.

`tag_photo(path, backbone_name)` reads, hashes, decodes, detects and embeds one photo and returns a
plain dict (strings, numbers, lists: picklable and JSON-serialisable). It builds its FacePipeline
lazily, once per worker process, so a cluster framework can ship the function by reference and
call it millions of times. Naming and the gallery stay on the driver: enrolled embeddings
are small, and one SQLite writer avoids locking trouble. The driver names faces with the Recognizer's
rule (`Recognizer.name_faces`), so they get the names, scores and distances `facerec identify` gives.

Ray (optional extra ``pip install 'facerec[ray]'``)::

    from facerec.album.distributed import tag_with_ray, record_results
    results = tag_with_ray(paths, "dlib")                 # runs tag_photo as Ray tasks
    with Gallery(db) as g:
        rows = record_results(results, g, Recognizer(db, "dlib"))  # facerec.recognition.recognizer

Spark: the same function in mapPartitions, so each executor process builds its pipeline once::

    from facerec.album.distributed import tag_photo
    rdd = spark.sparkContext.parallelize(paths, numSlices=len(paths) // 200 + 1)
    results = rdd.mapPartitions(lambda part: (tag_photo(p, "dlib") for p in part)).collect()
    # or write them out instead of collecting: rdd.map(json.dumps).saveAsTextFile(...)

Paths must be readable at the same location on every worker (a shared or network file system).
Each result carries `embedding` lists (128 floats for dlib, 2048 for resnet50): collect in
chunks, or write results to files, for very large albums.

From the command line, `facerec tag ALBUM --ray [ADDRESS]` runs the per-photo work (decode, detect,
embed: `analyse_photo`) as Ray tasks while the driver reads, hashes and decides what to skip, identifies
and records, exactly as a local run does (facerec.album.tag). `RayRunner` is that driver side: a bounded
number of tasks in flight, results as they finish, the cluster started on the first photo that needs
work (a re-run of an unchanged album never starts one).
"""
from __future__ import annotations

import hashlib
import logging
import os
import threading
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from facerec.backbones import DEFAULT_BACKBONE
from facerec.detectors import DEFAULT_DETECTOR
from facerec.vision.detect import DEFAULT_STAGE_THRESHOLDS
from facerec.errors import FacerecError, ImageError, MissingExtraError
from facerec.types import Face

log = logging.getLogger(__name__)

_pipelines: dict[Any, Any] = {}
_lock = threading.Lock()
RAY_INSTALL_HINT = "pip install 'facerec[ray]'"


@dataclass(frozen=True)
class WorkerSpec:
    """What a worker needs to build the driver's pipeline: backbone, weights and detector settings."""

    backbone: str = DEFAULT_BACKBONE
    weights: str | None = None  # a path readable on every worker, "random", or None (the backbone's default)
    min_face_size: int = 20
    max_side: int = 1280
    min_confidence: float = 0.9
    stage_thresholds: tuple[float, float, float] = DEFAULT_STAGE_THRESHOLDS
    engine: str = "auto"
    flip: bool | None = None  # test-time flip; None: the backbone's default
    detector: str = DEFAULT_DETECTOR  # a registered detector; the MTCNN fields above apply to MTCNN only

    @classmethod
    def of(cls, pipeline: Any) -> "WorkerSpec":
        """The spec of a FacePipeline, so that workers detect and embed exactly as it does."""
        embedder = getattr(pipeline, "embedder", None)
        if embedder is not None and embedder != pipeline.backbone.embed:
            raise FacerecError("a pipeline with its own embedder (a fine-tuned head) cannot run on Ray workers")
        from facerec.backbones import entry

        weights = None
        if entry(pipeline.backbone.name).weights_file:  # a weights file, or "random"; dlib's come with its wheel
            path = getattr(pipeline.backbone, "weights_path", None)
            weights = str(path) if path else "random"
        d = pipeline.detector
        from facerec.detectors import detector_name

        name = detector_name(d)
        if name != DEFAULT_DETECTOR:
            return cls(pipeline.backbone.name, weights, d.min_face_size, d.max_side, flip=getattr(pipeline, "flip", None),
                       detector=name)
        return cls(pipeline.backbone.name, weights, d.min_face_size, d.max_side, d.min_confidence,
                   tuple(d.stage_thresholds), d.engine, getattr(pipeline, "flip", None))

    def build(self) -> Any:
        from facerec.detectors import get_detector
        from facerec.recognition.pipeline import build_pipeline

        options: dict[str, Any] = {"min_face_size": self.min_face_size, "max_side": self.max_side}
        if self.detector == DEFAULT_DETECTOR:
            options.update(min_confidence=self.min_confidence, stage_thresholds=self.stage_thresholds,
                           engine=self.engine)
        detector = get_detector(self.detector, **options)
        return build_pipeline(self.backbone, weights=self.weights, detector=detector, flip=self.flip)


def worker_pipeline(spec: WorkerSpec) -> Any:
    """This process's FacePipeline for `spec`, built on first use and then reused."""
    with _lock:
        if spec not in _pipelines:
            _pipelines[spec] = spec.build()
        return _pipelines[spec]


def analyse_photo(data: bytes, spec: WorkerSpec, suffix: str = "") -> dict:
    """Decode, detect and embed one photo's bytes on a worker, as a local `facerec tag` run does.

    Returns {"status" ("ok", "no_face" or "unreadable"), "note", "width", "height", "faces": [{"box",
    "confidence", "landmarks"} at full precision], "embeddings": (n, d) float32}. A photo that cannot be
    decoded, or whose detection fails, is a status, not an exception (one odd photo never ends a run).
    """
    from facerec.vision.imageio import open_photo

    result: dict[str, Any] = {"status": "unreadable", "note": "", "width": None, "height": None, "faces": [],
                              "embeddings": np.zeros((0, 0), np.float32)}
    pipeline = worker_pipeline(spec)
    try:
        photo = open_photo(data, suffix=suffix)
        result["width"], result["height"] = (int(v) for v in photo.size)
        faces, chips = pipeline.detect_photo(photo)
        vectors = pipeline.embed_chips(chips)
    except ImageError as e:
        result["note"] = str(e).replace("<bytes>: ", "")
        return result
    except Exception as e:  # noqa: BLE001 - as prepare_photo: the photo is recorded as failed
        log.warning("detection failed", exc_info=True)
        result["note"] = f"detection failed: {e}"
        return result
    result.update(status="ok" if faces else "no_face", note="" if faces else "no face found",
                  embeddings=np.asarray(vectors, dtype=np.float32))
    result["faces"] = [{"box": [int(v) for v in f.box], "confidence": float(f.confidence),
                        "landmarks": [[float(x), float(y)] for x, y in f.landmarks]} for f in faces]
    return result


def faces_of(result: dict) -> list[Face]:
    """The Face objects of an `analyse_photo` result."""
    return [Face(tuple(f["box"]), f["confidence"], tuple((x, y) for x, y in f["landmarks"])) for f in result["faces"]]


def tag_photo(path: str, backbone_name: str = DEFAULT_BACKBONE, weights: str | None = None,
              min_face_size: int = 20) -> dict:
    """Detect and embed the faces of one photo.

    Returns {"path", "sha256", "size", "mtime", "width", "height", "backbone" (the embedding id: the gallery's key
    for these embeddings), "status" ("ok", "no_face" or "unreadable"), "note", "faces": [{"face_index",
    "face": Face.to_dict(), "embedding": [floats]}]}. Never raises for a bad photo: the status says what happened.
    """
    spec = WorkerSpec(backbone_name, None if weights is None else str(weights), int(min_face_size))
    result: dict[str, Any] = {"path": str(path), "sha256": None, "size": None, "mtime": None, "width": None,
                              "height": None, "backbone": worker_pipeline(spec).embedding_id, "status": "unreadable",
                              "note": "", "faces": []}
    try:
        st = os.stat(path)
        with open(path, "rb") as f:
            data = f.read()
    except OSError as e:
        result["note"] = f"cannot read file: {e.strerror or e}"
        return result
    result.update(sha256=hashlib.sha256(data).hexdigest(), size=st.st_size, mtime=st.st_mtime)
    analysed = analyse_photo(data, spec, Path(path).suffix)
    result.update(status=analysed["status"], note=analysed["note"], width=analysed["width"],
                  height=analysed["height"])
    result["faces"] = [{"face_index": i, "face": f.to_dict(), "embedding": [float(x) for x in v]}
                       for i, (f, v) in enumerate(zip(faces_of(analysed), analysed["embeddings"]))]
    return result


def record_results(results: Iterable[dict], gallery: Any, recognizer: Any) -> list[dict]:
    """On the driver: name the faces of `tag_photo` results and record them in the gallery.

    `recognizer` (facerec.recognition.recognizer.Recognizer, for the results' embeddings) names them by the rule
    `facerec identify` and `facerec tag` follow. Returns FaceResult.to_dict() per face (as `facerec tag --jsonl`,
    with the paths given).
    """
    from facerec.album.photos import decision_key
    from facerec.album.tagger import detections

    version = gallery.version()
    decision = decision_key(recognizer.matcher_for_stored_embeddings(gallery))
    rows = []
    for r in results:
        if r["backbone"] != recognizer.embedding_id:  # a gallery never mixes embeddings of two recipes
            raise FacerecError(f"{r['path']}: embedded as {r['backbone']}, but the recognizer names "
                               f"{recognizer.embedding_id} embeddings")
        faces = [Face.from_dict(f["face"]) for f in r["faces"]]
        X = np.asarray([f["embedding"] for f in r["faces"]], dtype=np.float32)
        named = recognizer.name_faces(faces, X, r["path"], gallery)
        gallery.record_media(os.path.abspath(r["path"]), r["sha256"], r["mtime"], r["size"], r["backbone"], version,
                             r["status"], r["note"], detections(named, X), decision=decision)
        rows.extend(f.to_dict() for f in named)
    return rows


# --------------------------------------------------------------------------- Ray


def import_ray() -> Any:
    try:
        import ray
    except ImportError as e:
        raise MissingExtraError(f"--ray needs Ray, which is not installed: {RAY_INSTALL_HINT}") from e
    return ray


def start_ray(ray: Any, address: str | None = None, num_cpus: int | None = None) -> bool:
    """Join the cluster at `address`, or start a local one (bound to 127.0.0.1, no dashboard) when None.

    Returns True when this call connected (the caller then shuts it down), False when Ray was already up.
    Raises MissingExtraError (exit 4) when the cluster cannot be started or reached.
    """
    if ray.is_initialized():
        return False
    where = f"the Ray cluster at {address}" if address else "a local Ray cluster"
    options: dict[str, Any] = {"log_to_driver": False, "logging_level": logging.WARNING}
    if address:
        options["address"] = address
    else:  # a private cluster on this machine: nothing listens beyond localhost
        options.update(address="local", include_dashboard=False, _node_ip_address="127.0.0.1")
        if num_cpus:
            options["num_cpus"] = int(num_cpus)
    unreachable = address and unreachable_reason(address)
    if unreachable:  # Ray itself retries an unreachable address for minutes
        raise MissingExtraError(f"cannot join {where}: {unreachable}")
    try:
        ray.init(**options)
    except Exception as e:  # noqa: BLE001 - Ray raises ConnectionError, RuntimeError, ValueError, TimeoutError...
        raise MissingExtraError(f"cannot start or join {where}: {e}") from e
    return True


def unreachable_reason(address: str, timeout: float = 5.0) -> str | None:
    """Why nothing answers at a "host:port" / "ray://host:port" address, or None (also for "auto")."""
    import socket

    host, sep, port = address.removeprefix("ray://").rpartition(":")
    if not sep or not port.isdigit():
        return None  # "auto", or a form Ray resolves itself
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=timeout):
            return None
    except OSError as e:
        return f"nothing answers at {host}:{port} ({e.strerror or e})"


class RayRunner:
    """The driver side of a Ray tag run: `analyse_photo` tasks, at most `limit` in flight.

    submit(item, data) queues a photo; `finished()` yields (item, result) as tasks end. The cluster is
    started on the first submit, so a run with nothing to analyse never starts one. close() cancels
    what is still queued and shuts down a cluster this runner started.
    """

    def __init__(self, spec: WorkerSpec, address: str | None = None, num_cpus: int | None = None,
                 max_in_flight: int | None = None):
        self.ray = import_ray()
        self.spec, self.address, self.num_cpus = spec, address, num_cpus
        self.max_in_flight = max_in_flight
        self.pending: dict[Any, Any] = {}
        self.started = False
        self.remote: Any = None
        self.limit = 1

    def connect(self) -> None:
        self.started = start_ray(self.ray, self.address, self.num_cpus)
        self.remote = self.ray.remote(num_cpus=1)(analyse_photo)
        cpus = int(self.ray.cluster_resources().get("CPU", 1))
        self.limit = self.max_in_flight or max(2, 2 * cpus)  # every worker busy, one more each queued

    def full(self) -> bool:
        return self.remote is not None and len(self.pending) >= self.limit

    def submit(self, item: Any, data: bytes) -> None:
        if self.remote is None:
            self.connect()
        suffix = Path(getattr(item, "path", "")).suffix  # tells a RAW file from a TIFF
        self.pending[self.remote.remote(data, self.spec, suffix)] = item

    def finished(self, block: bool = True) -> Iterator[tuple[Any, dict]]:
        """(item, result) of the tasks that have ended: at least one when `block`, else those ready now."""
        if not self.pending:
            return
        ready, _ = self.ray.wait(list(self.pending), num_returns=1, timeout=None if block else 0)
        for ref in ready:
            item = self.pending.pop(ref)
            try:
                result = self.ray.get(ref)
            except self.ray.exceptions.RayError as e:  # a worker died or could not build the pipeline
                raise FacerecError(f"{getattr(item, 'path', item)}: the Ray task failed: {first_line(e)}") from e
            yield item, result

    def close(self) -> None:
        for ref in self.pending:
            self.ray.cancel(ref)
        self.pending.clear()
        if self.started:
            self.ray.shutdown()
            self.started = False


def first_line(error: BaseException) -> str:
    cause = getattr(error, "cause", None) or error  # RayTaskError wraps the worker's exception
    lines = [line for line in str(cause).splitlines() if line.strip()]
    return lines[-1] if lines else type(cause).__name__


def tag_with_ray(paths: Sequence[str], backbone_name: str = DEFAULT_BACKBONE, *, weights: str | None = None,
                 min_face_size: int = 20, num_cpus: float = 1, max_in_flight: int | None = None,
                 address: str | None = None) -> list[dict]:
    """Run `tag_photo` over `paths` as Ray tasks; results in the order of `paths`.

    Starts (or joins, with `address`) a Ray cluster. At most `max_in_flight` tasks are queued at
    once (default: 4 x the cluster's CPUs), so the driver's memory stays bounded.
    """
    ray = import_ray()
    start_ray(ray, address)
    remote = ray.remote(num_cpus=num_cpus)(tag_photo)
    limit = max_in_flight or max(1, int(4 * ray.cluster_resources().get("CPU", 1)))
    results: dict[int, dict] = {}
    pending: dict[Any, int] = {}
    for index, path in enumerate(paths):
        if len(pending) >= limit:
            collect_ready(ray, pending, results)
        pending[remote.remote(str(path), backbone_name, weights, min_face_size)] = index
    while pending:
        collect_ready(ray, pending, results)
    return [results[i] for i in range(len(paths))]


def collect_ready(ray: Any, pending: dict[Any, int], results: dict[int, dict]) -> None:
    ready, _ = ray.wait(list(pending), num_returns=1)
    for ref in ready:
        results[pending.pop(ref)] = ray.get(ref)
