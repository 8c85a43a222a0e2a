#!/usr/bin/env python
"""facerec and face_recognition side by side on LFW pairs, in one run on the same pairs.

    python scripts/evaluate_lfw.py --lfw ../shared/lfw-view1 --pairs pairsDevTest.txt --out lfw-devtest.json
    python scripts/evaluate_lfw.py --lfw ../shared/lfw-view1 --pairs pairsDevTrain.txt --tools facerec

For each tool: accuracy at the tool's own default threshold (facerec: facerec/thresholds.py's verify
threshold for the dlib backbone; face_recognition: Euclidean 0.6), the best accuracy over thresholds
on these pairs, 10-fold cross-validated accuracy, ROC AUC, TAR at FAR = 1e-3, photos in which no face
was found and seconds per photo. A photo without a face fails its pairs for both tools (distance =
the largest possible), as LFW's protocol wants: nothing is dropped.

facerec runs its default pipeline (MTCNN, the dlib backbone's alignment, test-time flip, the second
look for photos that must hold a face; `--no-flip` to measure without the flip). face_recognition
(`pip install --no-deps face-recognition`: its `dlib` requirement would build dlib from source, and
`dlib-bin` already provides it) runs its defaults: HOG detector, 5-point predictor, the same ResNet.
facerec takes each photo's main face (the largest near the centre, as in enrolment: facerec.recognition.pipeline.main_face);
face_recognition, which has no such rule, the largest face found.

LFW's protocol: choose settings on View 1 DevTrain, check them on DevTest, quote View 2 once.
Prints a table and writes JSON (--out). --cache FILE.npz keeps the embeddings between runs.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

TOOLS = ("facerec", "face_recognition")
FACE_RECOGNITION_TOLERANCE = 0.6  # face_recognition's default: Euclidean distance on raw descriptors


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--lfw", type=Path, required=True, help="folder with images/ and the pairs files (../shared/lfw-view1)")
    p.add_argument("--pairs", default="pairsDevTest.txt", help="pairs file, relative to --lfw or a path")
    p.add_argument("--tools", nargs="+", choices=TOOLS, default=list(TOOLS))
    p.add_argument("--no-flip", action="store_true", help="facerec without test-time flip")
    p.add_argument("--ablation", action="store_true",
                   help="also run facerec's earlier recipes: the predictor in the raw MTCNN box without flip (facerec "
                   "0.1) and the mapped box without flip, to show what each step adds")
    p.add_argument("--limit", type=int, default=None, help="only the first N pairs (a quick look)")
    p.add_argument("--out", type=Path, default=None, help="write the JSON report here")
    p.add_argument("--cache", type=Path, default=None, help="embeddings cache .npz (read if present, else written)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bars")
    return p.parse_args(argv)


# ------------------------------------------------------------------------------------------ embedders


ABLATIONS = {  # tool name -> (box convention, flip)
    "facerec-0.1 (MTCNN box, no flip)": ("mtcnn", False),
    "facerec (dlib box, no flip)": ("dlib", False),
}


def facerec_embedder(flip: bool, box: str = "dlib"):
    """(embed_one(path) -> unit vector or None, default cosine threshold, description)."""
    from facerec.backbones import get_backbone
    from facerec.backbones.dlib_backbone import DlibBackbone
    from facerec.errors import NoFaceError
    from facerec.recognition.pipeline import FacePipeline
    from facerec.thresholds import threshold_for
    from facerec.recognition.verify import embed_main_face

    pipeline = FacePipeline(get_backbone("dlib") if box == "dlib" else DlibBackbone(box=box), flip=flip)

    def embed_one(path: Path) -> np.ndarray | None:
        try:
            return np.asarray(embed_main_face(path, pipeline)[0], dtype=np.float32)
        except NoFaceError:
            return None

    return embed_one, threshold_for(pipeline.embedding_id), pipeline.embedding_id


def face_recognition_embedder():
    """face_recognition's own defaults; descriptors kept raw, compared by Euclidean distance."""
    import face_recognition

    def embed_one(path: Path) -> np.ndarray | None:
        image = face_recognition.load_image_file(str(path))
        boxes = face_recognition.face_locations(image)  # HOG, upsample 1: its default
        if not boxes:
            return None
        largest = max(boxes, key=lambda b: (b[2] - b[0]) * (b[1] - b[3]))
        return np.asarray(face_recognition.face_encodings(image, [largest])[0], dtype=np.float32)

    return embed_one, FACE_RECOGNITION_TOLERANCE, "face_recognition defaults (HOG, 5-point, tolerance 0.6)"


