"""ROC and score-distribution plots of a verification run (matplotlib, optional)."""

from pathlib import Path
from facerec.evaluation.metrics import roc_auc, roc_curve_points, split_scores

import numpy as np


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
    genuine, impostor = split_scores(distances, same)
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
