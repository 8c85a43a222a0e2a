#!/usr/bin/env python
"""What confirming facerec's suggestions buys: rounds of review on LFW View 1 DevTest (issue 19).

    python scripts/evaluate_confirm_rounds.py --lfw ../shared/lfw-view1 --cache lfw-view1-dlib.npz --out rounds.json

The open set of facerec/thresholds.py (scripts/choose_thresholds.py, k = 1): every DevTest image is embedded once
with facerec's default pipeline; half of the people with at least 2 photos (drawn with --seed) are enrolled with
their first photo; the "album" is the rest of their photos plus every photo of everyone else (strangers, whose
photos should stay unknown). All of it lives in a temporary gallery and goes through facerec's own code:

- naming the album: a nearest-neighbour matcher fitted on the gallery's samples, at identify's threshold for the
  gallery's size (it grows stricter as samples are added), with the review's decisions honoured as `facerec tag`
  honours them (a confirmed face keeps its name, a rejected name is never given again);
- each round the reviewer looks at facerec's suggestions -- album faces facerec named P and nobody confirmed,
  best (nearest) first, at most --per-round per person -- and confirms the right ones and rejects the wrong ones
  (facerec.gallery.decisions.confirm / reject; a confirmed face becomes a sample of P by facerec.gallery.learning's
  cap and diversity rule); then the album is named again.

Reported after rounds 0 (before any review), 1, 2, 3: named right (the enrolled people's album photos named as
who they are, the confirmed ones included), strangers named (strangers' photos given any name), and the same with
learning switched off (CONFIRMED_SAMPLE_CAP = 0: decisions only), so the difference is what the samples buy.
Markdown table on stdout, everything in --out JSON. Embeddings are cached in --cache (np.savez, never pickled;
the format of scripts/choose_thresholds.py's cache, so one cache serves both).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

PLACEHOLDER_BOX = (0, 0, 250, 250)  # one face per LFW photo; the cache keeps embeddings, not boxes


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--lfw", type=Path, required=True, help="LFW View 1 folder (images/ and pairsDevTest.txt)")
    p.add_argument("--backbone", default="dlib")
    p.add_argument("--cache", type=Path, default=None, help="embeddings cache .npz (read if it has every image, else written)")
    p.add_argument("--out", type=Path, default=None, help="write the results as JSON")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--per-round", type=int, default=1, help="suggestions reviewed per person per round (S)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("-q", "--quiet", action="store_true")
    return p.parse_args(argv)


# ------------------------------------------------------------------------------------------ data


def devtest_paths(lfw: Path) -> list[Path]:
    from facerec.evaluation.pairs import lfw_image_path, parse_pairs

    pairs = parse_pairs(lfw / "pairsDevTest.txt")
    return list(dict.fromkeys(lfw_image_path(lfw / "images", n, i).resolve() for p in pairs
                              for n, i in ((p.name1, p.index1), (p.name2, p.index2))))


def embed(paths: list[Path], args) -> dict[Path, np.ndarray]:
    """Main-face embeddings with the default pipeline, from --cache when it holds every image."""
    from facerec.evaluation.pairs import embed_paths, main_face_embedding
    from facerec.recognition.pipeline import FacePipeline

    if args.cache is not None and args.cache.is_file():
        with np.load(args.cache, allow_pickle=False) as data:
            stored = {str(Path(p).resolve()): v for p, v in zip(data["paths"].tolist(), data["vectors"])}
            missing = {str(Path(p).resolve()) for p in data["missing"].tolist() if p}
        if all(str(p) in stored or str(p) in missing for p in paths):
            return {p: stored[str(p)] for p in paths if str(p) in stored}
    pipeline = FacePipeline(args.backbone)
    vectors, failures = embed_paths(paths, lambda p: main_face_embedding(pipeline, p), progress=not args.quiet)
    if args.cache is not None:
        np.savez(args.cache, paths=np.array([str(p) for p in vectors]), vectors=np.stack(list(vectors.values())),
                 missing=np.array([str(p) for p in failures] or [""]))
    return vectors


def person_of(path: Path) -> str:
    return path.parent.name


def split(vectors: dict[Path, np.ndarray], seed: int) -> tuple[list[Path], list[Path], set[str]]:
    """(enrolled photos, album photos, enrolled people): k = 1, as scripts/choose_thresholds.py's open set."""
    rng = np.random.default_rng(seed)
    by_person: dict[str, list[Path]] = {}
    for p in vectors:
        by_person.setdefault(person_of(p), []).append(p)
    several = sorted(n for n, ps in by_person.items() if len(ps) > 1)
    enrolled = set(rng.choice(several, size=len(several) // 2, replace=False).tolist())
    gallery, album = [], []
    for name, ps in sorted(by_person.items()):
        ps = sorted(ps)
        gallery += ps[:1] if name in enrolled else []
        album += ps[1:] if name in enrolled else ps
    return gallery, album, enrolled


# ------------------------------------------------------------------------------------------ one run


def face():
    from facerec.types import Face

    return Face(PLACEHOLDER_BOX, 1.0, tuple((50.0 + 30 * i, 100.0) for i in range(5)))


def name_album(gallery, key: str, album: list[Path], vectors: dict[Path, np.ndarray]) -> float:
    """Name every album photo as `facerec tag` would now; returns the identify threshold used."""
    from facerec.gallery.decisions import honour, verdicts_for_media
    from facerec.recognition.match import NearestNeighbourMatcher
    from facerec.thresholds import identify_threshold

    X, names, _ = gallery.embeddings(key)
    threshold = identify_threshold(key, len(names))
    matcher = NearestNeighbourMatcher(threshold=threshold).fit(X, names)
    identities = matcher.predict_identities(np.stack([vectors[p] for p in album]))
    for path, identity in zip(album, identities):
        found = face()
        (identity,), _ = honour(verdicts_for_media(gallery, str(path)), [found], [identity])
        gallery.record_media(str(path), f"lfw-{path.name}", 0.0, 1, key, gallery.version(), "ok", "",
                             [{"face": found, "embedding": vectors[path], "predicted_name": identity.name,
                               "score": identity.score, "distance": identity.distance}])
    return threshold


def album_faces(gallery, key: str) -> list[dict]:
    from facerec.gallery.face_list import list_faces

    return [f for f in list_faces(gallery, key) if f["kind"] == "album"]


def review(gallery, key: str, per_round: int) -> tuple[int, int]:
    """One round: the suggestions (named by facerec, not confirmed; nearest first, at most `per_round` per person),
    the right ones confirmed and the wrong ones rejected. Returns (confirmed, rejected)."""
    from facerec.gallery.decisions import confirm, reject

    suggestions: dict[str, list[dict]] = {}
    for f in album_faces(gallery, key):
        if f["named_by"] == "facerec":
            suggestions.setdefault(f["name"], []).append(f)
    right, wrong = [], []
    for name, faces in suggestions.items():
        for f in sorted(faces, key=lambda f: f["distance"])[:per_round]:
            (right if person_of(Path(f["path"])) == name else wrong).append(f["id"])
    if right:
        confirm(gallery, right)
    if wrong:
        reject(gallery, wrong)
    return len(right), len(wrong)


def measure(gallery, key: str, enrolled: set[str], right_at_first: set[str] | None = None) -> dict[str, float]:
    """Rates over the album's photos; `right_at_first`: the photos named right in round 0 (None: this is round 0),
    so that the photos named right since then are counted apart (only a new sample can name them)."""
    from facerec.types import UNKNOWN

    faces = album_faces(gallery, key)
    known = [f for f in faces if person_of(Path(f["path"])) in enrolled]
    strangers = [f for f in faces if person_of(Path(f["path"])) not in enrolled]
    right = {f["path"] for f in known if f["name"] == person_of(Path(f["path"]))}
    rest = [f["path"] for f in known if f["path"] not in (right if right_at_first is None else right_at_first)]
    return {"named_right": len(right) / max(1, len(known)), "named_right_paths": sorted(right),
            "unnamed_at_round_0_named_right": float(np.mean([p in right for p in rest])) if rest else 0.0,
            "named_wrong": float(np.mean([f["name"] not in (UNKNOWN, person_of(Path(f["path"]))) for f in known])),
            "strangers_named": float(np.mean([f["name"] != UNKNOWN for f in strangers])),
            "genuine_photos": len(known), "stranger_photos": len(strangers)}


def run(vectors: dict[Path, np.ndarray], seed: int, rounds: int, per_round: int, key: str, learn: bool) -> list[dict]:
    """Rounds 0..`rounds` in a fresh temporary gallery; learning off = CONFIRMED_SAMPLE_CAP 0 (decisions only)."""
    import facerec.thresholds
    from facerec.gallery.store import Gallery

    enrolled_photos, album, enrolled = split(vectors, seed)
    cap = facerec.thresholds.CONFIRMED_SAMPLE_CAP
    facerec.thresholds.CONFIRMED_SAMPLE_CAP = cap if learn else 0
    try:
        with tempfile.TemporaryDirectory() as folder, Gallery(Path(folder) / "rounds.sqlite") as gallery:
            for path in enrolled_photos:
                gallery.record_photo(person_of(path), str(path), f"lfw-{path.name}", 0.0, 1, "ok", embedding_id=key,
                                     face=face(), embedding=vectors[path])
            results, confirmed, rejected, first = [], 0, 0, None
            for round_ in range(rounds + 1):
                if round_:
                    done = review(gallery, key, per_round)
                    confirmed, rejected = confirmed + done[0], rejected + done[1]
                threshold = name_album(gallery, key, album, vectors)
                results.append({"round": round_, "confirmed": confirmed, "rejected": rejected,
                                "samples": len(gallery.embeddings(key)[1]), "identify_threshold": threshold,
                                "enrolled_people": len(enrolled), **measure(gallery, key, enrolled, first)})
                first = set(results[0]["named_right_paths"])
            for r in results:
                del r["named_right_paths"]
            return results
    finally:
        facerec.thresholds.CONFIRMED_SAMPLE_CAP = cap


def markdown(learning: list[dict], decisions_only: list[dict]) -> str:
    lines = ["| round | confirmed | rejected | samples | identify threshold | named right | of those unnamed at "
             "round 0 | strangers named | decisions only: named right | strangers named |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for a, b in zip(learning, decisions_only):
        lines.append(f"| {a['round']} | {a['confirmed']} | {a['rejected']} | {a['samples']} | "
                     f"{a['identify_threshold']:.4f} | {a['named_right']:.1%} | "
                     f"{a['unnamed_at_round_0_named_right']:.1%} | {a['strangers_named']:.1%} | "
                     f"{b['named_right']:.1%} | {b['strangers_named']:.1%} |")
    return "\n".join(lines)


def main(argv=None) -> int:
    from facerec.backbones import embedding_id
    from facerec.thresholds import CONFIRMED_SAMPLE_CAP, duplicate_distance

    args = parse_args(argv)
    if not (args.lfw / "pairsDevTest.txt").is_file():
        print(f"no pairsDevTest.txt in {args.lfw}", file=sys.stderr)
        return 2
    key = embedding_id(args.backbone)
    start = time.perf_counter()
    vectors = embed(devtest_paths(args.lfw), args)
    learning = run(vectors, args.seed, args.rounds, args.per_round, key, learn=True)
    decisions_only = run(vectors, args.seed, args.rounds, args.per_round, key, learn=False)
    print(f"LFW View 1 DevTest, {key}: {learning[0]['enrolled_people']} people enrolled with 1 photo each; album "
          f"{learning[0]['genuine_photos']} of their other photos + {learning[0]['stranger_photos']} strangers' "
          f"photos; at most {args.per_round} suggestions reviewed per person per round; cap "
          f"{CONFIRMED_SAMPLE_CAP} confirmed samples per person, near-duplicates under {duplicate_distance(key)}")
    print(markdown(learning, decisions_only))
    if args.out is not None:
        args.out.write_text(json.dumps({"embedding": key, "seed": args.seed, "per_round": args.per_round,
                                        "cap": CONFIRMED_SAMPLE_CAP, "duplicate_distance": duplicate_distance(key),
                                        "learning": learning, "decisions_only": decisions_only,
                                        "seconds": round(time.perf_counter() - start, 1)}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