# ------------------------------------------------------------------------------------------ scoring


def pair_paths(lfw: Path, pairs) -> list[tuple[Path, Path]]:
    from facerec.evaluation.pairs import lfw_image_path

    images = lfw / "images" if (lfw / "images").is_dir() else lfw
    return [(lfw_image_path(images, p.name1, p.index1), lfw_image_path(images, p.name2, p.index2)) for p in pairs]


def pair_distances(pairs: list[tuple[Path, Path]], vectors: dict[Path, np.ndarray], metric: str) -> np.ndarray:
    """Cosine (facerec) or Euclidean (face_recognition) distance per pair; a failed photo gives the maximum."""
    worst = 2.0 if metric == "cosine" else 4.0
    out = np.full(len(pairs), worst, dtype=np.float64)
    for n, (a, b) in enumerate(pairs):
        if a in vectors and b in vectors:
            va, vb = vectors[a].astype(np.float64), vectors[b].astype(np.float64)
            if metric == "cosine":
                out[n] = 1.0 - va @ vb / (np.linalg.norm(va) * np.linalg.norm(vb))
            else:
                out[n] = float(np.linalg.norm(va - vb))
    return out


def score(distances: np.ndarray, same: np.ndarray, default_threshold: float) -> dict:
    from facerec.evaluation.metrics import accuracy_at, best_threshold, kfold_accuracy, roc_auc, tar_at_far

    best_t, best_acc = best_threshold(distances, same)
    tar, tar_t = tar_at_far(distances, same, 1e-3)
    cv = kfold_accuracy(distances, same, n_folds=10)
    return {
        "default_threshold": default_threshold,
        "accuracy_at_default": accuracy_at(distances, same, default_threshold),
        "best_threshold": best_t,
        "best_accuracy": best_acc,
        "cv_accuracy": cv["accuracy"],
        "cv_accuracy_std": cv["accuracy_std"],
        "auc": roc_auc(distances, same),
        "tar_at_far_1e-3": tar,
        "threshold_at_far_1e-3": tar_t,
    }


def cached_vectors(cache: Path | None, tool: str, paths: list[Path]) -> dict[Path, np.ndarray] | None:
    if cache is None or not cache.is_file():
        return None
    with np.load(cache, allow_pickle=False) as data:
        key = f"{tool}__paths"
        if key not in data:
            return None
        stored = dict(zip(data[key].tolist(), data[f"{tool}__vectors"]))
        missing = set(data[f"{tool}__missing"].tolist())
    if not all(str(p) in stored or str(p) in missing for p in paths):
        return None
    return {p: stored[str(p)] for p in paths if str(p) in stored}


