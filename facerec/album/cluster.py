"""Group the unknown faces `facerec tag` found, so a whole group can be named in one step.

Unknown detections (nobody recognised, nobody named yet) are clustered on their embeddings. Two faces
of one photo are never put in one group (a person is in a photo once), and a group needs `min_samples`
(2) faces; faces in no group are noise (cluster id -1, not listed). Methods:

- agglomerative (default): average linkage on cosine distances, cut at the backbone's cluster
  threshold (facerec.thresholds). Groups merge only when their faces are close *on average*, so a
  single look-alike pair cannot chain two people together.
- chinese-whispers: dlib's graph clustering over links closer than the threshold.
- dbscan: single-link density clustering; it chains (one group of many people on real albums).
- hdbscan: varying density, no threshold.

The default and its threshold were chosen by pairwise precision/recall on labelled faces
(`scripts/evaluate_clustering.py`; the README's Evaluation section has the figures).

Group ids are stable (facerec.gallery.groups): a group keeps its id while its faces stay the same, a changed
group gets a new id, and no id is ever reused; a new gallery's first groups are 1, 2, ... by decreasing size.
Stored per detection in the gallery (`detections.cluster_id`; -1 = noise, NULL = not clustered yet). `facerec clusters`
re-clusters automatically when `tag` has added unknown faces since the last clustering.

Memory: every method works on the full n x n distance matrix (4 n^2 bytes: 1.6 GB at 20k unknown
faces); agglomerative clustering is O(n^2) time as well. Contact sheets read each media file once per sheet.
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

from facerec.gallery.decisions import cannot_link
from facerec.gallery.groups import apply_cannot_link, store_groups
from facerec.vision.align import face_crop
from facerec.thresholds import threshold_for
from facerec.vectors import l2_normalise

log = logging.getLogger(__name__)

NOISE = -1
METHODS = ("agglomerative", "chinese-whispers", "dbscan", "hdbscan")
DEFAULT_METHOD = "agglomerative"
CANNOT_LINK_DISTANCE = 2.0  # the largest cosine distance: two faces of one photo are never one person


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


def cluster_embeddings(X: np.ndarray, eps: float, min_samples: int = 2, method: str = DEFAULT_METHOD,
                       groups: Sequence[Any] | None = None, seed: int = 0) -> np.ndarray:
    """Cluster labels 1..k by decreasing cluster size, NOISE (-1) for faces in no cluster.

    eps: the cosine distance under which two faces may be one person. groups: the photo of each face;
    two faces of one photo never end up in one cluster. Clusters smaller than min_samples are noise."""
    X = np.asarray(X, dtype=np.float32)
    if len(X) == 0:
        return np.zeros(0, dtype=int)
    if len(X) < min_samples:
        return np.full(len(X), NOISE, dtype=int)
    X = l2_normalise(X)
    if method == "agglomerative":
        raw = _average_linkage(X, eps)
    elif method == "chinese-whispers":
        raw = chinese_whispers(X, eps, groups, seed=seed)
    elif method == "dbscan":
        from sklearn.cluster import DBSCAN

        raw = DBSCAN(eps=eps, min_samples=min_samples, metric="precomputed").fit_predict(_distances(X, groups))
    elif method == "hdbscan":
        from sklearn.cluster import HDBSCAN

        raw = HDBSCAN(min_cluster_size=max(2, min_samples), min_samples=min_samples, metric="precomputed",
                      copy=True).fit_predict(_distances(X, None).astype(np.float64))
    else:
        raise ValueError(f"unknown clustering method {method!r}; choose one of {', '.join(METHODS)}")
    if groups is not None:
        raw = split_same_photo(raw, X, groups)
    raw = _drop_small(raw, min_samples)
    return renumber_by_size(raw)


def _distances(X: np.ndarray, groups: Sequence[Any] | None) -> np.ndarray:
    """Cosine distances, with every pair of faces from one photo pushed to the maximum."""
    D = np.clip(1.0 - X @ X.T, 0.0, 2.0).astype(np.float32)
    np.fill_diagonal(D, 0.0)
    if groups is not None:
        g = np.asarray(groups)
        same_photo = g[:, None] == g[None, :]
        np.fill_diagonal(same_photo, False)
        D[same_photo] = CANNOT_LINK_DISTANCE
    return D


def _average_linkage(X: np.ndarray, eps: float) -> np.ndarray:
    """Average-linkage agglomerative clustering cut at eps: two groups merge only when their faces are, on
    average, closer than eps, so one look-alike pair cannot chain two people together (as single links do)."""
    from sklearn.cluster import AgglomerativeClustering

    if len(X) < 2:
        return np.zeros(len(X), dtype=int)
    model = AgglomerativeClustering(n_clusters=None, metric="precomputed", linkage="average", distance_threshold=eps)
    # No cannot-link distances here: averaged in, they would split one person's group in two around the pair;
    # split_same_photo resolves such pairs afterwards instead.
    return model.fit_predict(_distances(X, None))


def chinese_whispers(X: np.ndarray, eps: float, groups: Sequence[Any] | None = None, iterations: int = 20,
                     seed: int = 0) -> np.ndarray:
    """dlib's graph clustering: faces closer than eps are linked, each face repeatedly takes the label with
    the most link weight among its neighbours (visited in random order), until labels settle."""
    D = _distances(X, groups)
    adjacency = (D < eps) & ~np.eye(len(X), dtype=bool)
    weights = np.where(adjacency, 1.0 - D, 0.0)
    labels = np.arange(len(X))
    rng = np.random.default_rng(seed)
    neighbours = [np.flatnonzero(row) for row in adjacency]
    for _ in range(iterations):
        changed = False
        for i in rng.permutation(len(X)):
            if len(neighbours[i]) == 0:
                continue
            votes: dict[int, float] = {}
            for j in neighbours[i]:
                votes[int(labels[j])] = votes.get(int(labels[j]), 0.0) + float(weights[i, j])
            best = max(votes, key=lambda c: (votes[c], -c))
            if best != labels[i]:
                labels[i], changed = best, True
        if not changed:
            break
    return labels


def split_same_photo(raw: np.ndarray, X: np.ndarray, groups: Sequence[Any]) -> np.ndarray:
    """Where a cluster holds several faces of one photo, keep the one closest to the cluster's centre and
    make the others noise: a person appears in a photo once."""
    raw = np.array(raw, copy=True)
    g = np.asarray(groups)
    for label in set(int(v) for v in raw if v >= 0):
        members = np.flatnonzero(raw == label)
        centre = l2_normalise(X[members].mean(axis=0))[0]
        by_photo: dict[Any, list[int]] = {}
        for m in members:
            by_photo.setdefault(g[m], []).append(int(m))
        for faces in by_photo.values():
            if len(faces) > 1:
                keep = max(faces, key=lambda m: float(X[m] @ centre))
                for m in faces:
                    if m != keep:
                        raw[m] = NOISE
    return raw


def _drop_small(raw: np.ndarray, min_samples: int) -> np.ndarray:
    raw = np.array(raw, copy=True)
    labels, counts = np.unique(raw[raw >= 0], return_counts=True)
    for label, count in zip(labels, counts):
        if count < min_samples:
            raw[raw == label] = NOISE
    return raw


def renumber_by_size(raw: np.ndarray) -> np.ndarray:
    """Map scikit-learn's labels (0.., -1 noise) to 1.. by decreasing size, ties by first appearance."""
    raw = np.asarray(raw)
    labels = [int(v) for v in raw if v >= 0]
    order = sorted(set(labels), key=lambda c: (-labels.count(c), labels.index(c)))
    mapping = {old: new for new, old in enumerate(order, start=1)}
    return np.array([mapping.get(int(v), NOISE) for v in raw], dtype=int)


