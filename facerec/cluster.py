"""Group the unknown faces `facerec tag` found, so a whole group can be named in one step.

Unknown detections (nobody recognised, nobody named yet) are clustered on their embeddings:

- DBSCAN (default) with the cosine metric. `eps` is the backbone's verification threshold
  (facerec.thresholds): two faces closer than the distance at which `verify` says "same person"
  are neighbours, and a cluster needs `min_samples` (2) such faces. Faces with no neighbour are
  noise: they keep cluster id -1 and are not listed.
- HDBSCAN (scikit-learn >= 1.3) finds clusters of varying density without a distance threshold;
  it may put two look-alikes together more readily, so check its contact sheets.

Cluster ids are 1, 2, ... by decreasing size (1 = the person seen most often), stored per detection in
the gallery (`detections.cluster_id`; -1 = noise, NULL = not clustered yet). `facerec clusters`
re-clusters automatically when `tag` has added unknown faces since the last clustering.

Memory: DBSCAN with the cosine metric computes neighbourhoods by brute force; up to some 20k
unknown faces that is a few seconds. Contact sheets read each media file once per sheet.
"""
from __future__ import annotations

import logging
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from facerec.thresholds import threshold_for
from facerec.vectors import l2_normalise

log = logging.getLogger(__name__)

NOISE = -1
METHODS = ("dbscan", "hdbscan")


@dataclass
class ClusterInfo:
    cluster_id: int
    faces: int
    photos: int
    examples: list[str]  # media paths, most faces first
    detection_ids: list[int] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"cluster": self.cluster_id, "faces": self.faces, "photos": self.photos, "examples": self.examples,
                "detections": self.detection_ids}


def cluster_embeddings(X: np.ndarray, eps: float, min_samples: int = 2, method: str = "dbscan") -> np.ndarray:
    """Cluster labels 1..k by decreasing cluster size, NOISE (-1) for faces in no cluster."""
    X = np.asarray(X, dtype=np.float32)
    if len(X) == 0:
        return np.zeros(0, dtype=int)
    if len(X) < min_samples:
        return np.full(len(X), NOISE, dtype=int)
    X = l2_normalise(X)
    if method == "dbscan":
        from sklearn.cluster import DBSCAN

        raw = DBSCAN(eps=eps, min_samples=min_samples, metric="cosine", algorithm="brute").fit_predict(X)
    elif method == "hdbscan":
        from sklearn.cluster import HDBSCAN

        # On unit vectors Euclidean distance orders pairs exactly as cosine distance does.
        raw = HDBSCAN(min_cluster_size=max(2, min_samples), min_samples=min_samples, copy=True).fit_predict(X)
    else:
        raise ValueError(f"unknown clustering method {method!r}; choose one of {', '.join(METHODS)}")
    return renumber_by_size(raw)


def renumber_by_size(raw: np.ndarray) -> np.ndarray:
    """Map scikit-learn's labels (0.., -1 noise) to 1.. by decreasing size, ties by first appearance."""
    raw = np.asarray(raw)
    labels = [int(v) for v in raw if v >= 0]
    order = sorted(set(labels), key=lambda c: (-labels.count(c), labels.index(c)))
    mapping = {old: new for new, old in enumerate(order, start=1)}
    return np.array([mapping.get(int(v), NOISE) for v in raw], dtype=int)


def recompute_clusters(gallery: Any, backbone: str, *, eps: float | None = None, min_samples: int = 2,
                       method: str = "dbscan") -> int:
    """Cluster every unknown detection for `backbone` and store the ids; returns the number of clusters."""
    ids, X = gallery.unknown_detections(backbone)
    labels = cluster_embeddings(X, eps if eps is not None else threshold_for(backbone), min_samples, method)
    gallery.set_clusters({int(i): int(c) for i, c in zip(ids, labels)})
    return len({int(c) for c in labels if c != NOISE})


def needs_clustering(gallery: Any, backbone: str) -> bool:
    """True when some unknown face has never been clustered (tag ran since the last clustering)."""
    ids, _ = gallery.unknown_detections(backbone)
    clustered = {d.id for dets in gallery.clusters(backbone).values() for d in dets}
    return any(i not in clustered for i in ids)


