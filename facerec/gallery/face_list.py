"""Every face the gallery knows, in the one output shape (FaceResult.to_dict()) plus `id` (a<N> album face,
s<N> enrolled sample: facerec.gallery.decisions), `kind` (album / sample) and, for album faces, `group`.

`named_by`: person for enrolled samples and for album faces a person named (a named group, a confirmation),
facerec for a name the matcher gave, None for an unknown face.

`origin`: where a sample came from -- folder (`facerec enroll`), upload (over HTTP), group (a named group of
unknown faces) or confirmed (a confirmed album face: facerec.gallery.learning). An album face that became a
sample is listed once, as the album face (a<N>) with `sample` (its sample's id s<N>) and `origin`; a sample
made from an album face that is no longer in the album (its photo was removed or re-tagged without it) is
listed as a sample. Every other album face has `sample` and `origin` None; every sample has `sample` None."""
from __future__ import annotations

from typing import Any

from facerec.gallery.decisions import ALBUM, SAMPLE, face_id
from facerec.gallery.encoding import face_from_columns
from facerec.gallery.learning import CONFIRMED, GROUP, confirmed_detection, origin, sample_path
from facerec.types import NAMED_BY_FACEREC, NAMED_BY_PERSON, UNKNOWN, FaceResult


def _album_faces(gallery: Any, backbone: str) -> list[dict[str, Any]]:
    rows = gallery._db.execute(
        """SELECT d.id, d.face_index, d.box, d.landmarks, d.confidence, d.predicted_name, d.score, d.distance,
                  d.cluster_id, m.path, p.name AS assigned
           FROM detections d JOIN media m ON m.id = d.media_id LEFT JOIN people p ON p.id = d.assigned_person_id
           WHERE d.backbone = ? ORDER BY m.path, d.face_index""", (backbone,)).fetchall()
    out = []
    for r in rows:
        name = r["assigned"] or r["predicted_name"] or UNKNOWN
        named_by = NAMED_BY_PERSON if r["assigned"] else (NAMED_BY_FACEREC if name != UNKNOWN else None)
        result = FaceResult(face_from_columns(r["box"], r["landmarks"], r["confidence"]), name,
                            1.0 if r["assigned"] else r["score"], r["distance"], r["face_index"], r["path"],
                            named_by=named_by)
        group = r["cluster_id"] if r["cluster_id"] is not None and r["cluster_id"] > 0 and not r["assigned"] else None
        out.append({"id": face_id(ALBUM, r["id"]), "kind": ALBUM, **result.to_dict(), "group": group,
                    "sample": None, "origin": None})
    return out


def _sample_faces(gallery: Any, backbone: str) -> list[dict[str, Any]]:
    from facerec.paths import uploads_dir

    uploads = str(uploads_dir(gallery.path))
    rows = gallery._db.execute(
        """SELECT ph.id, ph.path, ph.source, ph.note, p.name, f.box, f.landmarks, f.confidence FROM faces f
           JOIN photos ph ON ph.id = f.photo_id JOIN people p ON p.id = ph.person_id
           WHERE f.backbone = ? ORDER BY p.name, ph.path""", (backbone,)).fetchall()
    return [{"id": face_id(SAMPLE, r["id"]), "kind": SAMPLE,
             **FaceResult(face_from_columns(r["box"], r["landmarks"], r["confidence"]), r["name"], 1.0, None, 0,
                          r["path"], named_by=NAMED_BY_PERSON).to_dict(), "group": None,
             "sample": None, "origin": origin(r["source"], r["note"], r["path"], uploads),
             "_note": r["note"]} for r in rows]


def _once(samples: list[dict[str, Any]], album: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Samples and album faces with each album face that became a sample listed once, as the album face."""
    by_id = {f["id"]: f for f in album}
    by_place = {sample_path(f["path"], f["face_index"]): f for f in album}
    listed = []
    for sample in samples:
        note = sample.pop("_note")
        face = None
        if sample["origin"] == CONFIRMED:
            face = by_id.get(face_id(ALBUM, confirmed_detection(note)))
        elif sample["origin"] == GROUP:
            face = by_place.get(sample["path"])
        if face is not None and face["name"] == sample["name"]:
            face.update(sample=sample["id"], origin=sample["origin"])
        else:
            listed.append(sample)
    return listed + album


def list_faces(gallery: Any, backbone: str, person: str | None = None, unknown: bool = False,
               group: int | None = None) -> list[dict[str, Any]]:
    """Faces for `backbone`: enrolled samples first (by person), then album faces (by photo); filtered to one
    person's, the unknown ones, or one group's."""
    album = _album_faces(gallery, backbone)
    faces = _once(_sample_faces(gallery, backbone), album)
    if unknown or group is not None:
        faces = album
    if person is not None:
        faces = [f for f in faces if f["name"] == person]
    if unknown:
        faces = [f for f in faces if f["name"] == UNKNOWN]
    if group is not None:
        faces = [f for f in faces if f["group"] == group]
    return faces


# One face's photo and box by id in one indexed query: listing every face for each thumbnail of a page took
# 0.4 s per image with 5,000 faces.
_ALBUM_FACE = """SELECT m.path, d.box FROM detections d JOIN media m ON m.id = d.media_id
                 WHERE d.id = ? AND d.backbone = ?"""
_SAMPLE_FACE = """SELECT ph.path, ph.source, f.box FROM photos ph JOIN faces f ON f.photo_id = ph.id
                  WHERE ph.id = ? AND f.backbone = ? ORDER BY f.id LIMIT 1"""


def face_location(gallery: Any, text: str, embedding: str) -> tuple[str, list[int]] | None:
    """(the image file a face was found in, its box) for a face id: an album photo, or the photo behind an
    enrolled sample (a sample made by naming a group or confirming a face points into the tagged photo); None
    for an id nobody has; DecisionError for text that is not a face id."""
    import json

    from facerec.gallery.decisions import parse_face_id
    from facerec.gallery.learning import media_of_sample

    kind, row_id = parse_face_id(text)
    row = gallery._db.execute(_ALBUM_FACE if kind == ALBUM else _SAMPLE_FACE, (row_id, embedding)).fetchone()
    if row is None:
        return None
    path = row["path"] if kind == ALBUM else media_of_sample(row["path"], row["source"])
    return path, list(json.loads(row["box"]))
