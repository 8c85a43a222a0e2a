"""A labelled folder (<root>/<Name>/*.jpg): enroll k photos per person in memory, identify the rest with a
matcher, and report top-1 accuracy, the open-set false-accept rate and a confusion matrix."""

import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from facerec.errors import FacerecError
from facerec.recognition import match
from facerec.types import UNKNOWN
from facerec.evaluation.metrics import all_pairs, identification_report, verification_report
from facerec.evaluation.pairs import embed_paths, main_face_embedding


MATCHERS = match.MATCHER_KINDS


# --------------------------------------------------------------------------------------------------
# Labelled folder: enroll k photos per person, identify the rest
# --------------------------------------------------------------------------------------------------


def labelled_folder(root: Path) -> dict[str, list[Path]]:
    """{person: sorted photo paths}, read as `facerec enroll` reads PEOPLE_DIR; folders starting with '_'
    (the shared set's _group, _negatives, ...) are not people and are skipped."""
    from facerec.gallery.enroll import scan_people_dir

    people: dict[str, list[Path]] = {}
    for name, path in scan_people_dir(Path(root)):
        if not name.startswith("_"):
            people.setdefault(name, []).append(path)
    if not people:
        raise FacerecError(f"{root}: no person folders with photos (expected <root>/<Name>/*.jpg)")
    return people


@dataclass
class Split:
    """Which photos are enrolled, which are probes, and who is an impostor (not enrolled at all)."""

    enrolled: dict[str, list[Path]] = field(default_factory=dict)
    probes: dict[str, list[Path]] = field(default_factory=dict)
    impostors: dict[str, list[Path]] = field(default_factory=dict)


def split_people(photos: dict[str, list[Path]], k: int, unknown_fraction: float = 0.0, seed: int = 0,
                 min_enrolled: int = 1) -> Split:
    """Deterministic split: people with > k photos are enrolled with k random photos (the rest are probes);
    people with <= k photos, and a random `unknown_fraction` of the others, are impostors whose every
    photo is a probe that should come out unknown."""
    if k < 1:
        raise FacerecError("--k must be at least 1")
    if not 0.0 <= unknown_fraction < 1.0:
        raise FacerecError("--unknown-fraction must be in [0, 1)")
    rng = random.Random(seed)
    candidates = sorted(name for name, ps in photos.items() if len(ps) > k)
    n_holdout = int(round(unknown_fraction * len(candidates)))
    n_holdout = max(0, min(n_holdout, len(candidates) - min_enrolled))
    held_out = set(rng.sample(candidates, n_holdout))
    split = Split()
    for name in sorted(photos):
        ps = sorted(photos[name])
        if name in held_out or name not in candidates:
            split.impostors[name] = ps
            continue
        chosen = set(rng.sample(ps, k))
        split.enrolled[name] = [p for p in ps if p in chosen]
        split.probes[name] = [p for p in ps if p not in chosen]
    if len(split.enrolled) < min_enrolled:
        raise FacerecError(f"need at least {min_enrolled} people with more than k={k} photos each to enroll "
                           f"(found {len(split.enrolled)}); lower --k or add photos")
    return split


def evaluate_identification(embeddings: dict[Path, np.ndarray], split: Split, matcher_kind: str, embedding: str,
                            threshold: float | None = None, seed: int = 0) -> dict[str, Any]:
    """Enroll the split's enrolled photos (those with an embedding), identify every probe and impostor photo.
    `embedding`: the embedding id of `embeddings` (it decides the default threshold)."""
    enroll_names, enroll_vectors = [], []
    for name, paths in split.enrolled.items():
        for p in paths:
            if p in embeddings:
                enroll_names.append(name)
                enroll_vectors.append(embeddings[p])
    if len(set(enroll_names)) < (2 if matcher_kind != "nn" else 1):
        raise FacerecError(f"the {matcher_kind} matcher needs at least 2 enrolled people with a detectable face")
    probe_paths, true_names = [], []
    for name, paths in split.probes.items():
        for p in paths:
            if p in embeddings:
                probe_paths.append(p)
                true_names.append(name)
    for paths in split.impostors.values():
        for p in paths:
            if p in embeddings:
                probe_paths.append(p)
                true_names.append(UNKNOWN)
    matcher = match.make_matcher(matcher_kind, backbone=embedding, threshold=threshold, seed=seed)
    matcher.fit(np.stack(enroll_vectors).astype(np.float32), list(enroll_names))
    identities = matcher.predict_identities(np.stack([embeddings[p] for p in probe_paths]).astype(np.float32)) \
        if probe_paths else []
    predicted = [i.name for i in identities]
    report = identification_report(true_names, predicted, sorted(set(enroll_names)))
    report["n_enrolled_photos"] = len(enroll_names)
    report["mistakes"] = [
        {"photo": str(p), "true": t, "predicted": i.name, "score": round(float(i.score), 4),
         "distance": None if i.distance is None else round(float(i.distance), 4)}
        for p, t, i in zip(probe_paths, true_names, identities) if i.name != t
    ]
    report["threshold"] = getattr(matcher, "threshold_", getattr(matcher, "max_distance_", threshold))
    return report


