#!/usr/bin/env python
"""Choose a backbone's thresholds on LFW View 1 DevTrain and check them on DevTest (facerec/thresholds.py).

    python scripts/choose_thresholds.py --lfw ../shared/lfw-view1 --cache lfw-view1-dlib.npz --out thresholds.json

Every image of pairsDevTrain.txt and pairsDevTest.txt is embedded once with facerec's default pipeline
(the main face, second look, the backbone's alignment and flip). Then, on DevTrain only:

- verify:   the threshold with the best accuracy on the DevTrain pairs;
- identify: the threshold at a false-accept rate of --far (default 1e-4) over *every* pair of DevTrain
            images of two different people (millions of pairs, so a low rate is measured, not guessed);
- cluster:  the largest threshold at which average-linkage clustering of DevTrain's images has a pairwise
            precision of at least --cluster-precision (default 0.98).

- impostor tail: a generalised Pareto fit of the different-person distances below their 1 % quantile, from
            which identify's threshold for a gallery of n faces is read (facerec.thresholds.identify_threshold);

and the chosen values are checked on DevTest: pair accuracy, FAR / TAR over all DevTest image pairs,
open-set identification (people with several photos enrolled with one photo each, half of them held out
as strangers) and clustering precision / recall. The same numbers for the thresholds in
facerec/thresholds.py today are printed beside them.

Open set at every gallery size (--gallery-sizes, --photos-each), on DevTrain and DevTest, with the identify
threshold facerec uses for a gallery of that many faces: `people` random people with at least k photos are
enrolled with k random photos each (people with more photos first, so that most have photos left to name),
their other photos are to be named, and every photo of everyone else is a stranger's, to stay unknown;
--draws random galleries in all per cell. Per photo: named right, named wrong (another enrolled person's
name), strangers named; and the curve (named right against strangers named as the threshold moves).
A cell that the split cannot build (too few people with k photos) is listed as such.
Prints tables and writes JSON (--out).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--lfw", type=Path, required=True, help="LFW View 1 folder (images/ and the pairs files)")
    p.add_argument("--backbone", default="dlib")
    p.add_argument("--no-flip", action="store_true")
    p.add_argument("--far", type=float, default=1e-4, help="false-accept rate per comparison for identify")
    p.add_argument("--cluster-precision", type=float, default=0.98)
    p.add_argument("--cache", type=Path, default=None, help="embeddings cache .npz (read if present, else written)")
    p.add_argument("--out", type=Path, default=None)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--gallery-sizes", type=int, nargs="+", default=[5, 20, 100, 400], help="people enrolled")
    p.add_argument("--photos-each", type=int, nargs="+", default=[1, 2, 3], help="photos enrolled per person (k)")
    p.add_argument("--draws", type=int, default=2000,
                   help="random galleries per cell: this number divided by the gallery size, at least 5")
    p.add_argument("-q", "--quiet", action="store_true")
    return p.parse_args(argv)


# ------------------------------------------------------------------------------------------ data


def split_images(lfw: Path, pairs_name: str) -> tuple[list, list[Path]]:
    from facerec.evaluation.pairs import lfw_image_path, parse_pairs

    pairs = parse_pairs(lfw / pairs_name)
    paths = list(dict.fromkeys(lfw_image_path(lfw / "images", n, i) for p in pairs
                               for n, i in ((p.name1, p.index1), (p.name2, p.index2))))
    return pairs, paths


def embed_images(paths: list[Path], args) -> tuple[dict[Path, np.ndarray], float]:
    """Largest-face embeddings with the default pipeline (cached as plain arrays, never pickled)."""
    from facerec.evaluation.pairs import embed_paths, main_face_embedding
    from facerec.recognition.pipeline import FacePipeline

    if args.cache is not None and args.cache.is_file():
        with np.load(args.cache, allow_pickle=False) as data:
            stored = dict(zip(data["paths"].tolist(), data["vectors"]))
            missing = set(data["missing"].tolist())
        if all(str(p) in stored or str(p) in missing for p in paths):
            return {p: stored[str(p)] for p in paths if str(p) in stored}, float("nan")
    pipeline = FacePipeline(args.backbone, flip=False if args.no_flip else None)
    start = time.perf_counter()
    vectors, failures = embed_paths(paths, lambda p: main_face_embedding(pipeline, p), progress=not args.quiet)
    seconds = (time.perf_counter() - start) / max(1, len(paths))
    if args.cache is not None:
        np.savez(args.cache, paths=np.array([str(p) for p in vectors]), vectors=np.stack(list(vectors.values())),
                 missing=np.array([str(p) for p in failures] or [""]))
    return vectors, seconds


def person_of(path: Path) -> str:
    return path.parent.name


# ------------------------------------------------------------------------------------------ measures


def pair_distances(pairs, vectors: dict[Path, np.ndarray], lfw: Path) -> tuple[np.ndarray, np.ndarray]:
    from facerec.evaluation.metrics import FAILED_PAIR_DISTANCE
    from facerec.evaluation.pairs import lfw_image_path

    distances, same = [], []
    for p in pairs:
        a, b = lfw_image_path(lfw / "images", p.name1, p.index1), lfw_image_path(lfw / "images", p.name2, p.index2)
        distances.append(float(1 - vectors[a] @ vectors[b]) if a in vectors and b in vectors else FAILED_PAIR_DISTANCE)
        same.append(p.same)
    return np.asarray(distances), np.asarray(same)


def all_image_pairs(vectors: dict[Path, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    from facerec.evaluation.metrics import all_pairs

    paths = list(vectors)
    return all_pairs(np.stack([vectors[p] for p in paths]), [person_of(p) for p in paths])


def cluster_quality(vectors: dict[Path, np.ndarray], threshold: float, method: str = "agglomerative") -> dict:
    from facerec.album.cluster import cluster_embeddings, pairwise_precision_recall

    paths = list(vectors)
    labels = cluster_embeddings(np.stack([vectors[p] for p in paths]), threshold, method=method)
    return pairwise_precision_recall(labels, [person_of(p) for p in paths])


def compare_cluster_methods(splits: dict[str, dict[Path, np.ndarray]], threshold: float) -> dict:
    """Pairwise precision / recall of every clustering method at one threshold, per split."""
    from facerec.album.cluster import METHODS

    return {m: {name: cluster_quality(vectors, threshold, m) for name, vectors in splits.items()} for m in METHODS}


def choose_cluster_threshold(vectors: dict[Path, np.ndarray], precision: float, candidates: np.ndarray) -> tuple[float, list]:
    """The largest candidate whose clustering precision is >= `precision` (precision falls as t grows)."""
    tried, chosen = [], float(candidates[0])
    for t in candidates:
        q = cluster_quality(vectors, float(t))
        tried.append({"threshold": float(t), **q})
        if q["precision"] >= precision:
            chosen = float(t)
    return chosen, tried


def open_set(vectors: dict[Path, np.ndarray], threshold: float, seed: int, k: int = 1) -> dict:
    """Enroll k photos of half the people with more than k photos; identify the rest of their photos;
    strangers = everyone else."""
    from facerec.recognition.match import NearestNeighbourMatcher
    from facerec.types import UNKNOWN

    rng = np.random.default_rng(seed)
    by_person: dict[str, list[Path]] = {}
    for p in vectors:
        by_person.setdefault(person_of(p), []).append(p)
    several = sorted(n for n, ps in by_person.items() if len(ps) > k)
    enrolled = set(rng.choice(several, size=len(several) // 2, replace=False).tolist())
    gallery, probes = [], []
    for name, ps in sorted(by_person.items()):
        ps = sorted(ps)
        if name in enrolled:
            gallery += [(name, p) for p in ps[:k]]
            probes += [(name, p) for p in ps[k:]]
        else:
            probes += [(UNKNOWN, p) for p in ps]
    matcher = NearestNeighbourMatcher(threshold=threshold).fit(np.stack([vectors[p] for _, p in gallery]),
                                                                [n for n, _ in gallery])
    predicted = matcher.predict(np.stack([vectors[p] for _, p in probes]))
    truth = np.array([n for n, _ in probes], dtype=object)
    known = truth != UNKNOWN
    return {
        "k": k,
        "enrolled_people": len(enrolled),
        "genuine_probes": int(known.sum()),
        "stranger_probes": int((~known).sum()),
        "named_correctly": float(np.mean(predicted[known] == truth[known])),
        "strangers_named": float(np.mean(predicted[~known] != UNKNOWN)),
    }


def fit_impostor_tail(impostor: np.ndarray, p_u: float = 0.01) -> dict[str, float]:
    """A generalised Pareto fit of the different-person distances below their `p_u` quantile u (the lower tail,
    where false accepts come from): facerec.thresholds.distance_at_far reads a threshold off it."""
    from scipy.stats import genpareto

    u = float(np.quantile(impostor, p_u))
    xi, _, sigma = genpareto.fit(u - impostor[impostor < u], floc=0)
    return {"u": round(u, 4), "p_u": p_u, "sigma": round(float(sigma), 5), "xi": round(float(xi), 4)}


# ------------------------------------------------------------------------------------------ open set by gallery size

CURVE_THRESHOLDS = np.round(np.arange(0.030, 0.09501, 0.0025), 4)
CURVE_STRANGER_RATES = (0.001, 0.005, 0.01, 0.02, 0.05)
MIN_STRANGER_PHOTOS = 100


def draw_gallery(persons: np.ndarray, people: int, k: int, rng) -> tuple[np.ndarray, ...] | None:
    """Indices (gallery, gallery labels, probes, probe labels, strangers) of one random gallery of `people` people
    with k photos each, or None when the split has too few people with k photos or too few strangers left."""
    names, person = np.unique(persons, return_inverse=True)
    counts = np.bincount(person)
    more, exactly = rng.permutation(np.flatnonzero(counts > k)), rng.permutation(np.flatnonzero(counts == k))
    chosen = np.concatenate([more, exactly])[:people]
    strangers = np.flatnonzero(~np.isin(person, chosen))
    if len(chosen) < people or len(strangers) < MIN_STRANGER_PHOTOS:
        return None
    gallery, gallery_labels, probes, probe_labels = [], [], [], []
    for label, who in enumerate(chosen):
        photos = rng.permutation(np.flatnonzero(person == who))
        gallery += photos[:k].tolist()
        gallery_labels += [label] * k
        probes += photos[k:].tolist()
        probe_labels += [label] * (len(photos) - k)
    as_array = lambda v: np.asarray(v, dtype=np.int64)  # noqa: E731
    return as_array(gallery), as_array(gallery_labels), as_array(probes), as_array(probe_labels), strangers


def nearest_enrolled(X: np.ndarray, gallery: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(label, cosine distance) of the nearest enrolled face of each row: the nearest-neighbour matcher's 'max'."""
    S = X @ gallery.T
    best = S.argmax(axis=1)
    return labels[best], 1.0 - S[np.arange(len(S)), best]


