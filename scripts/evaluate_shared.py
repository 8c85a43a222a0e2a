#!/usr/bin/env python
"""Recognition accuracy on the shared set of real face photos, one number per matcher.

    python scripts/evaluate_shared.py --faces ../shared/faces --backbone dlib --out eval-dlib.json
    python scripts/evaluate_shared.py --faces ../shared/faces --k 3 --matcher nn svm logreg head --unknown-fraction 0.2

Every identity folder of the set (<faces>/<source>/<Identity>/*, or <faces>/<Identity>/*; folders
starting with '_' such as _group, _negatives and _video are skipped) is one person. The largest face
of each photo is embedded once. Then, as `facerec evaluate` does: k photos of each person with more
than k photos are enrolled (chosen with --seed), every other photo is a probe; people with k photos
or fewer (plus --unknown-fraction of the others) are not enrolled, and their photos measure the
open-set false-accept rate. Verification metrics (ROC AUC, best threshold, cross-validated accuracy,
TAR at FAR) are computed over all pairs of photos.

Prints a table and writes the full report as JSON (--out). --cache FILE.npz keeps the embeddings
(plain arrays, no pickle) so reruns with other k / matchers / seeds skip the networks.
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


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--faces", type=Path, required=True, help="the shared face set (../shared/faces)")
    p.add_argument("--backbone", default="dlib", help="dlib, vgg16, resnet50, senet50 (default: dlib)")
    p.add_argument("--weights", type=Path, default=None, help="weights .h5 for a VGGFace backbone")
    p.add_argument("--k", type=int, default=2, help="photos enrolled per person (default: 2)")
    p.add_argument("--matcher", nargs="+", default=["nn"], choices=["nn", "svm", "logreg", "head"],
                   help="one or more matchers (default: nn)")
    p.add_argument("--threshold", type=float, default=None, help="cosine distance threshold (default: per backbone)")
    p.add_argument("--unknown-fraction", type=float, default=0.0,
                   help="hold out this fraction of the people with enough photos as impostors (default: 0)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--draws", type=int, default=0,
                   help="also repeat the split with N seeds (nn matcher) and report mean and worst open-set figures")
    p.add_argument("--out", type=Path, default=None, help="write the JSON report here")
    p.add_argument("--cache", type=Path, default=None, help="embeddings cache .npz (read if present, else written)")
    p.add_argument("--plot", type=Path, default=None, help="write roc.png and scores.png here")
    return p.parse_args(argv)


def shared_people(faces: Path) -> dict[str, list[Path]]:
    """{person: photos} over <faces>/<source>/<Identity>/ and <faces>/<Identity>/, skipping '_' folders.
    A name found under two sources is qualified as '<source>/<name>'."""
    from facerec.evaluation.folder import labelled_folder
    from facerec.vision.imageio import is_image_path

    found: list[tuple[str, str, list[Path]]] = []
    for top in sorted(d for d in faces.iterdir() if d.is_dir() and not d.name.startswith(("_", "."))):
        direct = sorted(p for p in top.iterdir() if p.is_file() and is_image_path(p))
        if direct:  # <faces>/<Identity>/*.jpg
            found.append(("", top.name, direct))
        elif any(d.is_dir() and not d.name.startswith(("_", ".")) for d in top.iterdir()):
            found += [(top.name, name, photos) for name, photos in labelled_folder(top).items()]
    counts: dict[str, int] = {}
    for _, name, _ in found:
        counts[name] = counts.get(name, 0) + 1
    return {(f"{source}/{name}" if counts[name] > 1 and source else name): photos for source, name, photos in found}


def load_cache(path: Path, backbone: str) -> tuple[dict[Path, np.ndarray], dict[Path, str]] | None:
    if not path or not path.is_file():
        return None
    data = np.load(path, allow_pickle=False)
    if str(data["backbone"]) != backbone:
        return None
    embeddings = {Path(p): v for p, v in zip(data["paths"], data["embeddings"])}
    failures = {Path(p): str(r) for p, r in zip(data["failed_paths"], data["failed_reasons"])}
    return embeddings, failures


def save_cache(path: Path, backbone: str, embedded: tuple[dict[Path, np.ndarray], dict[Path, str]]) -> None:
    embeddings, failures = embedded
    path.parent.mkdir(parents=True, exist_ok=True)
    dim = len(next(iter(embeddings.values()))) if embeddings else 0
    np.savez(path, backbone=np.array(backbone),
             paths=np.array([str(p) for p in embeddings], dtype=str),
             embeddings=np.stack(list(embeddings.values())) if embeddings else np.zeros((0, dim), np.float32),
             failed_paths=np.array([str(p) for p in failures], dtype=str),
             failed_reasons=np.array(list(failures.values()), dtype=str))


def clustering_figures(people: dict[str, list[Path]], embeddings: dict[Path, np.ndarray], key: str) -> dict:
    """Pairwise precision / recall of clustering every photo's face, per method, at the cluster threshold."""
    from facerec.album.cluster import METHODS, cluster_embeddings, pairwise_precision_recall
    from facerec.thresholds import threshold_for

    paths = [p for ps in people.values() for p in ps if p in embeddings]
    truth = [name for name, ps in people.items() for p in ps if p in embeddings]
    X = np.stack([embeddings[p] for p in paths])
    eps = threshold_for(key, "cluster")
    figures = {m: pairwise_precision_recall(cluster_embeddings(X, eps, method=m), truth) for m in METHODS}
    print(f"\nclustering all {len(paths)} faces at cosine distance {eps}:")
    for method, f in figures.items():
        print(f"  {method:<17} pairwise precision {fmt(f['precision'])}, recall {fmt(f['recall'])}, "
              f"{f['clusters']} groups, {f['noise']} faces left alone")
    return {"threshold": eps, **figures}


