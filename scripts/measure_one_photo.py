#!/usr/bin/env python
"""Better use of one enrolled photo? Each technique measured alone on LFW View 1, DevTrain and DevTest.

    python scripts/measure_one_photo.py --lfw ../shared/lfw-view1 --cache lfw-view1-one-photo.npz

Galleries of 5, 20 and 100 random people with one random photo each (people with 2+ photos), their other
photos to be named, every photo of everyone else a stranger's (scripts/choose_thresholds.py's draw). Each
technique is compared with today's decision (the nearest enrolled face's cosine distance) at the same share
of strangers named per photo, 1 %: its threshold is set on its own scores so that 1 % of the strangers' photos
are named, and the share of enrolled people's photos named right there is printed. The techniques:

- no flip:          the enrolled and probe embeddings without test-time flip (what the flip buys, for scale);
- jitter 10:        the enrolled photo embedded as the mean of its chip, its mirror and 10 of dlib's jitters
                    (`dlib.jitter_image`: small rotations, shifts, zooms and mirrors, as dlib's num_jitters);
- AS-norm gallery:  adaptive score normalisation, each score standardised against the top 50 scores of the
                    probe and of the enrolled face against the gallery's other people;
- AS-norm album:    the same against 1,000 faces of the other half's people (a stand-in for an album's
                    unknown faces);
- margin m:         named only when the nearest person is at least m (cosine) closer than the second;
- quality size/blur: a probe's distance raised by a * log(reference / quality) when its face is smaller, or
                    its chip blurrier (variance of the Laplacian), than the median, so a poor probe needs a
                    closer match.

The cache (--cache, written if absent) holds, per photo, the chip's embedding, its mirror's, the 10 jitters'
(people with 2+ photos only) and the two quality measures; no pickle.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from choose_thresholds import draw_gallery, person_of, split_images  # noqa: E402

JITTERS = 10
GALLERY_SIZES = (5, 20, 100)
STRANGER_RATE = 0.01


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--lfw", type=Path, required=True, help="LFW View 1 folder (images/ and the pairs files)")
    p.add_argument("--cache", type=Path, required=True, help=".npz of the embeddings (read if present, else written)")
    p.add_argument("--draws", type=int, default=1500, help="random galleries per cell: this / gallery size")
    p.add_argument("--seed", type=int, default=7)
    return p.parse_args(argv)


# ------------------------------------------------------------------------------------------ embeddings


def chip_quality(chip: np.ndarray) -> float:
    """Sharpness: the variance of the Laplacian of the grey chip, inside a 20-pixel border."""
    g = chip.astype(np.float32).mean(axis=-1)
    lap = 4 * g[1:-1, 1:-1] - g[:-2, 1:-1] - g[2:, 1:-1] - g[1:-1, :-2] - g[1:-1, 2:]
    return float(lap[20:-20, 20:-20].var())


def build_cache(paths: list[Path], cache: Path) -> None:
    """Per photo: [chip, mirror, JITTERS jitters] embeddings (jitters only for people with 2+ photos; zeros
    elsewhere), the face's box side and the chip's sharpness."""
    import dlib
    from tqdm import tqdm

    from facerec.recognition.pipeline import FacePipeline, main_face
    from facerec.vision.imageio import load_image

    pipeline = FacePipeline("dlib")
    several = {n for n in map(person_of, paths) if sum(person_of(p) == n for p in paths) > 1}
    kept, vectors, side, blur = [], [], [], []
    for path in tqdm(paths, unit="photo"):
        image = load_image(path)
        face = main_face(pipeline.detect_expecting_face(image), image.shape)
        if face is None:
            continue
        chip = np.ascontiguousarray(pipeline.align(image, [face])[0])
        jitters = dlib.jitter_image(chip, num_jitters=JITTERS) if person_of(path) in several else []
        batch = np.stack([chip, chip[:, ::-1]] + [np.asarray(j) for j in jitters])
        row = np.zeros((2 + JITTERS, pipeline.backbone.embedding_size), np.float32)
        row[: len(batch)] = pipeline.backbone.embed(np.ascontiguousarray(batch))
        kept.append(str(path))
        vectors.append(row)
        side.append(float(np.sqrt(face.box[2] * face.box[3])))
        blur.append(chip_quality(chip))
    np.savez(cache, paths=np.array(kept), vectors=np.stack(vectors), side=np.array(side), blur=np.array(blur))


def unit(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v, axis=-1, keepdims=True)


# ------------------------------------------------------------------------------------------ techniques


def per_person(S: np.ndarray, labels: np.ndarray, people: int) -> np.ndarray:
    """(n, enrolled faces) similarities -> (n, people), the best face of each person."""
    out = np.full((len(S), people), -np.inf, np.float32)
    for c in range(people):
        out[:, c] = S[:, labels == c].max(axis=1)
    return out


def as_norm(scores: np.ndarray, probe_cohort: np.ndarray, enrolled_cohort: np.ndarray, top: int = 50) -> np.ndarray:
    """Adaptive s-norm: each score standardised by the mean / spread of the probe's and of the enrolled person's
    `top` best cohort scores. probe_cohort: (n, m); enrolled_cohort: (people, m')."""
    def stats(c: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        best = -np.sort(-c, axis=1)[:, :top]
        return best.mean(axis=1), best.std(axis=1) + 1e-3

    mq, sq = stats(probe_cohort)
    me, se = stats(enrolled_cohort)
    return 0.5 * ((scores - mq[:, None]) / sq[:, None] + (scores - me[None]) / se[None])


def gallery_cohort_norm(Sp: np.ndarray, gallery_scores: np.ndarray) -> np.ndarray:
    """AS-norm against the gallery's other people: for person c the cohort is every other person."""
    people = Sp.shape[1]
    out = np.empty_like(Sp)
    for c in range(people):
        others = np.delete(np.arange(people), c)
        out[:, c] = as_norm(Sp[:, [c]], Sp[:, others], gallery_scores[[c]][:, others])[:, 0]
    return out


def decide(Sp: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(best person, its score) per row; higher is closer."""
    best = Sp.argmax(axis=1)
    return best, Sp[np.arange(len(Sp)), best]


def with_margin(Sp: np.ndarray, margin: float) -> tuple[np.ndarray, np.ndarray]:
    best, score = decide(Sp)
    ranked = -np.sort(-Sp, axis=1)
    return best, np.where(ranked[:, 0] - ranked[:, 1] >= margin, score, -np.inf)


def quality_penalty(score: np.ndarray, quality: np.ndarray, reference: float, a: float) -> np.ndarray:
    return score - a * np.maximum(0.0, np.log(reference / quality))


def techniques(half: dict, cohort: np.ndarray, gallery: np.ndarray, labels: np.ndarray, probes: np.ndarray,
               people: int) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Every technique's (best person, score) for the rows `probes` against this gallery."""
    V, side, blur = half["vectors"], half["side"], half["blur"]
    flip = unit(V[:, 0] + V[:, 1])
    enrolled = flip[gallery]
    Sp = per_person(flip[probes] @ enrolled.T, labels, people)
    jittered = unit(V[gallery].sum(axis=1))
    out = {"today (flip)": decide(Sp),
           "no flip": decide(per_person(unit(V[probes, 0]) @ unit(V[gallery, 0]).T, labels, people)),
           f"jitter {JITTERS}": decide(per_person(flip[probes] @ jittered.T, labels, people)),
           "AS-norm gallery": decide(gallery_cohort_norm(Sp, per_person(enrolled @ enrolled.T, labels, people))),
           "AS-norm album": decide(as_norm(Sp, flip[probes] @ cohort.T,
                                           per_person(cohort @ enrolled.T, labels, people).T))}
    for margin in (0.005, 0.01):
        out[f"margin {margin}"] = with_margin(Sp, margin)
    best, score = decide(Sp)
    out["quality size a=0.01"] = (best, quality_penalty(score, side[probes], half["median_side"], 0.01))
    out["quality blur a=0.005"] = (best, quality_penalty(score, blur[probes], half["median_blur"], 0.005))
    return out


def measure(half: dict, cohort: np.ndarray, people: int, draws: int, seed: int) -> dict[str, float]:
    """Named right at STRANGER_RATE strangers named, per technique, pooled over `draws` galleries."""
    rng = np.random.default_rng([seed, people])
    several = half["several"]
    pooled: dict[str, list] = {}
    for _ in range(draws):
        gallery, labels, probes, probe_labels, strangers = draw_gallery(half["persons"][several], people, 1, rng)
        gallery, probes = several[gallery], several[probes]
        strangers = np.setdiff1d(np.arange(len(half["persons"])), np.concatenate([gallery, probes]))
        genuine = techniques(half, cohort, gallery, labels, probes, people)
        stranger = techniques(half, cohort, gallery, labels, strangers, people)
        for name in genuine:
            g_best, g_score = genuine[name]
            pooled.setdefault(name, []).append((g_score, g_best == probe_labels, stranger[name][1]))
    result = {}
    for name, parts in pooled.items():
        g_score, right, s_score = (np.concatenate([p[i] for p in parts]) for i in range(3))
        threshold = np.quantile(s_score, 1 - STRANGER_RATE, method="inverted_cdf")
        result[name] = float(np.mean(right & (g_score > threshold)))
    return result


def load_halves(args) -> dict[str, dict]:
    halves = {}
    for name, pairs_file in (("DevTrain", "pairsDevTrain.txt"), ("DevTest", "pairsDevTest.txt")):
        halves[name] = [str(p) for p in split_images(args.lfw, pairs_file)[1]]
    if not args.cache.is_file():
        build_cache([Path(p) for half in halves.values() for p in half], args.cache)
    with np.load(args.cache, allow_pickle=False) as data:
        row = {p: i for i, p in enumerate(data["paths"].tolist())}
        vectors, side, blur = data["vectors"], data["side"], data["blur"]
    out = {}
    for name, paths in halves.items():
        paths = [p for p in paths if p in row]
        idx = np.array([row[p] for p in paths])
        persons = np.array([person_of(Path(p)) for p in paths])
        names, counts = np.unique(persons, return_counts=True)
        several = np.flatnonzero(np.isin(persons, names[counts > 1]))
        out[name] = {"vectors": vectors[idx], "side": side[idx], "blur": blur[idx], "persons": persons,
                     "several": several, "median_side": float(np.median(side[idx])),
                     "median_blur": float(np.median(blur[idx]))}
    return out


def main(argv=None) -> int:
    args = parse_args(argv)
    halves = load_halves(args)
    rng = np.random.default_rng(args.seed)
    print(f"named right at {STRANGER_RATE:.0%} of strangers named per photo, one photo enrolled per person")
    for name, half in halves.items():
        other = halves["DevTest" if name == "DevTrain" else "DevTrain"]
        cohort_rows = rng.permutation(len(other["vectors"]))[:1000]
        cohort = unit(other["vectors"][cohort_rows, 0] + other["vectors"][cohort_rows, 1])
        results = {people: measure(half, cohort, people, max(5, args.draws // people), args.seed)
                   for people in GALLERY_SIZES}
        print(f"\n{name:<22}" + "".join(f"{f'{p} people':>12}" for p in GALLERY_SIZES))
        for technique in results[GALLERY_SIZES[0]]:
            print(f"{technique:<22}" + "".join(f"{results[p][technique]:>12.4f}" for p in GALLERY_SIZES))
    return 0


if __name__ == "__main__":
    sys.exit(main())
