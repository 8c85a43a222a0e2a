"""facerec info — what this installation can do: backend, devices, backbones, weights, gallery."""
from __future__ import annotations

import argparse

from facerec.cli.commands._util import print_json, print_table

DESCRIPTION = """Show the Keras backend, TensorFlow version, GPUs seen and the device used, every backbone and
every face detector and whether its weights are present (and where), the dlib extra, and the gallery file with how many faces are
enrolled for --backbone and the identify threshold that follows from it (without --threshold)."""


def register(sub, common) -> None:
    p = sub.add_parser("info", parents=common, help="backend, GPU, backbones and weights",
                       description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.set_defaults(func=run)


def collect_info(gallery_path, embedding: str | None = None) -> dict:
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
        "detectors": detector_status(),
        "gallery": {"path": str(gallery_path), "exists": gallery_path.exists(),
                    **(gallery_identify(gallery_path, embedding) if embedding and gallery_path.exists() else {})},
    }


def gallery_identify(gallery_path, embedding: str) -> dict:
    """How many faces and people are enrolled for `embedding`, and the identify threshold that follows from it."""
    from facerec.errors import FacerecError
    from facerec.evaluation.calibrate import effective_identify_threshold
    from facerec.gallery.store import Gallery

    try:
        with Gallery(gallery_path, create=False) as gallery:
            _, names, _ = gallery.embeddings(embedding)
    except FacerecError as e:  # unreadable or foreign file: info still reports the rest
        return {"error": str(e)}
    return {"embedding": embedding, "faces": len(names), "people": len(set(names)),
            **effective_identify_threshold(embedding, len(names))}


def backbone_status() -> list[dict]:
    """One row per backbone and weights file, from each registry entry's status and device hooks."""
    from facerec.backbones import REGISTRY

    rows = []
    for spec in REGISTRY.values():
        device = spec.device_name()
        for status in spec.weights_status():
            rows.append({"name": spec.name, "embedding_size": spec.embedding_size, "device": device,
                         "fine_tunable": spec.fine_tunable, **alignments(spec), **status})
    return rows


def alignments(spec) -> dict:
    """Which detectors' boxes the backbone's alignment was fitted on (null: any detector's), and what the others get."""
    fitted = list(spec.fitted_detectors) if spec.fitted_detectors is not None else None
    return {"alignment": spec.alignment, "fitted_detectors": fitted,
            "generic_alignment": spec.generic_alignment if fitted is not None else None}


def detector_status() -> list[dict]:
    """One row per registered detector, from its entry's status and device hooks."""
    from facerec.detectors import REGISTRY, default_detector

    chosen = default_detector()  # FACEREC_DETECTOR, else MTCNN
    return [{"name": spec.name, "default": spec.name == chosen, "landmarks": spec.landmarks,
             "device": spec.device_name(), **spec.weights_status()} for spec in REGISTRY.values()]


def run(args) -> int:
    info = collect_info(args.gallery, args.embedding)
    if args.json:
        print_json(info)
        return 0
    print(f"facerec {info['facerec']}  keras {info['keras']} ({info['keras_backend']} backend)  tensorflow {info['tensorflow']}")
    gpus = ", ".join(info["gpus"]) or "none"
    print(f"GPUs seen: {gpus}; running on {info['device']}")
    print(f"gallery: {info['gallery']['path']}{'' if info['gallery']['exists'] else ' (not created yet)'}")
    print_gallery_identify(info["gallery"])
    print()
    print_table(["backbone", "variant", "present", "runs on", "weights"],
                [[b["name"], b.get("variant", ""), "yes" if b["present"] else "no", b.get("device", ""), b["weights"]]
                 for b in info["backbones"]])
    print()
    print_table(["detector", "present", "runs on", "weights"],
                [[d["name"] + (" (default)" if d["default"] else ""), "yes" if d["present"] else "no", d["device"],
                  d["weights"]] for d in info["detectors"]])
    return 0


def print_gallery_identify(gallery: dict) -> None:
    if "error" in gallery:
        print(f"  cannot read it: {gallery['error']}")
    elif "faces" in gallery:
        print(f"  {gallery['embedding']}: {gallery['faces']} faces of {gallery['people']} people enrolled; identify "
              f"threshold {gallery['identify_threshold']:.4f} ({gallery['identify_rule']})")
