"""Recognition metrics, pure numpy so they can be checked on synthetic distances: verification accuracy (k-fold),
best threshold, ROC, TAR at FAR, threshold at a target FAR, and open-set identification."""

from typing import Any, Sequence

import numpy as np

from facerec.vectors import cosine_distance_matrix, l2_normalise
from facerec.types import UNKNOWN


# A pair whose image had no detectable face gets the largest possible cosine distance, so it counts
# as a failure ("different") instead of silently disappearing from the statistics.
FAILED_PAIR_DISTANCE = 2.0
DEFAULT_FARS = (1e-3, 1e-2)


# --------------------------------------------------------------------------------------------------
# Distances and metrics (pure numpy)
# --------------------------------------------------------------------------------------------------


def cosine_distance_rows(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise cosine distance between two (n, d) arrays (rows are normalised here, to be safe)."""
    return np.clip(1.0 - np.sum(l2_normalise(a, np.float64) * l2_normalise(b, np.float64), axis=1), 0.0, 2.0)


def split_scores(distances: np.ndarray, same: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
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
    genuine, impostor = split_scores(distances, same)
    if len(genuine) == 0 or len(impostor) == 0:
        return float("nan"), float("nan")
    threshold = threshold_at_far(impostor, far, genuine)
    return float(np.mean(genuine <= threshold)), threshold


def verification_report(distances: np.ndarray, same: np.ndarray, folds: np.ndarray | None = None,
                        fars: Sequence[float] = DEFAULT_FARS, seed: int = 0) -> dict[str, Any]:
    """Everything we report about a set of scored pairs."""
    distances = np.asarray(distances, dtype=np.float64)
    same = np.asarray(same, dtype=bool)
    genuine, impostor = split_scores(distances, same)
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
