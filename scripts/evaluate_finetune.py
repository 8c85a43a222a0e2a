#!/usr/bin/env python
"""Does fine-tuning dlib's pretrained ResNet help when you enroll only a few photos per person?

    python scripts/evaluate_finetune.py --lfw ../shared/lfw-view1 --out eval-finetune.json

On LFW View 1 (`../shared/lfw-view1/images/<Name>/*.jpg`), the people with at least --min-photos
photos are the enrolled people (--people of them, chosen with --seed; 0: all). For each k (--k, default
1 3 5), k photos of each are enrolled and every other photo of them is a probe; one photo of each of
--strangers people with fewer photos is a stranger probe (must come out `unknown`). Three ways to
name a face, all on the `dlib-keras` backbone (dlib's ResNet in Keras, the chips of the `dlib` backbone):

  nn         nearest neighbour on the frozen embeddings of the enrolled photos (threshold 0.10)
  head       a new head (facerec.heads.head.FaceHead) on the frozen embeddings of the enrolled photos and
             their augmented copies (flip, +-10 degrees, +-20 % brightness), as `facerec train --augment`
  fine-tune  that head, then the last --fine-tune-blocks residual blocks + the 128-d fc layer trained
             with it at --learning-rate on the same photos and copies, as `facerec train --fine-tune-blocks`

Reported: top-1 accuracy (correct name; `unknown` counts as wrong), the share of genuine probes that
came out unknown, closed-set top-1 (the best-scoring person, ignoring the unknown gate), the open-set
false-accept rate on strangers, and training seconds. Every photo is detected (MTCNN) and aligned once
(--cache FILE.npz keeps the chips); the frozen part of the network runs once per chip and copy, so
each method only trains what it trains. Prints a table and writes JSON (--out).
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

REPO = Path(__file__).resolve().parent.parent
BACKBONE = "dlib-keras"
# The unknown gate of nn and of the head, pinned: the README's table was measured at dlib's former default
# 0.10; facerec's defaults are stricter today (facerec/thresholds.py: identify 0.0564, verify 0.0858).
GATE = 0.10
METHODS = ("nn", "head", "fine-tune")


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--lfw", type=Path, default=REPO.parent / "shared" / "lfw-view1", help="LFW View 1 folder")
    p.add_argument("--k", type=int, nargs="+", default=[1, 3, 5], help="photos enrolled per person (default: 1 3 5)")
    p.add_argument("--min-photos", type=int, default=6, help="people with this many photos are enrolled (default: 6)")
    p.add_argument("--people", type=int, default=0, help="how many of them (default 0: all)")
    p.add_argument("--strangers", type=int, default=100, help="stranger probes, one photo per person (default: 100)")
    p.add_argument("--fine-tune-blocks", type=int, default=1, help="residual blocks to unfreeze (default: 1)")
    p.add_argument("--fine-tune-epochs", type=int, default=10, help="most fine-tuning epochs (default: 10)")
    p.add_argument("--learning-rate", type=float, default=None, help="fine-tuning learning rate (default: train's, 1e-5)")
    p.add_argument("--head-epochs", type=int, default=200, help="most head epochs, early stopping (default: 200)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--cache", type=Path, default=None, help="chips cache .npz (read if present, else written)")
    p.add_argument("--out", type=Path, default=None, help="write the JSON report here")
    return p.parse_args(argv)


# --------------------------------------------------------------------------------------------- data


def choose_photos(images: Path, min_photos: int, n_people: int, n_strangers: int,
                  seed: int) -> tuple[dict[str, list[Path]], dict[str, Path]]:
    """({person: photos} to enroll from, {stranger: one photo}), chosen reproducibly."""
    rng = np.random.default_rng(seed)
    folders = {d.name: sorted(d.glob("*.jpg")) for d in sorted(images.iterdir()) if d.is_dir()}
    rich = sorted(name for name, photos in folders.items() if len(photos) >= min_photos)
    poor = sorted(name for name, photos in folders.items() if 0 < len(photos) < min_photos)
    if n_people:
        rich = sorted(rng.choice(rich, size=min(n_people, len(rich)), replace=False).tolist())
    strangers = sorted(rng.choice(poor, size=min(n_strangers, len(poor)), replace=False).tolist())
    return {name: folders[name] for name in rich}, {name: folders[name][0] for name in strangers}


def detect_and_align(paths: list[Path], cache: Path | None) -> dict[Path, np.ndarray]:
    """{photo: 150x150 chip of its largest face} (photos without a face are left out)."""
    if cache and cache.is_file():
        data = np.load(cache, allow_pickle=False)
        chips = {Path(p): c for p, c in zip(data["paths"], data["chips"])}
        if all(p in chips or str(p) in set(data["no_face"]) for p in paths):
            return {p: chips[p] for p in paths if p in chips}
    from facerec.vision.imageio import load_image
    from facerec.recognition.pipeline import FacePipeline, largest_face

    pipeline = FacePipeline(BACKBONE)
    chips, no_face = {}, []
    for i, path in enumerate(paths):
        image = load_image(path)
        face = largest_face(pipeline.detect(image))
        if face is None:
            no_face.append(str(path))
        else:
            chips[path] = pipeline.backbone.align(image, face)
        if (i + 1) % 50 == 0:
            print(f"  detected {i + 1}/{len(paths)}", file=sys.stderr)
    if cache:
        from facerec.files.atomic import PRIVATE

        cache.parent.mkdir(parents=True, exist_ok=True)
        with open(cache, "wb") as f:  # face chips are biometric data: private file, plain arrays
            np.savez(f, paths=np.array([str(p) for p in chips], dtype=str), chips=np.stack(list(chips.values())),
                     no_face=np.array(no_face, dtype=str))
        os.chmod(cache, PRIVATE)
    return chips


# --------------------------------------------------------------------------------------------- runs


def trunk_features(trunk, chips: np.ndarray, variants: list[str]) -> np.ndarray:
    """(n, len(variants), ...) output of the frozen trunk for every chip and augmented copy."""
    from facerec.backbones.dlib_keras import preprocess_input
    from facerec.heads.augment import augmented_chips

    out = []
    for start in range(0, len(chips), 16):
        batch = np.concatenate([augmented_chips(c, variants) for c in chips[start:start + 16]])
        out.append(np.asarray(trunk.predict(preprocess_input(batch), batch_size=64, verbose=0)))
    features = np.concatenate(out)
    return features.reshape(len(chips), len(variants), *features.shape[1:])


def embed_top(top, features: np.ndarray) -> np.ndarray:
    from facerec.vectors import l2_normalise

    return l2_normalise(np.asarray(top.predict(features, batch_size=64, verbose=0)))


def score(truth: list[str], predicted, closed: list[str], enrolled: list[str], seconds: float,
          head=None, embeddings: np.ndarray | None = None) -> dict:
    from facerec.evaluation.metrics import identification_report

    report = identification_report(truth, list(predicted), enrolled)
    report.pop("confusion")
    genuine = [(t, c) for t, c in zip(truth, closed) if t in set(enrolled)]
    report["closed_set_top1"] = sum(t == c for t, c in genuine) / len(genuine)
    report["train_seconds"] = seconds
    if head is not None:  # how far known faces are from their person's centroid, against the head's gate
        rows = [i for i, t in enumerate(truth) if t in set(enrolled)]
        centroids = head.centroids_[np.searchsorted(head.classes_, [truth[i] for i in rows])]
        distances = 1.0 - np.sum(embeddings[rows] * centroids, axis=1)
        report["median_genuine_centroid_distance"] = float(np.median(distances))
        report["max_distance_gate"] = float(head.max_distance_)
    return report


def run_k(k: int, people: dict[str, list[Path]], strangers: list[Path], rows: dict, features: np.ndarray,
          base, args, seed: int) -> dict[str, dict]:
    """nn, head and fine-tune for one k. rows: {photo: row in features}; features[:, 0] is the original chip."""
    import keras

    from facerec.recognition.match import NearestNeighbourMatcher
    from facerec.heads.finetune import FINE_TUNE_LEARNING_RATE, fine_tune_top, prepare_fine_tuning
    from facerec.heads.head import FaceHead
    from facerec.types import UNKNOWN

    rng = np.random.default_rng(seed + k)
    enrolled, probes = [], []
    for name, photos in people.items():
        order = [photos[i] for i in rng.permutation(len(photos))]
        enrolled += [(name, p) for p in order[:k]]
        probes += [(name, p) for p in order[k:]]
    probes += [(UNKNOWN, p) for p in strangers]
    names = sorted(people)
    truth = [t for t, _ in probes]
    n_variants = features.shape[1]
    enrolled_rows = np.array([rows[p] for _, p in enrolled])
    probe_rows = np.array([rows[p] for _, p in probes])
    enrolled_names = [t for t, _ in enrolled]

    _, frozen_top, _ = prepare_fine_tuning(BACKBONE, base, args.fine_tune_blocks)
    frozen = embed_top(frozen_top, features[:, 0])
    results = {}

    start = time.perf_counter()
    nn = NearestNeighbourMatcher(backbone=BACKBONE, threshold=GATE).fit(frozen[enrolled_rows], enrolled_names)
    seconds = time.perf_counter() - start
    closed = [str(nn.classes_[i]) for i in nn.decision_function(frozen[probe_rows]).argmax(axis=1)]
    results["nn"] = score(truth, nn.predict(frozen[probe_rows]), closed, names, seconds)

    # head: every enrolled photo and its augmented copies; one group per photo for the validation split
    augmented = embed_top(frozen_top, features[enrolled_rows].reshape(-1, *features.shape[2:]))
    labels = np.repeat(enrolled_names, n_variants)
    groups = np.repeat(np.arange(len(enrolled_rows)), n_variants)
    start = time.perf_counter()
    head = FaceHead(backbone=BACKBONE, epochs=args.head_epochs, seed=args.seed, max_distance=GATE).fit(augmented, labels, groups=groups)
    seconds = time.perf_counter() - start
    closed = [head.classes_[i] for i in head.predict_proba(frozen[probe_rows]).argmax(axis=1)]
    results["head"] = score(truth, head.predict(frozen[probe_rows]), closed, names, seconds, head, frozen[probe_rows])
    results["head"]["epochs_run"] = head.metrics_["epochs_run"]

    # fine-tune: the same head, then the top of a fresh copy of the network with it
    model = keras.models.clone_model(base)
    model.set_weights(base.get_weights())
    _, top, unfrozen = prepare_fine_tuning(BACKBONE, model, args.fine_tune_blocks)
    is_original = np.tile(np.arange(n_variants) == 0, len(enrolled_rows))
    start = time.perf_counter()
    metrics = fine_tune_top(head, top, features[enrolled_rows].reshape(-1, *features.shape[2:]), labels, groups,
                            is_original, epochs=args.fine_tune_epochs,
                            learning_rate=args.learning_rate or FINE_TUNE_LEARNING_RATE)
    seconds = time.perf_counter() - start
    tuned = embed_top(top, features[probe_rows, 0])
    closed = [head.classes_[i] for i in head.predict_proba(tuned).argmax(axis=1)]
    results["fine-tune"] = score(truth, head.predict(tuned), closed, names, seconds, head, tuned)
    results["fine-tune"].update(epochs_run=metrics["epochs_run"], learning_rate=metrics["learning_rate"],
                                unfrozen_layers=sorted(unfrozen))
    for r in results.values():
        r.update(k=k, n_people=len(names), n_enrolled_photos=len(enrolled))
    return results


def fmt(value, digits: int = 3) -> str:
    return "n/a" if value is None or value != value else f"{value:.{digits}f}"


def main(argv=None) -> int:
    args = parse_args(argv)
    import logging

    logging.getLogger("tensorflow").setLevel(logging.ERROR)  # one predict per model and k: retracing is expected
    from facerec.backbones.dlib_keras import dlib_model, split_for_fine_tuning
    from facerec.cli.tables import print_table
    from facerec.device import tensorflow_device
    from facerec.heads.augment import resolve_variants

    images = args.lfw / "images"
    if not images.is_dir():
        print(f"no LFW images at {images}", file=sys.stderr)
        return 2
    started = time.perf_counter()
    people, strangers = choose_photos(images, args.min_photos, args.people, args.strangers, args.seed)
    paths = [p for photos in people.values() for p in photos] + list(strangers.values())
    print(f"{len(people)} people with >= {args.min_photos} photos, {len(strangers)} strangers, {len(paths)} photos",
          file=sys.stderr)
    start = time.perf_counter()
    chips = detect_and_align(paths, args.cache)
    detect_seconds = time.perf_counter() - start
    people = {name: [p for p in photos if p in chips] for name, photos in people.items()}
    stranger_photos = [p for p in strangers.values() if p in chips]

    base = dlib_model()
    trunk, _ = split_for_fine_tuning(base, args.fine_tune_blocks)
    variants = resolve_variants(True)
    order = list(chips)
    rows = {p: i for i, p in enumerate(order)}
    start = time.perf_counter()
    features = trunk_features(trunk, np.stack([chips[p] for p in order]), variants)
    trunk_seconds = time.perf_counter() - start

    results = {k: run_k(k, people, stranger_photos, rows, features, base, args, args.seed) for k in args.k}
    total_seconds = time.perf_counter() - started
    load = os.getloadavg()

    print(f"\nLFW View 1, backbone {BACKBONE} on {tensorflow_device()}: {len(people)} people, "
          f"{len(stranger_photos)} stranger probes, fine-tuning {args.fine_tune_blocks} block(s) + fc "
          f"at learning rate {args.learning_rate or 1e-5:g}, seed {args.seed}")
    table = []
    for k, by_method in results.items():
        for method in METHODS:
            r = by_method[method]
            table.append([k, method, r["n_genuine_probes"], fmt(r["top1_accuracy"]), fmt(r["genuine_rejected_rate"]),
                          fmt(r["closed_set_top1"]), r["n_impostor_probes"], fmt(r["open_set_far"]),
                          fmt(r["train_seconds"], 1)])
    print_table(["k", "method", "probes", "top-1", "came out unknown", "closed-set top-1", "strangers",
                 "open-set FAR", "train s"], table)
    print("\nmedian cosine distance of known faces to their person's centroid (the head's gate: "
          f"{fmt(results[args.k[0]]['head']['max_distance_gate'])}): "
          + ", ".join(f"k={k} head {fmt(r['head']['median_genuine_centroid_distance'])} / fine-tuned "
                      f"{fmt(r['fine-tune']['median_genuine_centroid_distance'])}" for k, r in results.items()))
    print(f"\ndetection + alignment {detect_seconds:.0f} s ({len(paths)} photos), frozen trunk "
          f"{trunk_seconds:.0f} s ({len(order)} chips x {len(variants)} copies), total {total_seconds:.0f} s; "
          f"load average {load[0]:.1f} on {os.cpu_count()} CPUs")

    if args.out:
        report = {"backbone": BACKBONE, "device": tensorflow_device(), "lfw": str(args.lfw),
                  "settings": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
                  "people": sorted(people), "strangers": [str(p) for p in stranger_photos],
                  "augmentations": variants, "results": {str(k): v for k, v in results.items()},
                  "seconds": {"detect_align": detect_seconds, "trunk": trunk_seconds, "total": total_seconds},
                  "load_average": load, "machine": {"python": platform.python_version(),
                                                    "platform": platform.platform(), "cpus": os.cpu_count()}}
        args.out.write_text(json.dumps(report, indent=1))
        print(f"wrote {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
