"""facerec evaluate FOLDER — accuracy on your own labelled photos, or LFW-style verification pairs."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from facerec import errors
from facerec.cli.commands._util import (COUNT, DISTANCE, SEED, add_min_face_size, number_in, pipeline_from_args, print_json,
                                    print_table, progress_enabled)

DESCRIPTION = """How well does recognition work on your photos? Nothing is written to the gallery.

Labelled folder (FOLDER/<Name>/*.jpg, folders starting with '_' are skipped): k photos of each person
are enrolled (in memory), every other photo is identified with --matcher. Reports top-1 accuracy on
enrolled people, how often their photos came out unknown, the open-set false-accept rate on people
who were not enrolled (people with k photos or fewer, plus --unknown-fraction of the others, chosen
with --seed), a confusion matrix, and verification metrics over all pairs of photos.

LFW pairs (--pairs pairs.txt, FOLDER holding <name>/<name>_0001.jpg): 10-fold cross-validated
verification accuracy (threshold chosen on 9 folds, tested on the 10th), ROC AUC, true-accept rate
at false-accept rates 1e-3 and 1e-2, and the best threshold. Images where no face is found are
counted and their pairs scored as failures (distance 2.0).

Your own tagged photos (--tags ALBUM_DIR instead of FOLDER): every named face region in the photos
(MWG / Microsoft Photo regions in XMP sidecars or embedded, .picasa.ini) is identified, leave one photo
out, by a matcher fitted in memory on the tagged faces of the other photos (your gallery is not used).
Prints per person: tagged faces, named right, named wrong, missed (unknown, or no face detected there).

--plot DIR writes roc.png and scores.png (same/different distance histograms with the threshold).

examples:
  facerec evaluate my_people/ --k 2
  facerec evaluate my_people/ --matcher svm --unknown-fraction 0.3 --json
  facerec evaluate lfw/ --pairs pairs.txt --plot eval-plots/
  facerec evaluate --tags ~/Pictures/tagged-in-digikam --json"""


def register(sub, common) -> None:
    from facerec.recognition import MATCHER_KINDS as MATCHERS

    p = sub.add_parser("evaluate", parents=common, help="accuracy on a labelled folder or LFW pairs",
                       description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("folder", type=Path, metavar="FOLDER", nargs="?")
    p.add_argument("--tags", type=Path, metavar="ALBUM_DIR",
                   help="accuracy on the face regions your photos are tagged with (instead of FOLDER)")
    p.add_argument("--picasa-contacts", type=Path, metavar="FILE",
                   help="Picasa's contacts.xml, which names the faces of .picasa.ini files (with --tags)")
    p.add_argument("--k", type=COUNT, default=3, help="photos enrolled per person (default: 3)")
    p.add_argument("--matcher", choices=MATCHERS, default="nn", help="how probes are matched (default: nn)")
    p.add_argument("--threshold", type=DISTANCE, metavar="D",
                   help="cosine distance above which a face is unknown (default: per backbone)")
    p.add_argument("--unknown-fraction", type=number_in(float, 0.0, 1.0), default=0.0, metavar="F",
                   help="also hold out this fraction of the people with enough photos as impostors (default: 0)")
    p.add_argument("--seed", type=SEED, default=0, help="random seed for the enrolled/probe split (default: 0)")
    p.add_argument("--pairs", type=Path, metavar="PAIRS_TXT", help="LFW-style pairs file: verification mode")
    p.add_argument("--plot", type=Path, metavar="DIR", help="write roc.png and scores.png here")
    add_min_face_size(p)
    p.set_defaults(func=run)


def run(args) -> int:
    from facerec.evaluation.folder import evaluate_folder, public_report
    from facerec.evaluation.pairs import evaluate_pairs
    from facerec.evaluation.plots import write_plots

    if (args.folder is None) == (args.tags is None):
        raise errors.UsageError("give either FOLDER or --tags ALBUM_DIR")
    if args.tags is not None and (args.pairs or args.plot):
        raise errors.UsageError("--pairs and --plot go with FOLDER, not --tags")
    pipeline = pipeline_from_args(args)
    progress = progress_enabled(args)
    if args.tags is not None:
        return run_tags(args, pipeline, progress)
    if args.pairs:
        report = evaluate_pairs(args.folder, args.pairs, pipeline, progress=progress)
        threshold = report.get("best_threshold")
    else:
        report = evaluate_folder(args.folder, pipeline, k=args.k, matcher=args.matcher,
                                    unknown_fraction=args.unknown_fraction, seed=args.seed,
                                    threshold=args.threshold, progress=progress)
        threshold = report.get("threshold")
    if args.plot:
        written = write_plots(report["_distances"], report["_same"], threshold, args.plot)
        report["plots"] = [str(p) for p in written]
    public = public_report(report)
    if args.json:
        print_json(public)
    elif args.pairs:
        print_pairs_report(public)
    else:
        print_folder_report(public)
    return errors.EXIT_OK


def run_tags(args, pipeline, progress: bool) -> int:
    from facerec.evaluation.tags import evaluate_tags

    report = evaluate_tags(args.tags, pipeline, matcher=args.matcher, threshold=args.threshold,
                           picasa_contacts=args.picasa_contacts, progress=progress)
    if args.json:
        print_json(report)
    else:
        print_tags_report(report)
    return errors.EXIT_OK


def print_tags_report(r: dict[str, Any]) -> None:
    for p in r["problems"]:
        print(f"  {p['path']}: {p['reason']}", file=sys.stderr)
    print(f"{r['album']}: {r['photos']} tagged photos, backbone {r['backbone']}, matcher {r['matcher']}, "
          f"threshold {_fmt(r['threshold'])}; leave one photo out")
    rows = [[p["name"], p["tagged"], p["photos"], p["right"], p["wrong"], p["missed"], p["not_detected"],
             _fmt(p["accuracy"], 3)] for p in r["people"]]
    t = r["totals"]
    rows.append(["(all)", t["tagged"], "", t["right"], t["wrong"], t["missed"], t["not_detected"], _fmt(t["accuracy"], 3)])
    print_table(["person", "tagged", "photos", "right", "wrong", "missed", "not detected", "accuracy"], rows)
    if r["mistakes"]:
        print(f"\nmistakes ({len(r['mistakes'])}):")
        for m in r["mistakes"][:20]:
            print(f"  {m['photo']}: {m['true']} -> {m['predicted']}")


def _fmt(value: Any, digits: int = 4) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return "n/a" if value != value else f"{value:.{digits}f}"
    return str(value)


def print_verification(v: dict[str, Any]) -> None:
    print(f"pairs: {v['n_pairs']} ({v['n_same']} same, {v['n_different']} different)")
    if "auc" not in v:
        print(f"  {v.get('note', '')}")
        return
    cv = v.get("cross_validation")
    if cv:
        print(f"  accuracy {_fmt(cv['accuracy'])} +- {_fmt(cv['accuracy_std'])} "
              f"({len(cv['fold_accuracies'])}-fold cross-validated, mean threshold {_fmt(cv['threshold'])})")
    print(f"  ROC AUC {_fmt(v['auc'])}   best threshold {_fmt(v['best_threshold'])} "
          f"(accuracy {_fmt(v['best_accuracy'])} on all pairs)")
    for far, t in v.get("tar_at_far", {}).items():
        note = "" if t["reliable"] else "  (too few different pairs to measure this FAR)"
        print(f"  TAR {_fmt(t['tar'])} at FAR {far} (threshold {_fmt(t['threshold'])}){note}")


def print_pairs_report(r: dict[str, Any]) -> None:
    print(f"images: {r['n_images']}, without a usable face: {r['n_failed_images']} "
          f"(their {r['n_failed_pairs']} pairs count as failures)")
    for path, reason in list(r["failed_images"].items())[:10]:
        print(f"  {path}: {reason}", file=sys.stderr)
    print_verification(r)
    for p in r.get("plots", []):
        print(f"wrote {p}")


def confusion_table(labels: list[str], matrix: list[list[int]]) -> tuple[list[str], list[list[Any]]]:
    """Headers and rows of the confusion matrix: full names on the rows, numbered; columns by those numbers (cut
    names are ambiguous: deepface_id03 and deepface_id05 both start with deepface_id0)."""
    headers = ["true \\ predicted"] + [str(i) for i in range(1, len(labels) + 1)]
    return headers, [[f"{i} {name}"] + list(row) for i, (name, row) in enumerate(zip(labels, matrix), 1)]


def print_folder_report(r: dict[str, Any]) -> None:
    print(f"{r['folder']}: {r['n_people']} people, {r['n_photos']} photos "
          f"({r['n_failed_photos']} without a usable face), backbone {r['backbone']}, matcher {r['matcher']}, "
          f"threshold {_fmt(r['threshold'])}")
    print(f"enrolled {r['n_enrolled_people']} people with k={r['k']} photos each; "
          f"{r['n_impostor_people']} not enrolled (impostors)")
    print_table(["metric", "value", "over"], [
        ["top-1 accuracy", _fmt(r["top1_accuracy"]), f"{r['n_genuine_probes']} probes of enrolled people"],
        ["  came out unknown", _fmt(r["genuine_rejected_rate"]), ""],
        ["  wrong name", _fmt(r["genuine_misidentified_rate"]), ""],
        ["open-set FAR", _fmt(r["open_set_far"]), f"{r['n_impostor_probes']} probes of people not enrolled"],
    ])
    labels, matrix = r["confusion"]["labels"], r["confusion"]["matrix"]
    if len(labels) <= 15:
        print("\nconfusion (rows: true, columns: predicted, numbered as the rows)")
        print_table(*confusion_table(labels, matrix))
    else:
        print(f"\nconfusion matrix: {len(labels)} x {len(labels)} (use --json to see it)")
    if r["mistakes"]:
        print(f"\nmistakes ({len(r['mistakes'])}):")
        for m in r["mistakes"][:20]:
            print(f"  {m['photo']}: {m['true']} -> {m['predicted']} (distance {_fmt(m['distance'])})")
    print("\nverification over all pairs of photos")
    print_verification(r["verification"])
    for p in r.get("plots", []):
        print(f"wrote {p}")
