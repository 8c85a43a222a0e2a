"""How well does recognition work on *your* photos? Identification, verification and calibration metrics.

Three evaluations, all on cosine distances between L2-normalised embeddings (0 = identical, 2 = opposite;
"same person" means distance <= threshold, as everywhere in facerec):

1. Labelled folder (`<root>/<Name>/*.jpg`): enroll k photos per person in memory, identify the rest with a
   matcher (nn / svm / logreg / head), and report top-1 accuracy on enrolled people, the open-set
   false-accept rate on people who were *not* enrolled, and a confusion matrix.
2. LFW-style `pairs.txt`: 10-fold cross-validated verification accuracy (threshold picked on 9 folds,
   tested on the 10th), ROC AUC, TAR at FAR = 1e-3 / 1e-2, and the best threshold.
3. `calibrate(gallery, backbone, target_far)`: the threshold that keeps false accepts on the gallery's
   impostor pairs at or below a target rate.

The metric functions at the top are pure numpy so they can be checked on synthetic distances.
"""
from __future__ import annotations

import logging
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

import numpy as np

from facerec.vectors import cosine_distance_matrix, l2_normalise
from facerec.errors import FacerecError, GalleryError, ImageError, NoFaceError
from facerec.recognition import match
from facerec.types import UNKNOWN

log = logging.getLogger(__name__)

# A pair whose image had no detectable face gets the largest possible cosine distance, so it counts
# as a failure ("different") instead of silently disappearing from the statistics.
FAILED_PAIR_DISTANCE = 2.0
DEFAULT_FARS = (1e-3, 1e-2)
MATCHERS = match.MATCHER_KINDS


# --------------------------------------------------------------------------------------------------
# Distances and metrics (pure numpy)
# --------------------------------------------------------------------------------------------------


def cosine_distance_rows(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise cosine distance between two (n, d) arrays (rows are normalised here, to be safe)."""
    return np.clip(1.0 - np.sum(l2_normalise(a, np.float64) * l2_normalise(b, np.float64), axis=1), 0.0, 2.0)


def _split_scores(distances: np.ndarray, same: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    distances = np.asarray(distances, dtype=np.float64)
    same = np.asarray(same, dtype=bool)
    if distances.shape != same.shape:
        raise ValueError("distances and same must have the same shape")
    return distances[same], distances[~same]


def accuracy_at(distances: np.ndarray, same: np.ndarray, threshold: float) -> float:
    """Fraction of pairs decided correctly when 'same' means distance <= threshold."""
    distances = np.asarray(distances, dtype=np.float64)
    same = np.asarray(same, dtype=bool)
    if len(distances) == 0:
        return float("nan")
    return float(np.mean((distances <= threshold) == same))


def best_threshold(distances: np.ndarray, same: np.ndarray) -> tuple[float, float]:
    """(threshold, accuracy) maximising verification accuracy on these pairs.

    Candidates are the midpoints between consecutive distinct distances (and points just outside
    the range), so the threshold never sits exactly on a sample. Ties go to the smaller threshold.
    """
    distances = np.asarray(distances, dtype=np.float64)
    same = np.asarray(same, dtype=bool)
    if len(distances) == 0:
        raise ValueError("no pairs")
    values = np.unique(distances)
    candidates = np.concatenate([[values[0] - 1e-6], (values[:-1] + values[1:]) / 2, [values[-1] + 1e-6]])
    # Accuracy for every candidate at once: #genuine <= t plus #impostors > t.
    genuine = np.sort(distances[same])
    impostor = np.sort(distances[~same])
    accepted_genuine = np.searchsorted(genuine, candidates, side="right")
    rejected_impostor = len(impostor) - np.searchsorted(impostor, candidates, side="right")
    accuracy = (accepted_genuine + rejected_impostor) / len(distances)
    i = int(np.argmax(accuracy))
    return float(candidates[i]), float(accuracy[i])


def fold_ids_for(n_pairs: int, same: np.ndarray, n_folds: int = 10, seed: int = 0) -> np.ndarray:
    """Stratified fold ids (0..n_folds-1) for pairs that come without a fold layout."""
    same = np.asarray(same, dtype=bool)
    rng = np.random.default_rng(seed)
    folds = np.empty(n_pairs, dtype=np.int64)
    offset = 0  # the second label continues the round robin, so fold sizes differ by at most one
    for label in (True, False):
        idx = np.flatnonzero(same == label)
        rng.shuffle(idx)
        folds[idx] = (offset + np.arange(len(idx))) % n_folds
        offset = (offset + len(idx)) % n_folds
    return folds


def kfold_accuracy(distances: np.ndarray, same: np.ndarray, folds: np.ndarray | None = None,
                   n_folds: int = 10, seed: int = 0) -> dict[str, Any]:
    """Cross-validated verification accuracy: the threshold is chosen on all other folds, tested on each fold.

    `folds` gives each pair's fold (LFW's pairs.txt layout); without it pairs are split into
    `n_folds` stratified folds with `seed`.
    """
    distances = np.asarray(distances, dtype=np.float64)
    same = np.asarray(same, dtype=bool)
    if folds is None:
        folds = fold_ids_for(len(distances), same, n_folds, seed)
    folds = np.asarray(folds)
    accuracies, thresholds = [], []
    for fold in np.unique(folds):
        test = folds == fold
        if test.all():
            raise ValueError("cross-validation needs at least 2 folds")
        threshold, _ = best_threshold(distances[~test], same[~test])
        thresholds.append(threshold)
        accuracies.append(accuracy_at(distances[test], same[test], threshold))
    return {
        "accuracy": float(np.mean(accuracies)),
        "accuracy_std": float(np.std(accuracies)),
        "fold_accuracies": [float(a) for a in accuracies],
        "fold_thresholds": [float(t) for t in thresholds],
        "threshold": float(np.mean(thresholds)),
    }


def roc_auc(distances: np.ndarray, same: np.ndarray) -> float:
    """Area under the ROC curve with similarity = -distance (1.0 = every genuine pair closer than every impostor)."""
    from sklearn.metrics import roc_auc_score

    same = np.asarray(same, dtype=bool)
    if same.all() or not same.any():
        return float("nan")  # AUC needs both kinds of pairs
    return float(roc_auc_score(same, -np.asarray(distances, dtype=np.float64)))


def roc_curve_points(distances: np.ndarray, same: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(false accept rates, true accept rates, distance thresholds) for plotting."""
    from sklearn.metrics import roc_curve

    fpr, tpr, thresholds = roc_curve(np.asarray(same, dtype=bool), -np.asarray(distances, dtype=np.float64))
    return fpr, tpr, -thresholds


