"""facerec train — transfer learning: a classifier head on the enrolled people's embeddings."""
from __future__ import annotations

import argparse
from pathlib import Path

from facerec import errors
from facerec.cli.commands._util import COUNT, DISTANCE, NON_NEGATIVE, PROBABILITY, SEED, number_in, print_json, progress_enabled

DESCRIPTION = """Train a small neural network ("head": Dense(256, relu) -> Dropout -> softmax over the
enrolled people) on the embeddings of everyone in the gallery, the keras-vggface transfer-learning
recipe. The backbone stays frozen: the head learns from the embeddings stored by `facerec enroll`.
Then `facerec identify --matcher head` uses it; faces far from everyone enrolled are still `unknown`.

  --augment               also learn from flipped, rotated (+-10 degrees) and darker/brighter
                          (+-20 %) copies of each face; their embeddings are cached under
                          beside the gallery (<gallery stem>-cache/), so only the first run pays
  --fine-tune-blocks N    then unfreeze the last N blocks of the backbone and train them with the
                          head at learning rate 1e-5 on every photo and its augmented copies
                          (dlib-keras, vgg16, resnet50, senet50; for dlib use --backbone dlib-keras,
                          the same network in Keras: its last N residual blocks and the 128-d fc
                          layer are trained). The fine-tuned base is saved next to the head and
                          used to embed faces for the head. Not the default: measured on LFW
                          with 1-5 photos per person it did not help (README, "dlib's ResNet in
                          Keras"), and train warns when someone has that few photos.

The head is saved beside the gallery it was trained on, in <gallery stem>-heads/<embedding id>/
(head.keras, head.json with the people, thresholds, metrics and the gallery; all private), where
`facerec identify --matcher head --gallery ...` finds it from any folder. `facerec forget NAME`
deletes the heads that can name NAME.

examples:
  facerec train
  facerec train --augment --epochs 100
  facerec train --backbone resnet50 --weights rcmalli_vggface_tf_notop_resnet50.h5 --fine-tune-blocks 1
  facerec enroll people/ --backbone dlib-keras && facerec train --backbone dlib-keras --fine-tune-blocks 1

exit code: 0 trained, 1 fewer than 2 people enrolled, 4 fine-tuning needs weights that are missing."""


def register(sub, common) -> None:
    p = sub.add_parser("train", parents=common, help="train a classifier head on the enrolled people",
                       description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--augment", action="store_true", help="add flipped / rotated / brightness-changed copies")
    p.add_argument("--fine-tune-blocks", type=NON_NEGATIVE, default=0, metavar="N",
                   help="then fine-tune the last N blocks of a Keras backbone (default: 0, frozen: on LFW with 1-5 "
                        "photos per person fine-tuning did not name faces better and made more of them unknown; "
                        "README, \"dlib's ResNet in Keras\")")
    p.add_argument("--epochs", type=COUNT, default=200, help="most epochs for the head (early stopping; default: 200)")
    p.add_argument("--fine-tune-epochs", type=NON_NEGATIVE, default=10, metavar="N", help="most fine-tuning epochs (default: 10)")
    p.add_argument("--hidden", type=number_in(int, 1, 65536), nargs="+", default=[256], metavar="UNITS",
                   help="hidden layer sizes (default: 256)")
    p.add_argument("--dropout", type=number_in(float, 0.0, 1.0), default=0.5, help="dropout after each hidden layer (default: 0.5)")
    p.add_argument("--min-probability", type=PROBABILITY, default=0.5, metavar="P",
                   help="unknown when the top class probability is below P (default: 0.5)")
    p.add_argument("--max-distance", type=DISTANCE, default=None, metavar="D",
                   help="unknown when the face is farther than D (cosine distance) from the predicted person's "
                        "centroid (default: the backbone's identify threshold, as the nn matcher's)")
    p.add_argument("--seed", type=SEED, default=0, help="random seed (default: 0)")
    p.add_argument("--out", type=Path, default=None, metavar="PATH",
                   help="where to save (a .keras file or a folder; default: <gallery stem>-heads/<embedding id>/ beside the "
                        "gallery, where identify --matcher head looks)")
    p.set_defaults(func=run)


def run(args) -> int:
    from facerec.gallery.store import Gallery
    from facerec.heads.train import train_from_gallery

    if args.fine_tune_blocks < 0 or args.epochs < 1:
        raise errors.FacerecError("--epochs must be >= 1 and --fine-tune-blocks >= 0")
    with Gallery(args.gallery, create=False) as gallery:
        head = train_from_gallery(
            gallery, args.backbone, embedding=args.embedding, augment=args.augment, fine_tune_blocks=args.fine_tune_blocks,
            epochs=args.epochs, fine_tune_epochs=args.fine_tune_epochs, weights=args.weights,
            progress=progress_enabled(args), hidden=args.hidden, dropout=args.dropout,
            min_probability=args.min_probability, max_distance=args.max_distance, seed=args.seed,
        )
    path = head.save(args.out)
    summary = {"path": str(path), **{k: v for k, v in head.to_json().items() if k != "centroids"}}
    if args.json:
        print_json(summary)
    else:
        print_summary(summary)
    return errors.EXIT_OK


def print_summary(summary: dict) -> None:
    m = summary["metrics"]
    people = summary["samples_per_class"]
    print(f"trained a head for {len(people)} people on {m['n_samples']} samples from {m['n_photos']} photos "
          f"(backbone {summary['backbone']}, augmentations: {', '.join(summary['augmentations'])})")
    line = f"epochs {m['epochs_run']} (best {m['best_epoch']})  train accuracy {m['accuracy']:.3f}  loss {m['loss']:.4f}"
    if m.get("n_validation"):
        line += f"  validation accuracy {m['val_accuracy']:.3f} on {m['n_validation']} samples"
    else:
        line += "  (no validation split: fewer than 5 photos for some person)"
    print(line)
    if "fine_tune" in m:
        ft = m["fine_tune"]
        print(f"fine-tuned the last {summary['fine_tuned_blocks']} block(s): {len(ft['unfrozen_layers'])} layers, "
              f"learning rate {ft['learning_rate']:g}, {ft['n_train']} training chips "
              f"({', '.join(ft.get('augmentations', ['orig']))}), epochs {ft['epochs_run']}, accuracy {ft['accuracy']:.3f}")
    print(f"unknown when probability < {summary['min_probability']:.2f} or centroid distance > {summary['max_distance']:.3f}")
    print(f"saved to {summary['path']}")

