#!/usr/bin/env python
"""Benchmark: MTCNN detection (ms per image) and each backbone's embedding (ms per face) at batch 1/8/32.

    python scripts/bench_embed.py --images tests/data/core --out bench-embed.json
    python scripts/bench_embed.py --images ../shared/faces --backbones dlib resnet50 --repeats 3

VGGFace backbones use their real weights when present (cache, FACEREC_WEIGHTS_DIR or --weights-dir),
otherwise random weights of the same architecture (same speed) — the table says which.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("FACEREC_OFFLINE", "1")  # time the weights present; never download them
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402

from facerec.vision.imageio import is_image_path, load_image  # noqa: E402


def collect_images(root: Path, limit: int) -> list[Path]:
    paths = sorted(p for p in root.rglob("*") if p.is_file() and is_image_path(p))
    return paths[:limit]


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def bench_detection(images: list[np.ndarray], repeats: int) -> dict:
    from facerec.vision.detect import Detector

    detector = Detector()
    detector.detect(images[0])  # warm-up: graph tracing and weight loading are not per-image costs
    faces, start = 0, time.perf_counter()
    for _ in range(repeats):
        for img in images:
            faces += len(detector.detect(img))
    elapsed = time.perf_counter() - start
    n = len(images) * repeats
    return {"images": n, "faces": faces, "ms_per_image": 1000 * elapsed / n, "images_per_s": n / elapsed}


def make_backbone(name: str, weights_dir: Path | None):
    from facerec.backbones import get_backbone
    from facerec.errors import FacerecError

    if name == "dlib":
        return get_backbone("dlib"), "shipped"
    try:
        if weights_dir:
            os.environ["FACEREC_WEIGHTS_DIR"] = str(weights_dir)
        return get_backbone(name), "pretrained"
    except FacerecError:
        return get_backbone(name, weights="random"), "random (weights not present; same speed)"


def bench_backbone(name: str, chips_by_size: dict[int, np.ndarray], batches: list[int], repeats: int, weights_dir) -> list[dict]:
    backbone, weights = make_backbone(name, weights_dir)
    pool = chips_by_size[backbone.input_size]
    rows = []
    for batch in batches:
        chips = pool[np.arange(batch) % len(pool)]
        backbone.embed(chips)  # warm-up for this batch size
        start = time.perf_counter()
        for _ in range(repeats):
            backbone.embed(chips)
        elapsed = time.perf_counter() - start
        faces = batch * repeats
        rows.append({"backbone": name, "weights": weights, "batch": batch, "ms_per_face": 1000 * elapsed / faces,
                     "faces_per_s": faces / elapsed, "embedding_size": backbone.embedding_size,
                     "peak_rss_mb": round(peak_rss_mb())})
    return rows


def aligned_chips(images: list[np.ndarray], sizes: set[int]) -> dict[int, np.ndarray]:
    from facerec.vision.align import align_face
    from facerec.backbones import get_backbone
    from facerec.vision.detect import Detector

    detector = Detector()
    found = [(img, f) for img in images for f in detector.detect(img)]
    if not found:
        raise SystemExit("no faces found in the benchmark images")
    chips = {size: np.stack([align_face(img, f.landmarks_array(), size=size) for img, f in found]) for size in sizes}
    try:  # dlib aligns with its own predictor
        dlib_backbone = get_backbone("dlib")
        chips[150] = np.stack([dlib_backbone.align(img, f) for img, f in found])
    except Exception:
        pass
    return chips


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=Path, default=Path(__file__).resolve().parent.parent / "tests" / "data" / "core")
    parser.add_argument("--limit", type=int, default=12, help="images used (default: 12)")
    parser.add_argument("--backbones", nargs="+", default=["dlib", "vgg16", "resnet50", "senet50"])
    parser.add_argument("--batches", nargs="+", type=int, default=[1, 8, 32])
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--weights-dir", type=Path)
    parser.add_argument("--out", type=Path, default=Path("bench-embed.json"))
    args = parser.parse_args()

    from facerec.device import tensorflow_device

    paths = collect_images(args.images, args.limit)
    images = [load_image(p) for p in paths]
    detection = bench_detection(images, args.repeats)
    chips = aligned_chips(images, {224})
    rows = []
    for name in args.backbones:
        rows += bench_backbone(name, chips, args.batches, args.repeats, args.weights_dir)

    print(f"device: {tensorflow_device()}  cpu cores: {os.cpu_count()}  images: {len(images)} from {args.images}")
    print(f"\nMTCNN detection: {detection['ms_per_image']:.1f} ms/image ({detection['images_per_s']:.2f} images/s), "
          f"{detection['faces']} faces")
    print(f"\n{'backbone':<10} {'batch':>5} {'ms/face':>9} {'faces/s':>9} {'peak MB':>8}  weights")
    for r in rows:
        print(f"{r['backbone']:<10} {r['batch']:>5} {r['ms_per_face']:>9.1f} {r['faces_per_s']:>9.1f} {r['peak_rss_mb']:>8}  {r['weights']}")
    result = {"machine": {"platform": platform.platform(), "cpus": os.cpu_count(), "device": tensorflow_device()},
              "detection": detection, "embedding": rows, "images": [str(p) for p in paths]}
    args.out.write_text(json.dumps(result, indent=2))
    print(f"\nwritten: {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