def threshold_at_far(impostor: np.ndarray, target_far: float, genuine: np.ndarray | None = None) -> float:
    """Largest sensible distance threshold whose false-accept rate on `impostor` distances is <= target_far.

    With m impostor pairs at most floor(target_far * m) of them may be accepted; the threshold is put
    halfway between the first impostor that must be rejected and the largest distance below it
    (genuine or accepted impostor), so it does not sit on a sample.
    """
    impostor = np.sort(np.asarray(impostor, dtype=np.float64))
    if len(impostor) == 0:
        raise ValueError("no impostor pairs")
    allowed = int(np.floor(target_far * len(impostor) + 1e-9))
    if allowed >= len(impostor):
        return float(impostor[-1] + 1e-6)
    first_rejected = impostor[allowed]
    below = [impostor[:allowed]]
    if genuine is not None:
        below.append(np.asarray(genuine, dtype=np.float64))
    below_values = np.concatenate(below)
    below_values = below_values[below_values < first_rejected]
    floor = float(below_values.max()) if len(below_values) else max(0.0, first_rejected - 1e-3)
    return float((floor + first_rejected) / 2)


def tar_at_far(distances: np.ndarray, same: np.ndarray, far: float) -> tuple[float, float]:
    """(true accept rate, threshold) at false accept rate <= far."""
    genuine, impostor = _split_scores(distances, same)
    if len(genuine) == 0 or len(impostor) == 0:
        return float("nan"), float("nan")
    threshold = threshold_at_far(impostor, far, genuine)
    return float(np.mean(genuine <= threshold)), threshold


