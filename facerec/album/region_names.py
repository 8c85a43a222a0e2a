"""A name a face region already gives outranks facerec's guess (facerec tag).

Each named region (facerec.album.regions) is matched to one detected face by overlap: the pair with the
highest intersection-over-union first, a pair counting when their IoU is at least MATCH_IOU or the region
holds the centre of the face's box (people draw boxes looser or tighter than MTCNN). The matched face takes
the region's name with ``named_by = "region"``; where facerec named it someone else, that is a
disagreement, reported (the face keeps the human's name). A named region no detected face matches
(a profile, a blurred face) is still a face of the photo: it is reported with its region's box,
``named_by = "region"`` and ``detected: false``. A person is in a photo once: a face facerec named after
someone a region places elsewhere in the photo becomes unknown (its nearest name kept in `nearest`).
"""
from __future__ import annotations

from collections.abc import Sequence

from facerec.album.regions import PhotoRegions, TaggedRegion
from facerec.types import NAMED_BY_REGION, UNKNOWN, Face, FaceResult, box_iou

MATCH_IOU = 0.3


def contains_centre(region: Sequence[float], box: Sequence[float]) -> bool:
    cx, cy = box[0] + box[2] / 2, box[1] + box[3] / 2
    return region[0] <= cx <= region[0] + region[2] and region[1] <= cy <= region[1] + region[3]


def match_regions(boxes: Sequence[Sequence[float]], regions: Sequence[TaggedRegion]) -> dict[int, int]:
    """face index -> region index, one region per face at most, best overlaps first."""
    pairs = []
    for i, box in enumerate(boxes):
        for j, region in enumerate(regions):
            overlap = box_iou(box, region.box)
            if overlap >= MATCH_IOU or contains_centre(region.box, box):
                pairs.append((overlap, i, j))
    matched: dict[int, int] = {}
    used: set[int] = set()
    for _, i, j in sorted(pairs, reverse=True):
        if i not in matched and j not in used:
            matched[i] = j
            used.add(j)
    return matched


def name_from_regions(faces: list[FaceResult], regions: PhotoRegions | None,
                      path: str | None) -> tuple[list[FaceResult], list[dict]]:
    """The faces of a photo with the names its regions give, the regions no face matched added as faces,
    and the disagreements ({path, face_index, region_name, facerec_name, score})."""
    named = regions.named if regions is not None else []
    if not named:
        return faces, []
    matched = match_regions([f.face.box for f in faces], named)
    disagreements = []
    out = []
    for i, face in enumerate(faces):
        if i not in matched:
            out.append(face)
            continue
        region = named[matched[i]]
        extra = {**face.extra, "region_origin": region.origin}
        if face.name not in (UNKNOWN, region.name):
            disagreements.append({"path": path, "face_index": face.face_index, "region_name": region.name,
                                  "facerec_name": face.name, "score": face.score})
            extra["facerec_name"] = face.name
        out.append(FaceResult(face.face, region.name or UNKNOWN, face.score, face.distance, face.face_index, face.path,
                              face.embedding, extra, named_by=NAMED_BY_REGION))
    given = {r.name for r in named}
    out = [f if f.named_by == NAMED_BY_REGION or f.name not in given else
           FaceResult(f.face, UNKNOWN, f.score, f.distance, f.face_index, f.path, f.embedding,
                      {**f.extra, "nearest": f.name, "reason": "a face region gives this name to another face"})
           for f in out]
    next_index = max([f.face_index for f in faces], default=-1) + 1
    for j, region in enumerate(named):
        if j in matched.values():
            continue
        out.append(FaceResult(Face(region.int_box(), 0.0, ()), region.name or UNKNOWN, None, None, next_index, path,
                              extra={"detected": False, "region_origin": region.origin}, named_by=NAMED_BY_REGION))
        next_index += 1
    return out, disagreements
