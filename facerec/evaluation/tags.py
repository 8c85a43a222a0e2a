"""facerec's accuracy on the user's own tagged photos (`facerec evaluate --tags ALBUM_DIR`).

Every named face region under ALBUM_DIR (facerec.album.regions) is a probe. Leave one photo out: each
photo's faces are named, as `facerec tag` names them (MTCNN's faces, one name per photo), by a matcher
fitted in memory on the tagged faces of all the *other* photos (copies of the photo, same SHA-256, left out
too) -- nothing is read from or written to the user's gallery. Per person:

- right: the face detected at the region got the region's name;
- wrong: it got another person's name;
- missed: it came out unknown, or no face was detected at the region (`not_detected`, a part of missed).

Enrolled samples are the faces detected at named regions, or found by a relaxed look inside the region
(as `facerec enroll --from-tags` finds them); faces aligned inside a region only are another recipe and
are not used.
"""
from __future__ import annotations

import hashlib
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from facerec.errors import FacerecError, ImageError
from facerec.types import UNKNOWN


@dataclass
class TaggedPhotoFaces:
    """One tagged photo: its faces as tag sees them, which named region each probe is, and its samples."""

    path: Path
    sha256: str
    vectors: np.ndarray  # embeddings of the detected faces
    probes: list[tuple[str, int | None]] = field(default_factory=list)  # (region name, detected face index or None)
    samples: list[tuple[str, np.ndarray]] = field(default_factory=list)  # (name, embedding) to enrol


@dataclass
class PersonScore:
    name: str
    tagged: int = 0  # probes: named regions of this person
    photos_elsewhere: int = 0  # photos with an enrollable sample of this person (the most any probe could use)
    right: int = 0
    wrong: int = 0
    unknown: int = 0
    not_detected: int = 0

    @property
    def missed(self) -> int:
        return self.unknown + self.not_detected

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "tagged": self.tagged, "photos": self.photos_elsewhere, "right": self.right,
                "wrong": self.wrong, "missed": self.missed, "unknown": self.unknown, "not_detected": self.not_detected,
                "accuracy": round(self.right / self.tagged, 4) if self.tagged else None}


def read_tagged_photo(pipeline: Any, path: Path, regions: Any) -> TaggedPhotoFaces:
    from facerec.album.region_names import match_regions
    from facerec.gallery.enroll_tags import relaxed_look
    from facerec.vision.imageio import load_image

    data = path.read_bytes()
    image = load_image(data)
    faces = pipeline.detect(image)
    vectors = pipeline.embed(image, faces)
    named = regions.named
    matched = match_regions([f.box for f in faces], named)
    by_region = {j: i for i, j in matched.items()}
    photo = TaggedPhotoFaces(path, hashlib.sha256(data).hexdigest(), vectors)
    for j, region in enumerate(named):
        i = by_region.get(j)
        photo.probes.append((region.name, i))
        if i is not None:
            photo.samples.append((region.name, vectors[i]))
            continue
        found = relaxed_look(pipeline, image, region)
        if found is not None:
            photo.samples.append((region.name, pipeline.embed(image, [found])[0]))
    return photo


def evaluate_tags(album_dir: str | Path, pipeline: Any, *, matcher: str = "nn", threshold: float | None = None,
                  picasa_contacts: str | Path | None = None, progress: bool = False) -> dict[str, Any]:
    """The per-person table (see the module docstring) and the mistakes."""
    from tqdm import tqdm

    from facerec.gallery.enroll_tags import tagged_regions

    album = Path(album_dir)
    if not album.is_dir():
        raise FacerecError(f"{album}: not a folder")
    problems: list[dict[str, str]] = []
    photos: list[TaggedPhotoFaces] = []
    for path, regions in tqdm(tagged_regions(album, picasa_contacts), desc="evaluate", unit="photo",
                              file=sys.stderr, disable=not progress, dynamic_ncols=True):
        rel = path.relative_to(album).as_posix()
        problems += [{"path": rel, "reason": why} for why in regions.problems]
        if not regions.named:
            continue
        try:
            photos.append(read_tagged_photo(pipeline, path, regions))
        except (OSError, ImageError) as e:
            problems.append({"path": rel, "reason": str(e).replace("<bytes>: ", "")})
    if not photos:
        raise FacerecError(f"{album}: no photo with a named face region (MWG or MP regions in XMP, .picasa.ini)")
    scores, mistakes, used_threshold = score_photos(photos, pipeline.embedding_id, matcher, threshold, album)
    people = [scores[name].to_dict() for name in sorted(scores)]
    totals = {k: sum(p[k] for p in people) for k in ("tagged", "right", "wrong", "missed", "unknown", "not_detected")}
    totals["accuracy"] = round(totals["right"] / totals["tagged"], 4) if totals["tagged"] else None
    return {"album": str(album), "backbone": pipeline.embedding_id, "matcher": matcher, "threshold": used_threshold,
            "photos": len(photos), "people": people, "totals": totals, "mistakes": mistakes, "problems": problems}


def score_photos(photos: list[TaggedPhotoFaces], embedding: str, kind: str, threshold: float | None,
                 album: Path) -> tuple[dict[str, PersonScore], list[dict[str, Any]], float | None]:
    scores: dict[str, PersonScore] = {}
    for name in {n for p in photos for n, _ in p.samples}:
        scores[name] = PersonScore(name, photos_elsewhere=sum(any(n == name for n, _ in p.samples) for p in photos))
    mistakes: list[dict[str, Any]] = []
    used_threshold = threshold
    for photo in photos:
        others = [(n, v) for p in photos if p.sha256 != photo.sha256 for n, v in p.samples]
        identities = identify(photo.vectors, others, kind, embedding, threshold)
        if identities is not None and identities[1] is not None:
            used_threshold = identities[1]
        names = identities[0] if identities is not None else [UNKNOWN] * len(photo.vectors)
        for true, index in photo.probes:
            score = scores.setdefault(true, PersonScore(true))
            score.tagged += 1
            predicted = None if index is None else names[index]
            if predicted == true:
                score.right += 1
                continue
            if predicted is None:
                score.not_detected += 1
            elif predicted == UNKNOWN:
                score.unknown += 1
            else:
                score.wrong += 1
            mistakes.append({"photo": photo.path.relative_to(album).as_posix(), "true": true,
                             "predicted": predicted if predicted is not None else "(no face detected)"})
    return scores, mistakes, used_threshold


def identify(X: np.ndarray, enrolled: Iterable[tuple[str, np.ndarray]], kind: str, embedding: str,
             threshold: float | None) -> tuple[list[str], float | None] | None:
    """The names `facerec tag` would give a photo's faces with `enrolled` as the gallery (None: nobody)."""
    from facerec.recognition import match

    enrolled = list(enrolled)
    if not enrolled or len(X) == 0:
        return None
    matcher = match.make_matcher(kind, backbone=embedding, threshold=threshold)
    try:
        matcher.fit(np.stack([v for _, v in enrolled]).astype(np.float32), [n for n, _ in enrolled])
    except (ValueError, FacerecError):  # e.g. a classifier with a single person enrolled: nobody to tell apart
        return None
    identities = match.name_photo_faces(matcher, np.asarray(X, dtype=np.float32))
    fitted = getattr(matcher, "threshold_", getattr(matcher, "max_distance_", threshold))
    return [i.name for i in identities], None if fitted is None else float(fitted)