def verification_report(distances: np.ndarray, same: np.ndarray, folds: np.ndarray | None = None,
                        fars: Sequence[float] = DEFAULT_FARS, seed: int = 0) -> dict[str, Any]:
    """Everything we report about a set of scored pairs."""
    distances = np.asarray(distances, dtype=np.float64)
    same = np.asarray(same, dtype=bool)
    genuine, impostor = _split_scores(distances, same)
    report: dict[str, Any] = {"n_pairs": int(len(distances)), "n_same": int(len(genuine)), "n_different": int(len(impostor))}
    if len(genuine) == 0 or len(impostor) == 0:
        report["note"] = "verification metrics need both same-person and different-person pairs"
        return report
    threshold, accuracy = best_threshold(distances, same)
    report.update({"auc": roc_auc(distances, same), "best_threshold": threshold, "best_accuracy": accuracy})
    n_folds = min(10, len(genuine), len(impostor))
    if folds is not None and len(np.unique(folds)) >= 2:
        report["cross_validation"] = kfold_accuracy(distances, same, folds)
    elif n_folds >= 2:
        report["cross_validation"] = kfold_accuracy(distances, same, n_folds=n_folds, seed=seed)
    report["tar_at_far"] = {}
    for far in fars:
        tar, thr = tar_at_far(distances, same, far)
        report["tar_at_far"][f"{far:g}"] = {"tar": tar, "threshold": thr,
                                            "reliable": bool(len(impostor) * far >= 1)}
    report["mean_same_distance"] = float(genuine.mean())
    report["mean_different_distance"] = float(impostor.mean())
    return report