def open_set_cell(X: np.ndarray, persons: np.ndarray, people: int, k: int, draws: int, rng) -> dict | None:
    """Nearest distances of every probe (and whether the nearest person is right) and of every stranger photo,
    pooled over `draws` random galleries; None when the cell cannot be built."""
    genuine, right, strangers, with_probes = [], [], [], []
    for _ in range(draws):
        drawn = draw_gallery(persons, people, k, rng)
        if drawn is None:
            return None
        gallery, labels, probes, probe_labels, stranger = drawn
        nearest, distance = nearest_enrolled(X[probes], X[gallery], labels)
        genuine.append(distance)
        right.append(nearest == probe_labels)
        strangers.append(nearest_enrolled(X[stranger], X[gallery], labels)[1])
        with_probes.append(len(np.unique(probe_labels)))
    return {"people": people, "k": k, "faces": people * k, "draws": draws,
            "people_with_photos_to_name": float(np.mean(with_probes)),
            "genuine_probes": int(sum(map(len, genuine))), "stranger_photos": int(sum(map(len, strangers))),
            "_genuine": np.concatenate(genuine), "_right": np.concatenate(right), "_strangers": np.concatenate(strangers)}


def cell_at(cell: dict, threshold: float) -> dict[str, float]:
    """Per photo at one threshold: enrolled people's photos named right / wrong, strangers' photos named."""
    named = cell["_genuine"] <= threshold
    return {"threshold": float(threshold), "named_right": float(np.mean(named & cell["_right"])),
            "named_wrong": float(np.mean(named & ~cell["_right"])),
            "strangers_named": float(np.mean(cell["_strangers"] <= threshold))}