def list_clusters(gallery: Any, backbone: str, examples: int = 3) -> list[ClusterInfo]:
    """The stored clusters (noise left out), by id."""
    out = []
    for cluster_id, detections in sorted(gallery.clusters(backbone).items()):
        if cluster_id == NOISE:
            continue
        per_photo: dict[str, int] = {}
        for d in detections:
            per_photo[d.media_path] = per_photo.get(d.media_path, 0) + 1
        paths = sorted(per_photo, key=lambda p: (-per_photo[p], p))
        out.append(ClusterInfo(cluster_id, len(detections), len(per_photo), paths[:examples],
                               [d.id for d in detections]))
    return out


# --------------------------------------------------------------------------- contact sheets


def face_crop(image: np.ndarray, box: Sequence[int], size: int, margin: float = 0.25) -> np.ndarray:
    """A square crop around the box, with `margin` of context on each side, resized to size x size."""
    x, y, w, h = (float(v) for v in box)
    side = max(w, h) * (1 + 2 * margin)
    cx, cy = x + w / 2, y + h / 2
    x0, y0 = int(round(cx - side / 2)), int(round(cy - side / 2))
    x1, y1 = int(round(cx + side / 2)), int(round(cy + side / 2))
    ih, iw = image.shape[:2]
    pad = max(0, -x0, -y0, x1 - iw, y1 - ih)
    if pad:  # faces at the border: pad with grey rather than squash the crop
        image = cv2.copyMakeBorder(image, pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=(128, 128, 128))
        x0, y0, x1, y1 = x0 + pad, y0 + pad, x1 + pad, y1 + pad
    crop = image[y0:y1, x0:x1]
    return cv2.resize(crop, (size, size), interpolation=cv2.INTER_AREA if crop.shape[0] > size else cv2.INTER_LINEAR)


def placeholder_tile(size: int, text: str) -> np.ndarray:
    tile = np.full((size, size, 3), 200, dtype=np.uint8)
    cv2.putText(tile, text, (4, size // 2), cv2.FONT_HERSHEY_SIMPLEX, max(0.3, size / 300), (90, 90, 90), 1, cv2.LINE_AA)
    return tile


def contact_sheet(detections: Sequence[Any], title: str, *, tile: int = 112, columns: int = 6,
                  max_faces: int = 36) -> np.ndarray:
    """An RGB grid of face crops with a title bar. `detections` have .media_path and .face (a Face)."""
    from facerec.errors import ImageError
    from facerec.imageio import load_image

    shown = list(detections)[:max_faces]
    cache: dict[str, np.ndarray | None] = {}
    tiles = []
    for d in shown:
        if d.media_path not in cache:
            try:
                cache = {d.media_path: load_image(d.media_path)}  # keep one decoded photo at a time
            except ImageError as e:
                log.warning("contact sheet: %s", e)
                cache = {d.media_path: None}
        image = cache[d.media_path]
        tiles.append(placeholder_tile(tile, "missing") if image is None else face_crop(image, d.face.box, tile))
    return grid_with_title(tiles, title, tile, columns)


def grid_with_title(tiles: list[np.ndarray], title: str, tile: int, columns: int) -> np.ndarray:
    columns = max(1, min(columns, len(tiles) or 1))
    rows = max(1, math.ceil(len(tiles) / columns))
    gap, bar = 4, max(28, tile // 4)
    width = max(columns * (tile + gap) + gap, 260)
    sheet = np.full((bar + rows * (tile + gap) + gap, width, 3), 255, dtype=np.uint8)
    sheet[:bar] = (40, 40, 40)
    cv2.putText(sheet, title, (gap + 2, bar - 9), cv2.FONT_HERSHEY_SIMPLEX, 0.55, (255, 255, 255), 1, cv2.LINE_AA)
    for i, t in enumerate(tiles):
        r, c = divmod(i, columns)
        y, x = bar + gap + r * (tile + gap), gap + c * (tile + gap)
        sheet[y:y + tile, x:x + tile] = t
    return sheet


def write_contact_sheets(gallery: Any, backbone: str, out_dir: str | Path,
                         cluster_ids: Iterable[int] | None = None) -> dict[int, Path]:
    """One PNG per cluster, `cluster_<id>.png` in out_dir; returns {cluster id: path}."""
    from facerec.annotate import save_image

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    wanted = None if cluster_ids is None else set(cluster_ids)
    written = {}
    for cluster_id, detections in sorted(gallery.clusters(backbone).items()):
        if cluster_id == NOISE or (wanted is not None and cluster_id not in wanted):
            continue
        photos = len({d.media_path for d in detections})
        title = f"cluster {cluster_id}: {len(detections)} faces in {photos} photos"
        written[cluster_id] = save_image(out_dir / f"cluster_{cluster_id}.png", contact_sheet(detections, title))
    return written