def open_set_draws(people, embedded, args, key: str) -> dict:
    """The nn matcher over --draws seeds: mean and worst share of strangers named, mean top-1."""
    from facerec.evaluation.folder import evaluate_people

    runs = []
    for seed in range(args.draws):
        r = evaluate_people(people, None, k=args.k, matchers=["nn"], unknown_fraction=args.unknown_fraction,
                               seed=seed, threshold=args.threshold, embedding=key, embedded=embedded)
        runs.append({"seed": seed, "top1": r["top1_accuracy"], "strangers_named": r["open_set_far"],
                     "stranger_probes": r["n_impostor_probes"]})
    named = [r["strangers_named"] for r in runs]
    top1 = [r["top1"] for r in runs]
    summary = {"draws": len(runs), "mean_strangers_named": float(np.mean(named)),
               "worst_strangers_named": float(np.max(named)), "mean_top1": float(np.mean(top1)),
               "worst_top1": float(np.min(top1)), "runs": runs}
    print(f"\nnn over {len(runs)} draws (k={args.k}, unknown fraction {args.unknown_fraction}): strangers named "
          f"{fmt(summary['mean_strangers_named'])} mean, {fmt(summary['worst_strangers_named'])} worst; top-1 "
          f"{fmt(summary['mean_top1'])} mean, {fmt(summary['worst_top1'])} worst")
    return summary


def fmt(value, digits: int = 4) -> str:
    if value is None or (isinstance(value, float) and value != value):
        return "n/a"
    return f"{value:.{digits}f}" if isinstance(value, float) else str(value)


def main(argv=None) -> int:
    args = parse_args(argv)
    from facerec.evaluation.folder import embed_people, evaluate_people, public_report
    from facerec.evaluation.plots import write_plots
    from facerec.cli.tables import print_table
    from facerec.thresholds import threshold_for

    people = shared_people(args.faces)
    n_photos = sum(len(p) for p in people.values())
    print(f"{len(people)} people, {n_photos} photos under {args.faces}", file=sys.stderr)

    from facerec.backbones import embedding_id

    key = embedding_id(args.backbone)  # the cache holds embeddings of one recipe only
    embedded = load_cache(args.cache, key) if args.cache else None
    embed_seconds = None
    pipeline = None
    if embedded is None or any(p not in embedded[0] and p not in embedded[1] for ps in people.values() for p in ps):
        from facerec.recognition.pipeline import FacePipeline

        pipeline = FacePipeline(args.backbone, weights=args.weights)
        start = time.perf_counter()
        embedded = embed_people(people, pipeline, progress=sys.stderr.isatty())
        embed_seconds = time.perf_counter() - start
        if args.cache:
            save_cache(args.cache, key, embedded)
    report = evaluate_people(people, pipeline, k=args.k, matchers=args.matcher,
                                unknown_fraction=args.unknown_fraction, seed=args.seed, threshold=args.threshold,
                                embedding=key, embedded=embedded)
    results = report["matchers"] if "matchers" in report else {args.matcher[0]: report}
    v = report["verification"]
    cv = v.get("cross_validation", {})

    print(f"\nbackbone {args.backbone}, k={args.k}, seed {args.seed}: {report['n_people']} people, "
          f"{report['n_photos']} photos ({report['n_failed_photos']} without a detectable face), "
          f"{report['n_enrolled_people']} enrolled, {report['n_impostor_people']} not enrolled")
    rows = []
    for name, r in results.items():
        rows.append([name, report["n_enrolled_people"], r["n_genuine_probes"], fmt(r["top1_accuracy"]),
                     fmt(r["genuine_rejected_rate"]), r["n_impostor_probes"], fmt(r["open_set_far"]),
                     fmt(r["threshold"] if r["threshold"] is not None else threshold_for(args.backbone, "identify"), 3),
                     fmt(v.get("auc")), fmt(v.get("best_threshold"), 3)])
    print_table(["matcher", "people", "probes", "top-1", "rejected", "impostor probes", "open-set FAR",
                 "threshold", "pair AUC", "best thr"], rows)
    print(f"\nverification over all {v['n_pairs']} pairs ({v['n_same']} same, {v['n_different']} different): "
          f"AUC {fmt(v.get('auc'))}, {len(cv.get('fold_accuracies', []))}-fold accuracy {fmt(cv.get('accuracy'))}, "
          f"best threshold {fmt(v.get('best_threshold'), 3)} (accuracy {fmt(v.get('best_accuracy'))}), "
          + ", ".join(f"TAR {fmt(t['tar'], 3)} at FAR {far}" for far, t in v.get("tar_at_far", {}).items()))
    for photo, reason in report["failed_photos"].items():
        print(f"  no face: {photo} ({reason})", file=sys.stderr)

    out_extra = {"clustering": clustering_figures(people, embedded[0], key)}
    if args.draws:
        out_extra["draws"] = open_set_draws(people, embedded, args, key)

    if args.plot:
        write_plots(report["_distances"], report["_same"], v.get("best_threshold"), args.plot)
    out = public_report(report)
    out["faces"] = str(args.faces)
    out["embed_seconds"] = embed_seconds
    out.update(out_extra)
    out["machine"] = {"python": platform.python_version(), "platform": platform.platform(), "cpus": os.cpu_count()}
    if args.out:
        args.out.write_text(json.dumps(out, indent=1, default=str))
        print(f"\nwrote {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