def all_pairs(embeddings: np.ndarray, labels: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """Distances and same-person flags for every unordered pair of rows."""
    embeddings = np.asarray(embeddings)
    labels = np.asarray(labels)
    i, j = np.triu_indices(len(labels), k=1)
    matrix = cosine_distance_matrix(embeddings, embeddings)
    return matrix[i, j], labels[i] == labels[j]


# --------------------------------------------------------------------------------------------------
# Plots
# --------------------------------------------------------------------------------------------------


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")  # files only: no display on servers and CI
    import matplotlib.pyplot as plt

    return plt


def plot_roc(distances: np.ndarray, same: np.ndarray, path: Path, title: str = "ROC") -> Path:
    plt = _pyplot()
    fpr, tpr, _ = roc_curve_points(distances, same)
    fig, ax = plt.subplots(figsize=(5, 5))
    ax.plot(fpr, tpr, label=f"AUC = {roc_auc(distances, same):.4f}")
    ax.plot([0, 1], [0, 1], linestyle=":", color="grey")
    ax.set_xlabel("false accept rate")
    ax.set_ylabel("true accept rate")
    ax.set_title(title)
    ax.legend(loc="lower right")
    return _save_figure(plt, fig, path)


def _save_figure(plt, fig, path: Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def plot_scores(distances: np.ndarray, same: np.ndarray, threshold: float | None, path: Path,
                title: str = "cosine distances") -> Path:
    plt = _pyplot()
    genuine, impostor = _split_scores(distances, same)
    fig, ax = plt.subplots(figsize=(6, 4))
    upper = float(np.max(distances)) * 1.05 if len(distances) else 1.0
    bins = np.linspace(0, max(upper, 0.05), 41)
    ax.hist(genuine, bins=bins, alpha=0.6, label=f"same person ({len(genuine)})", color="tab:green")
    ax.hist(impostor, bins=bins, alpha=0.6, label=f"different people ({len(impostor)})", color="tab:red")
    if threshold is not None and np.isfinite(threshold):
        ax.axvline(threshold, color="black", linestyle="--", label=f"threshold {threshold:.3f}")
    ax.set_xlabel("cosine distance")
    ax.set_ylabel("pairs")
    ax.set_title(title)
    ax.legend()
    return _save_figure(plt, fig, path)


def write_plots(distances: np.ndarray, same: np.ndarray, threshold: float | None, out_dir: Path) -> list[Path]:
    """roc.png and scores.png in out_dir (roc only when there are both kinds of pairs)."""
    out_dir = Path(out_dir)
    written = [plot_scores(distances, same, threshold, out_dir / "scores.png")]
    same = np.asarray(same, dtype=bool)
    if same.any() and not same.all():
        written.insert(0, plot_roc(distances, same, out_dir / "roc.png"))
    return written


# --------------------------------------------------------------------------------------------------
# LFW-style pairs.txt
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Pair:
    name1: str
    index1: int
    name2: str
    index2: int
    fold: int | None = None

    @property
    def same(self) -> bool:
        return self.name1 == self.name2


def parse_pairs(path: Path) -> list[Pair]:
    """Read an LFW pairs file.

    Lines are "name i j" (same person) or "name1 i name2 j" (different people). An optional header
    "folds n" (e.g. "10 300": 10 folds of 300 same + 300 different pairs) assigns each pair its fold;
    a one-number header ("1100", as in pairsDevTrain.txt) or no header means no fold layout.
    """
    path = Path(path)
    try:
        lines = [line.split() for line in path.read_text(encoding="utf-8").splitlines()]
    except (OSError, UnicodeDecodeError) as e:
        raise FacerecError(f"{path}: cannot read pairs file ({e})") from e
    lines = [tokens for tokens in lines if tokens and not tokens[0].startswith("#")]
    per_fold = None
    # ASCII digits only: "²" or "١٢" pass str.isdigit() but not int()
    if lines and all(t.isascii() and t.isdigit() for t in lines[0]) and len(lines[0]) <= 2:
        header = [int(t) for t in lines.pop(0)]
        if len(header) == 2 and header[0] > 1:
            per_fold = 2 * header[1]  # n same + n different pairs in each fold
    pairs = []
    for number, tokens in enumerate(lines, start=1):
        fold = (len(pairs) // per_fold) if per_fold else None
        try:
            if len(tokens) == 3:
                pairs.append(Pair(tokens[0], int(tokens[1]), tokens[0], int(tokens[2]), fold))
            elif len(tokens) == 4:
                pairs.append(Pair(tokens[0], int(tokens[1]), tokens[2], int(tokens[3]), fold))
            else:
                raise ValueError(f"expected 3 or 4 fields, got {len(tokens)}")
            if min(pairs[-1].index1, pairs[-1].index2) < 1:
                raise ValueError("LFW image numbers start at 1")
        except ValueError as e:
            raise FacerecError(f"{path}: pair {number} is malformed: {' '.join(tokens)!r} ({e})") from e
    if not pairs:
        raise FacerecError(f"{path}: no pairs found")
    return pairs


def lfw_image_path(root: Path, name: str, index: int) -> Path:
    """LFW layout: <root>/<name>/<name>_<iiii>.jpg."""
    return Path(root) / name / f"{name}_{index:04d}.jpg"


def main_face_embedding(pipeline, source) -> np.ndarray | None:
    """Embedding of the photo's subject (facerec.recognition.pipeline.main_face), or None when no face is found."""
    from facerec.errors import NoFaceError
    from facerec.recognition.verify import embed_main_face

    try:
        return np.asarray(embed_main_face(source, pipeline)[0], dtype=np.float32)
    except NoFaceError:
        return None


def embed_paths(paths: Iterable[Path], embed_one: Callable[[Path], np.ndarray | None],
                progress: bool = False, desc: str = "embedding") -> tuple[dict[Path, np.ndarray], dict[Path, str]]:
    """Embed each distinct path once: (embeddings, failures with the reason)."""
    unique = list(dict.fromkeys(Path(p) for p in paths))
    embeddings: dict[Path, np.ndarray] = {}
    failures: dict[Path, str] = {}
    iterator: Iterable[Path] = unique
    if progress:
        from tqdm import tqdm

        iterator = tqdm(unique, desc=desc, unit="photo")
    for path in iterator:
        try:
            vector = embed_one(path)
        except (ImageError, NoFaceError) as e:
            failures[path] = str(e)
            continue
        if vector is None:
            failures[path] = "no face found"
        else:
            embeddings[path] = vector
    return embeddings, failures


def evaluate_pairs(root: Path, pairs_path: Path, pipeline=None,
                   embed_one: Callable[[Path], np.ndarray | None] | None = None,
                   fars: Sequence[float] = DEFAULT_FARS, progress: bool = False) -> dict[str, Any]:
    """Verification metrics for an LFW-style pairs file over images under root.

    Images without a detectable face (or missing / unreadable) are counted and their pairs get
    distance 2.0, i.e. they count as errors for same-person pairs.
    """
    if embed_one is None:
        embed_one = lambda path: main_face_embedding(pipeline, path)  # noqa: E731
    pairs = parse_pairs(pairs_path)
    paths = [(lfw_image_path(root, p.name1, p.index1), lfw_image_path(root, p.name2, p.index2)) for p in pairs]
    embeddings, failures = embed_paths([p for pair in paths for p in pair], embed_one, progress)
    distances = np.full(len(pairs), FAILED_PAIR_DISTANCE, dtype=np.float64)
    for n, (a, b) in enumerate(paths):
        if a in embeddings and b in embeddings:
            distances[n] = cosine_distance_rows(embeddings[a][None], embeddings[b][None])[0]
    same = np.array([p.same for p in pairs])
    folds = np.array([p.fold for p in pairs]) if pairs[0].fold is not None else None
    report = verification_report(distances, same, folds, fars)
    report.update({
        "pairs_file": str(pairs_path),
        "n_images": len(embeddings) + len(failures),
        "n_failed_images": len(failures),
        "failed_images": {str(p): reason for p, reason in sorted(failures.items())},
        "n_failed_pairs": int(sum(1 for a, b in paths if a in failures or b in failures)),
    })
    report["_distances"], report["_same"] = distances, same  # for plots; dropped before JSON output
    return report


# --------------------------------------------------------------------------------------------------
# Labelled folder: enroll k photos per person, identify the rest
# --------------------------------------------------------------------------------------------------


def labelled_folder(root: Path) -> dict[str, list[Path]]:
    """{person: sorted photo paths}, read as `facerec enroll` reads PEOPLE_DIR; folders starting with '_'
    (the shared set's _group, _negatives, ...) are not people and are skipped."""
    from facerec.gallery.enroll import scan_people_dir

    people: dict[str, list[Path]] = {}
    for name, path in scan_people_dir(Path(root)):
        if not name.startswith("_"):
            people.setdefault(name, []).append(path)
    if not people:
        raise FacerecError(f"{root}: no person folders with photos (expected <root>/<Name>/*.jpg)")
    return people


@dataclass
class Split:
    """Which photos are enrolled, which are probes, and who is an impostor (not enrolled at all)."""

    enrolled: dict[str, list[Path]] = field(default_factory=dict)
    probes: dict[str, list[Path]] = field(default_factory=dict)
    impostors: dict[str, list[Path]] = field(default_factory=dict)


def split_people(photos: dict[str, list[Path]], k: int, unknown_fraction: float = 0.0, seed: int = 0,
                 min_enrolled: int = 1) -> Split:
    """Deterministic split: people with > k photos are enrolled with k random photos (the rest are probes);
    people with <= k photos, and a random `unknown_fraction` of the others, are impostors whose every
    photo is a probe that should come out unknown."""
    if k < 1:
        raise FacerecError("--k must be at least 1")
    if not 0.0 <= unknown_fraction < 1.0:
        raise FacerecError("--unknown-fraction must be in [0, 1)")
    rng = random.Random(seed)
    candidates = sorted(name for name, ps in photos.items() if len(ps) > k)
    n_holdout = int(round(unknown_fraction * len(candidates)))
    n_holdout = max(0, min(n_holdout, len(candidates) - min_enrolled))
    held_out = set(rng.sample(candidates, n_holdout))
    split = Split()
    for name in sorted(photos):
        ps = sorted(photos[name])
        if name in held_out or name not in candidates:
            split.impostors[name] = ps
            continue
        chosen = set(rng.sample(ps, k))
        split.enrolled[name] = [p for p in ps if p in chosen]
        split.probes[name] = [p for p in ps if p not in chosen]
    if len(split.enrolled) < min_enrolled:
        raise FacerecError(f"need at least {min_enrolled} people with more than k={k} photos each to enroll "
                           f"(found {len(split.enrolled)}); lower --k or add photos")
    return split


def identification_report(true_names: Sequence[str], predicted: Sequence[str], enrolled: Sequence[str]) -> dict[str, Any]:
    """Open-set identification metrics. true_names uses UNKNOWN for probes of people who were not enrolled."""
    enrolled_set = set(enrolled)
    genuine = [(t, p) for t, p in zip(true_names, predicted) if t in enrolled_set]
    impostor = [(t, p) for t, p in zip(true_names, predicted) if t not in enrolled_set]
    correct = sum(1 for t, p in genuine if p == t)
    rejected = sum(1 for _, p in genuine if p == UNKNOWN)
    false_accepts = sum(1 for _, p in impostor if p != UNKNOWN)
    labels = sorted(enrolled_set) + [UNKNOWN]
    index = {name: i for i, name in enumerate(labels)}
    matrix = np.zeros((len(labels), len(labels)), dtype=np.int64)
    for t, p in zip(true_names, predicted):
        matrix[index.get(t, index[UNKNOWN]), index.get(p, index[UNKNOWN])] += 1
    rate = lambda n, d: (n / d) if d else float("nan")  # noqa: E731
    return {
        "n_genuine_probes": len(genuine),
        "n_impostor_probes": len(impostor),
        "top1_accuracy": rate(correct, len(genuine)),
        "genuine_rejected_rate": rate(rejected, len(genuine)),
        "genuine_misidentified_rate": rate(len(genuine) - correct - rejected, len(genuine)),
        "open_set_far": rate(false_accepts, len(impostor)),
        "confusion": {"labels": labels, "matrix": matrix.tolist()},
    }


def evaluate_identification(embeddings: dict[Path, np.ndarray], split: Split, matcher_kind: str = "nn",
                            backbone: str = "dlib", threshold: float | None = None, seed: int = 0) -> dict[str, Any]:
    """Enroll the split's enrolled photos (those with an embedding), identify every probe and impostor photo."""
    enroll_names, enroll_vectors = [], []
    for name, paths in split.enrolled.items():
        for p in paths:
            if p in embeddings:
                enroll_names.append(name)
                enroll_vectors.append(embeddings[p])
    if len(set(enroll_names)) < (2 if matcher_kind != "nn" else 1):
        raise FacerecError(f"the {matcher_kind} matcher needs at least 2 enrolled people with a detectable face")
    probe_paths, true_names = [], []
    for name, paths in split.probes.items():
        for p in paths:
            if p in embeddings:
                probe_paths.append(p)
                true_names.append(name)
    for paths in split.impostors.values():
        for p in paths:
            if p in embeddings:
                probe_paths.append(p)
                true_names.append(UNKNOWN)
    matcher = match.make_matcher(matcher_kind, backbone=backbone, threshold=threshold, seed=seed)
    matcher.fit(np.stack(enroll_vectors).astype(np.float32), list(enroll_names))
    identities = matcher.predict_identities(np.stack([embeddings[p] for p in probe_paths]).astype(np.float32)) \
        if probe_paths else []
    predicted = [i.name for i in identities]
    report = identification_report(true_names, predicted, sorted(set(enroll_names)))
    report["n_enrolled_photos"] = len(enroll_names)
    report["mistakes"] = [
        {"photo": str(p), "true": t, "predicted": i.name, "score": round(float(i.score), 4),
         "distance": None if i.distance is None else round(float(i.distance), 4)}
        for p, t, i in zip(probe_paths, true_names, identities) if i.name != t
    ]
    report["threshold"] = getattr(matcher, "threshold_", getattr(matcher, "max_distance_", threshold))
    return report


def evaluate_folder(root: Path, pipeline=None, k: int = 3, matcher: str = "nn", unknown_fraction: float = 0.0,
                    seed: int = 0, threshold: float | None = None, backbone: str | None = None,
                    embed_one: Callable[[Path], np.ndarray | None] | None = None,
                    progress: bool = False) -> dict[str, Any]:
    """Labelled-folder evaluation (<root>/<Name>/*): identification with k enrolled photos per person,
    plus verification over all pairs of photos."""
    report = evaluate_people(labelled_folder(root), pipeline, k, [matcher], unknown_fraction, seed, threshold,
                             backbone, embed_one, progress)
    report["folder"] = str(root)
    return report


def embed_people(photos: dict[str, list[Path]], pipeline=None,
                 embed_one: Callable[[Path], np.ndarray | None] | None = None,
                 progress: bool = False) -> tuple[dict[Path, np.ndarray], dict[Path, str]]:
    """Embed the main face (facerec.recognition.pipeline.main_face) of every photo: (embeddings by path, failures by path with the reason)."""
    if embed_one is None:
        embed_one = lambda path: main_face_embedding(pipeline, path)  # noqa: E731
    return embed_paths([p for ps in photos.values() for p in ps], embed_one, progress)


def evaluate_people(photos: dict[str, list[Path]], pipeline=None, k: int = 3, matchers: Sequence[str] = ("nn",),
                    unknown_fraction: float = 0.0, seed: int = 0, threshold: float | None = None,
                    backbone: str | None = None, embed_one: Callable[[Path], np.ndarray | None] | None = None,
                    progress: bool = False,
                    embedded: tuple[dict[Path, np.ndarray], dict[Path, str]] | None = None) -> dict[str, Any]:
    """Evaluation of {person: photos}. With one matcher its identification metrics are at the top level of the
    report; with several they are under report["matchers"][name]. `embedded` skips the embedding step."""
    for matcher in matchers:
        if matcher not in MATCHERS:
            raise FacerecError(f"unknown matcher {matcher!r}; choose one of {', '.join(MATCHERS)}")
    backbone = backbone or getattr(pipeline, "embedding_id", None) or pipeline.backbone.name
    embeddings, failures = embedded or embed_people(photos, pipeline, embed_one, progress)
    # Photos without a face can be neither enrolled nor probed: drop them before splitting so k counts usable photos.
    usable = {name: [p for p in ps if p in embeddings] for name, ps in photos.items()}
    usable = {name: ps for name, ps in usable.items() if ps}
    needs_two = any(m != "nn" for m in matchers)
    split = split_people(usable, k, unknown_fraction, seed, min_enrolled=2 if needs_two else 1)
    report: dict[str, Any] = {
        "backbone": backbone, "k": k, "seed": seed, "unknown_fraction": unknown_fraction,
        "n_people": len(photos), "n_enrolled_people": len(split.enrolled), "n_impostor_people": len(split.impostors),
        "impostor_people": sorted(split.impostors),
        "n_photos": sum(len(ps) for ps in photos.values()),
        "n_failed_photos": len(failures),
        "failed_photos": {str(p): reason for p, reason in sorted(failures.items())},
    }
    results = {m: evaluate_identification(embeddings, split, m, backbone, threshold, seed) for m in matchers}
    if len(matchers) == 1:
        report["matcher"] = matchers[0]
        report.update(results[matchers[0]])
    else:
        report["matchers"] = results
    labels = [name for name, ps in usable.items() for _ in ps]
    vectors = np.stack([embeddings[p] for ps in usable.values() for p in ps])
    distances, same = all_pairs(vectors, labels)
    report["verification"] = verification_report(distances, same, seed=seed)
    report["_distances"], report["_same"] = distances, same
    return report


def public_report(report: dict[str, Any]) -> dict[str, Any]:
    """The report without the private arrays kept for plotting (JSON-safe)."""
    return {k: v for k, v in report.items() if not k.startswith("_")}


# --------------------------------------------------------------------------------------------------
# Calibration on the gallery
# --------------------------------------------------------------------------------------------------


def calibrate_embeddings(X: np.ndarray, names: Sequence[str], target_far: float = 1e-3) -> dict[str, Any]:
    """Threshold with FAR <= target_far on all impostor pairs (different people) of these embeddings."""
    if not 0 < target_far < 1:
        raise FacerecError("the target false-accept rate must be between 0 and 1 (e.g. 1e-3)")
    if len(set(names)) < 2:
        raise GalleryError("calibration needs at least 2 enrolled people (impostor pairs come from different "
                           "people); enroll more people with `facerec enroll`")
    distances, same = all_pairs(X, list(names))
    genuine, impostor = distances[same], distances[~same]
    threshold = threshold_at_far(impostor, target_far, genuine)
    result = {
        "threshold": threshold,
        "target_far": target_far,
        "far": float(np.mean(impostor <= threshold)),
        "frr": float(np.mean(genuine > threshold)) if len(genuine) else None,
        "n_genuine": int(len(genuine)),
        "n_impostor": int(len(impostor)),
        "n_people": len(set(names)),
        "n_faces": len(names),
    }
    if len(impostor) * target_far < 1:
        result["note"] = (f"only {len(impostor)} impostor pairs: a FAR of {target_far:g} cannot be measured "
                          f"below 1/{len(impostor)}; the threshold rejects every impostor pair seen")
    if not len(genuine):
        result["note_genuine"] = "no person has 2+ photos, so the false-reject rate is unknown"
    return result


def calibrate(gallery, backbone, target_far: float = 1e-3) -> dict[str, Any]:
    """Suggest a cosine-distance threshold for `backbone` from the gallery's enrolled faces."""
    X, names, _ = gallery.embeddings(backbone)
    if len(names) == 0:
        raise GalleryError(f"the gallery has no faces embedded with {getattr(backbone, 'name', backbone)}; "
                           "enroll people first with `facerec enroll`")
    result = calibrate_embeddings(np.asarray(X, dtype=np.float32), list(names), target_far)
    result["backbone"] = getattr(backbone, "name", backbone)
    return result
