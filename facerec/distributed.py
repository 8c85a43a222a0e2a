"""Tagging on many machines: the per-photo work as a pure, picklable function, plus a Ray driver.

`tag_photo(path, backbone_name)` reads, hashes, decodes, detects and embeds one photo and returns a
plain dict (strings, numbers, lists: picklable and JSON-serialisable). It builds its FacePipeline
lazily, once per worker process, so a cluster framework can ship the function by reference and
call it millions of times. Identification and the gallery stay on the driver: enrolled embeddings
are small, and one SQLite writer avoids locking trouble.

Ray (optional extra ``pip install 'facerec[distributed]'``)::

    from facerec.distributed import tag_with_ray, record_results
    results = tag_with_ray(paths, "dlib")                 # runs tag_photo as Ray tasks
    with Gallery(db) as g:
        rows = record_results(results, g, matcher_for_album(g, embedding_id("dlib")))

Spark: the same function in mapPartitions, so each executor process builds its pipeline once::

    from facerec.distributed import tag_photo
    rdd = spark.sparkContext.parallelize(paths, numSlices=len(paths) // 200 + 1)
    results = rdd.mapPartitions(lambda part: (tag_photo(p, "dlib") for p in part)).collect()
    # or write them out instead of collecting: rdd.map(json.dumps).saveAsTextFile(...)

Paths must be readable at the same location on every worker (a shared or network file system).
Each result carries `embedding` lists (128 floats for dlib, 2048 for resnet50): collect in
chunks, or write results to files, for very large albums.
"""
from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from facerec.errors import ImageError, MissingExtraError
from facerec.types import UNKNOWN, Face

_pipelines: dict[tuple[str, str, int], Any] = {}
_lock = threading.Lock()


def worker_pipeline(backbone_name: str, weights: str | None = None, min_face_size: int = 20) -> Any:
    """This process's FacePipeline for a backbone, built on first use and then reused."""
    key = (backbone_name, str(weights or ""), int(min_face_size))
    with _lock:
        if key not in _pipelines:
            from facerec.pipeline import FacePipeline

            _pipelines[key] = FacePipeline(backbone_name, weights=weights, min_face_size=min_face_size)
        return _pipelines[key]


def tag_photo(path: str, backbone_name: str = "dlib", weights: str | None = None, min_face_size: int = 20) -> dict:
    """Detect and embed the faces of one photo.

    Returns {"path", "sha256", "size", "mtime", "width", "height", "backbone", "status" ("ok", "no_face"
    or "unreadable"), "note", "faces": [{"face_index", "face": Face.to_dict(), "embedding": [floats]}]}.
    Never raises for a bad photo: the status says what happened.
    """
    from facerec.backbones import embedding_id
    from facerec.imageio import load_image

    result: dict[str, Any] = {"path": str(path), "sha256": None, "size": None, "mtime": None, "width": None,
                              "height": None, "backbone": embedding_id(backbone_name), "status": "unreadable", "note": "",
                              "faces": []}
    try:
        st = os.stat(path)
        with open(path, "rb") as f:
            data = f.read()
    except OSError as e:
        result["note"] = f"cannot read file: {e.strerror or e}"
        return result
    result.update(sha256=hashlib.sha256(data).hexdigest(), size=st.st_size, mtime=st.st_mtime)
    try:
        image = load_image(data)
    except ImageError as e:
        result["note"] = str(e).replace("<bytes>: ", "")
        return result
    result["height"], result["width"] = (int(v) for v in image.shape[:2])
    pipeline = worker_pipeline(backbone_name, weights, min_face_size)
    faces = pipeline.detect(image)
    vectors = pipeline.embed(image, faces)
    result["backbone"] = pipeline.embedding_id  # the gallery's key for these embeddings
    result["status"] = "ok" if faces else "no_face"
    result["note"] = "" if faces else "no face found"
    result["faces"] = [{"face_index": i, "face": f.to_dict(), "embedding": [float(x) for x in v]}
                       for i, (f, v) in enumerate(zip(faces, vectors))]
    return result


def record_results(results: Iterable[dict], gallery: Any, matcher: Any = None) -> list[dict]:
    """On the driver: identify the faces of `tag_photo` results and record them in the gallery.

    Returns one row per face: path, face_index, x, y, w, h, name, score (as `facerec tag --csv`,
    with absolute paths). `matcher` None = every face unknown.
    """
    version = gallery.version()
    rows = []
    for r in results:
        faces = [Face.from_dict(f["face"]) for f in r["faces"]]
        X = np.asarray([f["embedding"] for f in r["faces"]], dtype=np.float32)
        if len(faces) and matcher is not None:
            from facerec.match import one_name_per_photo

            identities = one_name_per_photo(matcher.predict_identities(X))
            names, scores = [i.name for i in identities], [float(i.score) for i in identities]
        else:
            names, scores = [UNKNOWN] * len(faces), [0.0] * len(faces)
        detections = [{"face_index": i, "face": f, "embedding": v, "predicted_name": n, "score": s}
                      for i, (f, v, n, s) in enumerate(zip(faces, X, names, scores))]
        gallery.record_media(os.path.abspath(r["path"]), r["sha256"], r["mtime"], r["size"], r["backbone"], version,
                             r["status"], r["note"], detections)
        for i, (f, n, s) in enumerate(zip(faces, names, scores)):
            x, y, w, h = f.box
            rows.append({"path": r["path"], "face_index": i, "x": x, "y": y, "w": w, "h": h, "name": n,
                         "score": round(s, 4)})
    return rows


def tag_with_ray(paths: Sequence[str], backbone_name: str = "dlib", *, weights: str | None = None,
                 min_face_size: int = 20, num_cpus: float = 1, max_in_flight: int | None = None,
                 address: str | None = None) -> list[dict]:
    """Run `tag_photo` over `paths` as Ray tasks; results in the order of `paths`.

    Starts (or joins, with `address`) a Ray cluster. At most `max_in_flight` tasks are queued at
    once (default: 4 x the cluster's CPUs), so the driver's memory stays bounded.
    """
    try:
        import ray
    except ImportError as e:
        raise MissingExtraError("tag_with_ray needs Ray: pip install 'facerec[distributed]'") from e
    if not ray.is_initialized():
        ray.init(address=address, ignore_reinit_error=True, log_to_driver=False)
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