def cell_curve(cell: dict) -> dict:
    """Named right against strangers named as the threshold moves, and named right at the largest threshold that
    names at most each of CURVE_STRANGER_RATES of the strangers' photos."""
    at_rate = {}
    strangers = np.sort(cell["_strangers"])
    for rate in CURVE_STRANGER_RATES:
        first_too_many = strangers[min(len(strangers) - 1, int(rate * len(strangers)))]
        point = cell_at(cell, float(np.nextafter(first_too_many, -np.inf)))
        at_rate[f"{rate:g}"] = {"threshold": point["threshold"], "named_right": point["named_right"],
                                "strangers_named": point["strangers_named"]}
    return {"points": [cell_at(cell, t) for t in CURVE_THRESHOLDS], "at_stranger_rate": at_rate}


def open_set_by_gallery_size(splits: dict[str, dict[Path, np.ndarray]], key: str, args) -> dict:
    """Every (split, people, k) cell at facerec's gallery-size threshold and at the former fixed one, with its curve."""
    from facerec.thresholds import identify_threshold, threshold_for

    cells, not_built = [], []
    for split, vectors in splits.items():
        X = np.stack(list(vectors.values()))
        persons = np.array([person_of(p) for p in vectors])
        for k in args.photos_each:
            for people in args.gallery_sizes:
                rng = np.random.default_rng([args.seed, people, k])
                cell = open_set_cell(X, persons, people, k, max(5, args.draws // people), rng)
                if cell is None:
                    enough = int(np.sum(np.unique(persons, return_counts=True)[1] >= k))
                    not_built.append({"split": split, "people": people, "k": k,
                                      "why": f"{enough} people have {k}+ photos"})
                    continue
                default = identify_threshold(key, people * k)
                cells.append({"split": split, **{n: v for n, v in cell.items() if not n.startswith("_")},
                              "at_default": cell_at(cell, default),
                              "at_fixed_identify": cell_at(cell, threshold_for(key, "identify")),
                              "curve": cell_curve(cell)})
    return {"cells": cells, "not_built": not_built}


def print_open_set_by_gallery_size(report: dict, key: str) -> None:
    from facerec.thresholds import threshold_for

    fixed = threshold_for(key, "identify")
    print("\nopen set by gallery size, at identify's threshold for the gallery (and at the former fixed "
          f"{fixed}); per photo")
    print(f"{'split':<8} {'people':>6} {'k':>2} {'faces':>5} {'threshold':>9} | {'named right':>11} {'wrong':>6} "
          f"{'strangers named':>15} | fixed: {'right':>6} {'strangers':>9} | named right at strangers 0.5% / 1% / 2%"
          f" | draws, to name, probes, strangers")
    for c in report["cells"]:
        d, f, at = c["at_default"], c["at_fixed_identify"], c["curve"]["at_stranger_rate"]
        print(f"{c['split']:<8} {c['people']:>6} {c['k']:>2} {c['faces']:>5} {d['threshold']:>9.4f} | "
              f"{d['named_right']:>11.4f} {d['named_wrong']:>6.4f} {d['strangers_named']:>15.4f} | "
              f"       {f['named_right']:>6.4f} {f['strangers_named']:>9.4f} | "
              f"{at['0.005']['named_right']:.4f} / {at['0.01']['named_right']:.4f} / {at['0.02']['named_right']:.4f}"
              f"       | {c['draws']}, {c['people_with_photos_to_name']:.0f}, {c['genuine_probes']}, "
              f"{c['stranger_photos']}")
    for n in report["not_built"]:
        print(f"{n['split']:<8} {n['people']:>6} {n['k']:>2}  cannot be built: {n['why']}")


def check(vectors, pairs, lfw, thresholds: dict[str, float], seed: int) -> dict:
    from facerec.evaluation.metrics import accuracy_at

    d, same = pair_distances(pairs, vectors, lfw)
    D, S = all_image_pairs(vectors)
    return {
        "pair_accuracy_at_verify": accuracy_at(d, same, thresholds["verify"]),
        "far_at_identify": float(np.mean(D[~S] <= thresholds["identify"])),
        "tar_at_identify": float(np.mean(D[S] <= thresholds["identify"])),
        "open_set_at_identify": open_set(vectors, thresholds["identify"], seed),
        "clustering_at_cluster": cluster_quality(vectors, thresholds["cluster"]),
    }


# ------------------------------------------------------------------------------------------ main


def main(argv=None) -> int:
    args = parse_args(argv)
    from facerec.backbones import REGISTRY, backbone_of, embedding_id
    from facerec.evaluation.metrics import best_threshold, threshold_at_far
    from facerec.thresholds import threshold_for

    train_pairs, train_paths = split_images(args.lfw, "pairsDevTrain.txt")
    test_pairs, test_paths = split_images(args.lfw, "pairsDevTest.txt")
    vectors, seconds = embed_images(train_paths + test_paths, args)
    train = {p: vectors[p] for p in train_paths if p in vectors}
    test = {p: vectors[p] for p in test_paths if p in vectors}
    key = embedding_id(args.backbone, False if args.no_flip else None)

    d, same = pair_distances(train_pairs, train, args.lfw)
    verify, train_accuracy = best_threshold(d, same)
    D, S = all_image_pairs(train)
    identify = threshold_at_far(D[~S], args.far, D[S])
    cluster, tried = choose_cluster_threshold(train, args.cluster_precision, np.round(np.arange(0.04, 0.1201, 0.005), 3))
    chosen = {"verify": round(verify, 4), "identify": round(identify, 4), "cluster": cluster}
    current = {purpose: threshold_for(key, purpose) for purpose in ("verify", "identify", "cluster")}
    tail = fit_impostor_tail(D[~S])
    current_tail = REGISTRY[backbone_of(key)].impostor_tail
    report = {
        "embedding": key, "photos_without_face": len(train_paths) + len(test_paths) - len(vectors),
        "seconds_per_photo": seconds,
        "devtrain": {"pair_accuracy_at_verify": train_accuracy, "impostor_image_pairs": int((~S).sum()),
                     "genuine_image_pairs": int(S.sum()), "far_target": args.far,
                     "tar_at_identify": float(np.mean(D[S] <= identify)), "cluster_candidates": tried},
        "chosen": chosen, "current": current, "impostor_tail_chosen": tail, "impostor_tail_current": current_tail,
        "devtest_chosen": check(test, test_pairs, args.lfw, chosen, args.seed),
        "devtest_current": check(test, test_pairs, args.lfw, current, args.seed),
        "open_set_by_k": {split: [open_set(vectors, identify, args.seed, k) for k in (1, 2, 3)]
                          for split, vectors in (("DevTrain", train), ("DevTest", test))},
        "open_set_by_gallery_size": open_set_by_gallery_size({"DevTrain": train, "DevTest": test}, key, args),
        "cluster_methods": compare_cluster_methods({"DevTrain": train, "DevTest": test}, cluster),
    }
    print(f"\n{key}: thresholds chosen on DevTrain ({len(train)} photos; {report['devtrain']['impostor_image_pairs']:,} "
          f"different-person and {report['devtrain']['genuine_image_pairs']:,} same-person image pairs)")
    print(f"  verify   {chosen['verify']:.4f}  DevTrain pair accuracy {train_accuracy:.4f}")
    print(f"  identify {chosen['identify']:.4f}  FAR {args.far:g}, TAR {report['devtrain']['tar_at_identify']:.4f}")
    print(f"  cluster  {chosen['cluster']:.4f}  pairwise precision >= {args.cluster_precision}")
    print(f"  impostor tail (generalised Pareto below the 1 % quantile) {tail}; the registry's: {current_tail}")
    print(f"\n{'DevTest check':<25} | chosen thresholds | facerec/thresholds.py now")
    for label, fn in (
        ("pair accuracy", lambda r: r["pair_accuracy_at_verify"]),
        ("FAR per comparison", lambda r: r["far_at_identify"]),
        ("TAR per comparison", lambda r: r["tar_at_identify"]),
        ("open set: named right", lambda r: r["open_set_at_identify"]["named_correctly"]),
        ("open set: strangers named", lambda r: r["open_set_at_identify"]["strangers_named"]),
        ("clusters: precision", lambda r: r["clustering_at_cluster"]["precision"]),
        ("clusters: recall", lambda r: r["clustering_at_cluster"]["recall"]),
    ):
        print(f"{label:<25} | {fn(report['devtest_chosen']):<17.5f} | {fn(report['devtest_current']):.5f}")
    print(f"\nopen set at identify {chosen['identify']}: k photos enrolled for half the people with more than k")
    for split, runs in report["open_set_by_k"].items():
        for r in runs:
            print(f"  {split:<8} k={r['k']}  {r['enrolled_people']:>4} people  {r['genuine_probes']:>4} of their photos "
                  f"named right {r['named_correctly']:.4f}  {r['stranger_probes']:>5} stranger photos named "
                  f"{r['strangers_named']:.4f}")
    print_open_set_by_gallery_size(report["open_set_by_gallery_size"], key)
    print(f"\nclustering methods at cosine distance {cluster} (pairwise precision / recall)")
    for method, by_split in report["cluster_methods"].items():
        print(f"  {method:<17} " + "   ".join(f"{split} {q['precision']:.4f} / {q['recall']:.4f}"
                                               for split, q in by_split.items()))
    if args.out:
        args.out.write_text(json.dumps(report, indent=2))
        print(f"\nwrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
