"""LFW-style pairs.txt: parse, embed each photo's main face once, and report cross-validated verification."""

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

import numpy as np

from facerec.errors import FacerecError, ImageError, NoFaceError
from facerec.evaluation.metrics import DEFAULT_FARS, FAILED_PAIR_DISTANCE, cosine_distance_rows, verification_report


# --------------------------------------------------------------------------------------------------
# LFW-style pairs.txt
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Pair:
    name1: str
    index1: int
    name2: str
    index2: int
    fold: int | None = None

    @property
    def same(self) -> bool:
        return self.name1 == self.name2


def parse_pairs(path: Path) -> list[Pair]:
    """Read an LFW pairs file.

    Lines are "name i j" (same person) or "name1 i name2 j" (different people). An optional header
    "folds n" (e.g. "10 300": 10 folds of 300 same + 300 different pairs) assigns each pair its fold;
    a one-number header ("1100", as in pairsDevTrain.txt) or no header means no fold layout.
    """
    path = Path(path)
    try:
        lines = [line.split() for line in path.read_text(encoding="utf-8").splitlines()]
    except (OSError, UnicodeDecodeError) as e:
        raise FacerecError(f"{path}: cannot read pairs file ({e})") from e
    lines = [tokens for tokens in lines if tokens and not tokens[0].startswith("#")]
    per_fold = None
    # ASCII digits only: "²" or "١٢" pass str.isdigit() but not int()
    if lines and all(t.isascii() and t.isdigit() for t in lines[0]) and len(lines[0]) <= 2:
        header = [int(t) for t in lines.pop(0)]
        if len(header) == 2 and header[0] > 1:
            per_fold = 2 * header[1]  # n same + n different pairs in each fold
    pairs = []
    for number, tokens in enumerate(lines, start=1):
        fold = (len(pairs) // per_fold) if per_fold else None
        try:
            if len(tokens) == 3:
                pairs.append(Pair(tokens[0], int(tokens[1]), tokens[0], int(tokens[2]), fold))
            elif len(tokens) == 4:
                pairs.append(Pair(tokens[0], int(tokens[1]), tokens[2], int(tokens[3]), fold))
            else:
                raise ValueError(f"expected 3 or 4 fields, got {len(tokens)}")
            if min(pairs[-1].index1, pairs[-1].index2) < 1:
                raise ValueError("LFW image numbers start at 1")
        except ValueError as e:
            raise FacerecError(f"{path}: pair {number} is malformed: {' '.join(tokens)!r} ({e})") from e
    if not pairs:
        raise FacerecError(f"{path}: no pairs found")
    return pairs


def lfw_image_path(root: Path, name: str, index: int) -> Path:
    """LFW layout: <root>/<name>/<name>_<iiii>.jpg."""
    return Path(root) / name / f"{name}_{index:04d}.jpg"


def main_face_embedding(pipeline, source) -> np.ndarray | None:
    """Embedding of the photo's subject (facerec.recognition.pipeline.main_face), or None when no face is found."""
    from facerec.errors import NoFaceError
    from facerec.recognition.verify import embed_main_face

    try:
        return np.asarray(embed_main_face(source, pipeline)[0], dtype=np.float32)
    except NoFaceError:
        return None


def embed_paths(paths: Iterable[Path], embed_one: Callable[[Path], np.ndarray | None],
                progress: bool = False, desc: str = "embedding") -> tuple[dict[Path, np.ndarray], dict[Path, str]]:
    """Embed each distinct path once: (embeddings, failures with the reason)."""
    unique = list(dict.fromkeys(Path(p) for p in paths))
    embeddings: dict[Path, np.ndarray] = {}
    failures: dict[Path, str] = {}
    iterator: Iterable[Path] = unique
    if progress:
        from tqdm import tqdm

        iterator = tqdm(unique, desc=desc, unit="photo")
    for path in iterator:
        try:
            vector = embed_one(path)
        except (ImageError, NoFaceError) as e:
            failures[path] = str(e)
            continue
        if vector is None:
            failures[path] = "no face found"
        else:
            embeddings[path] = vector
    return embeddings, failures


def evaluate_pairs(root: Path, pairs_path: Path, pipeline=None,
                   embed_one: Callable[[Path], np.ndarray | None] | None = None,
                   fars: Sequence[float] = DEFAULT_FARS, progress: bool = False) -> dict[str, Any]:
    """Verification metrics for an LFW-style pairs file over images under root.

    Images without a detectable face (or missing / unreadable) are counted and their pairs get
    distance 2.0, i.e. they count as errors for same-person pairs.
    """
    if embed_one is None:
        embed_one = lambda path: main_face_embedding(pipeline, path)  # noqa: E731
    pairs = parse_pairs(pairs_path)
    paths = [(lfw_image_path(root, p.name1, p.index1), lfw_image_path(root, p.name2, p.index2)) for p in pairs]
    embeddings, failures = embed_paths([p for pair in paths for p in pair], embed_one, progress)
    distances = np.full(len(pairs), FAILED_PAIR_DISTANCE, dtype=np.float64)
    for n, (a, b) in enumerate(paths):
        if a in embeddings and b in embeddings:
            distances[n] = cosine_distance_rows(embeddings[a][None], embeddings[b][None])[0]
    same = np.array([p.same for p in pairs])
    folds = np.array([p.fold for p in pairs]) if pairs[0].fold is not None else None
    report = verification_report(distances, same, folds, fars)
    report.update({
        "pairs_file": str(pairs_path),
        "n_images": len(embeddings) + len(failures),
        "n_failed_images": len(failures),
        "failed_images": {str(p): reason for p, reason in sorted(failures.items())},
        "n_failed_pairs": int(sum(1 for a, b in paths if a in failures or b in failures)),
    })
    report["_distances"], report["_same"] = distances, same  # for plots; dropped before JSON output
    return report