def evaluate_folder(root: Path, pipeline=None, k: int = 3, matcher: str = "nn", unknown_fraction: float = 0.0,
                    seed: int = 0, threshold: float | None = None, embedding: str | None = None,
                    embed_one: Callable[[Path], np.ndarray | None] | None = None,
                    progress: bool = False) -> dict[str, Any]:
    """Labelled-folder evaluation (<root>/<Name>/*): identification with k enrolled photos per person,
    plus verification over all pairs of photos."""
    report = evaluate_people(labelled_folder(root), pipeline, k, [matcher], unknown_fraction, seed, threshold,
                             embedding, embed_one, progress)
    report["folder"] = str(root)
    return report


def embed_people(photos: dict[str, list[Path]], pipeline=None,
                 embed_one: Callable[[Path], np.ndarray | None] | None = None,
                 progress: bool = False) -> tuple[dict[Path, np.ndarray], dict[Path, str]]:
    """Embed the main face (facerec.recognition.pipeline.main_face) of every photo: (embeddings by path, failures by path with the reason)."""
    if embed_one is None:
        embed_one = lambda path: main_face_embedding(pipeline, path)  # noqa: E731
    return embed_paths([p for ps in photos.values() for p in ps], embed_one, progress)


def evaluate_people(photos: dict[str, list[Path]], pipeline=None, k: int = 3, matchers: Sequence[str] = ("nn",),
                    unknown_fraction: float = 0.0, seed: int = 0, threshold: float | None = None,
                    embedding: str | None = None, embed_one: Callable[[Path], np.ndarray | None] | None = None,
                    progress: bool = False,
                    embedded: tuple[dict[Path, np.ndarray], dict[Path, str]] | None = None) -> dict[str, Any]:
    """Evaluation of {person: photos}. With one matcher its identification metrics are at the top level of the
    report; with several they are under report["matchers"][name]. `embedded` skips the embedding step."""
    for matcher in matchers:
        if matcher not in MATCHERS:
            raise FacerecError(f"unknown matcher {matcher!r}; choose one of {', '.join(MATCHERS)}")
    embedding = embedding or getattr(pipeline, "embedding_id", None) or pipeline.backbone.name
    embeddings, failures = embedded or embed_people(photos, pipeline, embed_one, progress)
    # Photos without a face can be neither enrolled nor probed: drop them before splitting so k counts usable photos.
    usable = {name: [p for p in ps if p in embeddings] for name, ps in photos.items()}
    usable = {name: ps for name, ps in usable.items() if ps}
    needs_two = any(m != "nn" for m in matchers)
    split = split_people(usable, k, unknown_fraction, seed, min_enrolled=2 if needs_two else 1)
    report: dict[str, Any] = {
        "backbone": embedding, "k": k, "seed": seed, "unknown_fraction": unknown_fraction,
        "n_people": len(photos), "n_enrolled_people": len(split.enrolled), "n_impostor_people": len(split.impostors),
        "impostor_people": sorted(split.impostors),
        "n_photos": sum(len(ps) for ps in photos.values()),
        "n_failed_photos": len(failures),
        "failed_photos": {str(p): reason for p, reason in sorted(failures.items())},
    }
    results = {m: evaluate_identification(embeddings, split, m, embedding, threshold, seed) for m in matchers}
    if len(matchers) == 1:
        report["matcher"] = matchers[0]
        report.update(results[matchers[0]])
    else:
        report["matchers"] = results
    labels = [name for name, ps in usable.items() for _ in ps]
    vectors = np.stack([embeddings[p] for ps in usable.values() for p in ps])
    distances, same = all_pairs(vectors, labels)
    report["verification"] = verification_report(distances, same, seed=seed)
    report["_distances"], report["_same"] = distances, same
    return report


def public_report(report: dict[str, Any]) -> dict[str, Any]:
    """The report without the private arrays kept for plotting (JSON-safe)."""
    return {k: v for k, v in report.items() if not k.startswith("_")}