def pairwise_precision_recall(labels: Sequence[int], truth: Sequence[Any]) -> dict[str, float]:
    """Pairwise clustering quality: precision = share of same-cluster pairs that are one person, recall =
    share of same-person pairs put in one cluster (noise faces are in no cluster)."""
    labels = np.asarray(labels)
    truth = np.asarray(truth)
    i, j = np.triu_indices(len(labels), k=1)
    clustered = (labels[i] == labels[j]) & (labels[i] != NOISE)
    same = truth[i] == truth[j]
    together, true_pairs = int(clustered.sum()), int(same.sum())
    correct = int((clustered & same).sum())
    return {
        "precision": correct / together if together else float("nan"),
        "recall": correct / true_pairs if true_pairs else float("nan"),
        "clusters": len({int(v) for v in labels if v != NOISE}),
        "noise": int(np.sum(labels == NOISE)),
    }


def recompute_clusters(gallery: Any, embedding: str, *, eps: float | None = None, min_samples: int = 2,
                       method: str = DEFAULT_METHOD) -> int:
    """Cluster every unknown detection for `embedding` (an embedding id) and store the groups; returns the
    number of clusters. Faces dropped from a group stay apart from its faces; group ids are stable
    (facerec.gallery.groups)."""
    ids, X = gallery.unknown_detections(embedding)
    groups = gallery.unknown_detection_media(embedding)
    eps = eps if eps is not None else threshold_for(embedding, "cluster")
    labels = cluster_embeddings(X, eps, min_samples, method, groups=groups)
    labels = _drop_small(np.array(apply_cannot_link(ids, labels, cannot_link(gallery)), dtype=int), min_samples)
    store_groups(gallery, embedding, {int(i): int(c) for i, c in zip(ids, labels)})  # stable ids, never reused
    return len({int(c) for c in labels if c != NOISE})