def evaluate_tool(tool: str, pairs: list[tuple[Path, Path]], same: np.ndarray, args) -> tuple[dict, dict[Path, np.ndarray]]:
    from facerec.evaluation.pairs import embed_paths

    if tool == "face_recognition":
        embed_one, default_threshold, description = face_recognition_embedder()
    elif tool in ABLATIONS:
        embed_one, default_threshold, description = facerec_embedder(ABLATIONS[tool][1], ABLATIONS[tool][0])
    else:
        embed_one, default_threshold, description = facerec_embedder(not args.no_flip)
    paths = list(dict.fromkeys(p for pair in pairs for p in pair))
    vectors = cached_vectors(args.cache, tool, paths)
    seconds = None
    if vectors is None:
        start = time.perf_counter()
        vectors, _ = embed_paths(paths, embed_one, progress=not args.quiet, desc=tool)
        seconds = (time.perf_counter() - start) / max(1, len(paths))
    missing = sorted(str(p) for p in paths if p not in vectors)
    distances = pair_distances(pairs, vectors, "euclidean" if tool == "face_recognition" else "cosine")
    report = {"tool": tool, "settings": description, "photos": len(paths), "photos_without_face": len(missing),
              "failed_pairs": int(sum(1 for a, b in pairs if a not in vectors or b not in vectors)),
              "seconds_per_photo": seconds, "missing": missing, **score(distances, same, default_threshold)}
    return report, vectors


def write_cache(cache: Path, all_vectors: dict[str, dict[Path, np.ndarray]], paths: list[Path]) -> None:
    arrays = {}
    for tool, vectors in all_vectors.items():
        arrays[f"{tool}__missing"] = np.array([str(p) for p in paths if p not in vectors] or [""])
        arrays[f"{tool}__paths"] = np.array([str(p) for p in vectors])
        arrays[f"{tool}__vectors"] = np.stack(list(vectors.values())) if vectors else np.zeros((0, 128), np.float32)
    np.savez(cache, **arrays)


# ------------------------------------------------------------------------------------------ main


def print_table(reports: list[dict], pairs_name: str, n_pairs: int) -> None:
    print(f"\nLFW {pairs_name}: {n_pairs} pairs")
    header = ["tool", "acc @ default", "default thr", "best acc", "10-fold acc", "AUC", "TAR@FAR1e-3",
              "no face", "s/photo"]
    rows = [[r["tool"], f"{r['accuracy_at_default']:.4f}", f"{r['default_threshold']:.3f}", f"{r['best_accuracy']:.4f}",
             f"{r['cv_accuracy']:.4f} ± {r['cv_accuracy_std']:.4f}", f"{r['auc']:.4f}", f"{r['tar_at_far_1e-3']:.3f}",
             str(r["photos_without_face"]), "-" if r["seconds_per_photo"] is None else f"{r['seconds_per_photo']:.3f}"]
            for r in reports]
    widths = [max(len(h), *(len(row[i]) for row in rows)) for i, h in enumerate(header)]
    print(" | ".join(h.ljust(w) for h, w in zip(header, widths)))
    print("-+-".join("-" * w for w in widths))
    for row in rows:
        print(" | ".join(c.ljust(w) for c, w in zip(row, widths)))


def main(argv=None) -> int:
    args = parse_args(argv)
    from facerec.evaluation.pairs import parse_pairs

    pairs_file = Path(args.pairs) if Path(args.pairs).is_file() else args.lfw / args.pairs
    parsed = parse_pairs(pairs_file)[: args.limit]
    pairs = pair_paths(args.lfw, parsed)
    same = np.array([p.same for p in parsed])
    reports, all_vectors = [], {}
    for tool in args.tools + (list(ABLATIONS) if args.ablation else []):
        if tool == "face_recognition":
            try:
                import face_recognition  # noqa: F401
            except ImportError:
                print("face_recognition is not installed (pip install --no-deps face-recognition): skipped",
                      file=sys.stderr)
                continue
        report, all_vectors[tool] = evaluate_tool(tool, pairs, same, args)
        reports.append(report)
    if args.cache is not None and not args.cache.is_file():
        write_cache(args.cache, all_vectors, list(dict.fromkeys(p for pair in pairs for p in pair)))
    print_table(reports, pairs_file.name, len(pairs))
    if args.out:
        result = {"pairs_file": str(pairs_file), "n_pairs": len(pairs), "n_same": int(same.sum()),
                  "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "load": os.getloadavg()},
                  "tools": reports}
        args.out.write_text(json.dumps(result, indent=2))
        print(f"\nwrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
