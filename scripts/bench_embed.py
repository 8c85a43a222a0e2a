#!/usr/bin/env python
"""Benchmark: MTCNN detection (ms per image) and each backbone's embedding (ms per face) at batch 1/2/8/32.

    python scripts/bench_embed.py --images tests/data/core --out bench-embed.json
    python scripts/bench_embed.py --images ../shared/faces --backbones dlib resnet50 --repeats 3
    python scripts/bench_embed.py --backbones dlib dlib-keras --dlib-engines dlib,onnx,opencv --out bench-embed-dlib.json

Batch 2 is a face and its mirror image (test-time flip, facerec's default). The `dlib` backbone is timed
once per --dlib-engines entry: "dlib" (dlib's own compute_face_descriptor, before issue 10), "onnx" (ONNX
Runtime, the default with the `onnx` extra) and "opencv" (the same ONNX graph in OpenCV's DNN module, for
comparison only); each row gives the largest difference of its descriptors from dlib's own on the same chips.

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


class OpenCvDlibNetwork:
    """dlib's network as facerec's ONNX graph run by OpenCV's DNN module (one thread), for comparison."""

    def __init__(self) -> None:
        import cv2

        from facerec.backbones.dlib_backbone import import_dlib_models
        from facerec.backbones.dlib_net import read_dlib_network
        from facerec.backbones.dlib_onnx import build_onnx

        cv2.setNumThreads(1)
        ops, _ = read_dlib_network(import_dlib_models()[1].face_recognition_model_location())
        self.net = cv2.dnn.readNetFromONNX(np.frombuffer(build_onnx(ops), np.uint8))

    def descriptors(self, chips: np.ndarray) -> np.ndarray:
        self.net.setInput(np.ascontiguousarray(chips, dtype=np.uint8))
        return self.net.forward()


def make_dlib_backbone(engine: str):
    from facerec.backbones.dlib_backbone import DlibBackbone

    if engine == "opencv":
        backbone = DlibBackbone(engine="dlib")
        backbone.engine, backbone._network = "opencv", OpenCvDlibNetwork()
        return backbone
    return DlibBackbone(engine=engine)


def make_backbone(name: str, weights_dir: Path | None):
    from facerec.backbones import get_backbone
    from facerec.errors import FacerecError

    if name.startswith("dlib:"):
        return make_dlib_backbone(name.split(":", 1)[1]), "shipped"
    if name == "dlib":
        return get_backbone("dlib"), "shipped"
    try:
        if weights_dir:
            os.environ["FACEREC_WEIGHTS_DIR"] = str(weights_dir)
        return get_backbone(name), "pretrained"
    except FacerecError:
        return get_backbone(name, weights="random"), "random (weights not present; same speed)"


def bench_backbone(name: str, chips_by_size: dict[int, np.ndarray], batches: list[int], repeats: int, weights_dir,
                   reference: np.ndarray | None = None) -> list[dict]:
    """ms per face at each batch size; `reference`: dlib's own descriptors of the 150-px chips, to compare with."""
    backbone, weights = make_backbone(name, weights_dir)
    pool = chips_by_size[backbone.input_size]
    raw = raw_descriptors(backbone, pool) if reference is not None and backbone.input_size == 150 else None
    difference = None if raw is None else float(np.abs(raw - reference).max())
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
                     "peak_rss_mb": round(peak_rss_mb()), "max_abs_diff_vs_dlib": difference})
    return rows


def raw_descriptors(backbone, chips: np.ndarray) -> np.ndarray | None:
    """dlib's network's descriptors before normalisation, for the dlib backbones (None for the others)."""
    network = backbone if hasattr(backbone, "descriptors") else getattr(backbone, "_network", None)
    return None if network is None else np.asarray(network.descriptors(chips), dtype=np.float32)


def dlib_reference(chips: np.ndarray) -> np.ndarray | None:
    """dlib's own descriptors of the chips (compute_face_descriptor), or None without the dlib extra."""
    try:
        return raw_descriptors(make_dlib_backbone("dlib"), chips)
    except Exception:  # noqa: BLE001 - no dlib: nothing to compare with
        return None


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
    parser.add_argument("--batches", nargs="+", type=int, default=[1, 2, 8, 32])
    parser.add_argument("--dlib-engines", default="onnx",
                        help="engines the dlib backbone is timed with, comma-separated: dlib, onnx, opencv, auto "
                             "(default: %(default)s)")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--weights-dir", type=Path)
    parser.add_argument("--out", type=Path, default=Path("bench-embed.json"))
    args = parser.parse_args()

    from facerec.device import tensorflow_device

    paths = collect_images(args.images, args.limit)
    images = [load_image(p) for p in paths]
    detection = bench_detection(images, args.repeats)
    chips = aligned_chips(images, {224})
    reference = dlib_reference(chips[150]) if 150 in chips else None
    names = [n for b in args.backbones for n in ([f"dlib:{e}" for e in args.dlib_engines.split(",")] if b == "dlib" else [b])]
    rows = []
    for name in names:
        rows += bench_backbone(name, chips, args.batches, args.repeats, args.weights_dir, reference)

    print(f"device: {tensorflow_device()}  cpu cores: {os.cpu_count()}  images: {len(images)} from {args.images}")
    print(f"\nMTCNN detection: {detection['ms_per_image']:.1f} ms/image ({detection['images_per_s']:.2f} images/s), "
          f"{detection['faces']} faces")
    print(f"\n{'backbone':<12} {'batch':>5} {'ms/face':>9} {'faces/s':>9} {'peak MB':>8} {'vs dlib':>8}  weights")
    for r in rows:
        diff = "-" if r["max_abs_diff_vs_dlib"] is None else f"{r['max_abs_diff_vs_dlib']:.1e}"
        print(f"{r['backbone']:<12} {r['batch']:>5} {r['ms_per_face']:>9.1f} {r['faces_per_s']:>9.1f} {r['peak_rss_mb']:>8} "
              f"{diff:>8}  {r['weights']}")
    load = os.getloadavg()
    print(f"\nload average {load[0]:.1f} {load[1]:.1f} {load[2]:.1f} on {os.cpu_count()} cores; vs dlib: largest absolute "
          f"difference of the raw descriptors from dlib's own compute_face_descriptor on the same {len(chips.get(150, []))} chips")
    result = {"machine": {"platform": platform.platform(), "cpus": os.cpu_count(), "device": tensorflow_device()},
              "load_average": [round(v, 2) for v in load],
              "detection": detection, "embedding": rows, "images": [str(p) for p in paths]}
    args.out.write_text(json.dumps(result, indent=2))
    print(f"\nwritten: {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