def needs_clustering(gallery: Any, embedding: str) -> bool:
    """True when some unknown face has never been clustered (tag ran since the last clustering)."""
    ids, _ = gallery.unknown_detections(embedding)
    clustered = {d.id for dets in gallery.clusters(embedding).values() for d in dets}
    return any(i not in clustered for i in ids)


def list_clusters(gallery: Any, embedding: str, examples: int = 3) -> list[ClusterInfo]:
    """The stored clusters (noise left out), largest first (ties by id)."""
    out = []
    stored = gallery.clusters(embedding)
    for cluster_id, detections in sorted(stored.items(), key=lambda kv: (-len(kv[1]), kv[0])):
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


def placeholder_tile(size: int, text: str) -> np.ndarray:
    tile = np.full((size, size, 3), 200, dtype=np.uint8)
    cv2.putText(tile, text, (4, size // 2), cv2.FONT_HERSHEY_SIMPLEX, max(0.3, size / 300), (90, 90, 90), 1, cv2.LINE_AA)
    return tile


def contact_sheet(detections: Sequence[Any], title: str, *, tile: int = 112, columns: int = 6,
                  max_faces: int = 36) -> np.ndarray:
    """An RGB grid of face crops with a title bar. `detections` have .media_path and .face (a Face)."""
    from facerec.errors import ImageError
    from facerec.vision.imageio import load_image

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


def write_contact_sheets(gallery: Any, embedding: str, out_dir: str | Path,
                         cluster_ids: Iterable[int] | None = None) -> dict[int, Path]:
    """One PNG per cluster, `cluster_<id>.png` in out_dir; returns {cluster id: path}."""
    from facerec.album.annotate import save_image

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    wanted = None if cluster_ids is None else set(cluster_ids)
    written = {}
    for cluster_id, detections in sorted(gallery.clusters(embedding).items()):
        if cluster_id == NOISE or (wanted is not None and cluster_id not in wanted):
            continue
        photos = len({d.media_path for d in detections})
        title = f"cluster {cluster_id}: {len(detections)} faces in {photos} photos"
        written[cluster_id] = save_image(out_dir / f"cluster_{cluster_id}.png", contact_sheet(detections, title))
    return written
