"""Learning from confirmations (issue 19): a confirmed album face becomes a sample of its person, so the next
identify, tag or `facerec train` knows that person better -- within a cap and a diversity rule, so that one
person's hundred confirmed photos do not flood the gallery (and, through identify's gallery-size threshold,
make everyone harder to name).

A confirmed sample is stored as a named group's faces are (facerec.gallery.media.name_cluster): a photos row with
source 'tag', path "<media path>#face<index>" and a copy of the face's embedding; its note says where it came
from, "confirmed a<N>". The schema is unchanged. Which confirmed faces are samples is a function of the
decisions in force, recomputed (`refresh`) whenever a decision about a person changes:

- candidates: album faces assigned to P with a confirmation in force, oldest confirmation first;
- a candidate within `duplicate_distance` (cosine) of one of P's samples -- or of an earlier candidate kept --
  teaches nothing and is not added;
- at most CONFIRMED_SAMPLE_CAP (facerec.thresholds) of the rest are kept: when there are more, the most diverse
  set, chosen greedily farthest-point first from P's other samples (folder, upload, named group).

So undoing a confirmation removes its sample (and lets back one the cap had left out); rejecting P for a face
removes every sample of P made from that face (a named group's too, given back by `undo`); forgetting P removes
them with P's other photos. Each change bumps the gallery's version, so matchers refit.

A confirmed sample whose album face is gone (its photo was removed from the album, or re-tagged without that
face) stays, as a named group's samples do: it is then one of the person's other samples. A route that confirms
a face by other means (moving a face to another person) records its decision and calls `refresh` for both
people, inside its transaction, as facerec.gallery.decisions.confirm does.
"""
from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from facerec.gallery.encoding import decode_embedding, face_from_columns
from facerec.gallery.schema import bump_version

NOTE_PREFIX = "confirmed a"
FOLDER, UPLOAD, GROUP, CONFIRMED = "folder", "upload", "group", "confirmed"  # where a sample came from
KEPT = "kept as a sample"


def confirmed_note(detection_id: int) -> str:
    return f"{NOTE_PREFIX}{int(detection_id)}"


def confirmed_detection(note: str | None) -> int | None:
    """The album face a confirmed sample was made from (its photos row's note), None for any other sample."""
    rest = (note or "")[len(NOTE_PREFIX):]
    return int(rest) if (note or "").startswith(NOTE_PREFIX) and rest.isdigit() else None


def sample_path(media_path: str, face_index: int) -> str:
    return f"{media_path}#face{int(face_index)}"


def album_place(photo_path: str) -> tuple[str, int] | None:
    """(media path, face index) of a sample path made by sample_path; None for any other path."""
    media, mark, index = photo_path.rpartition("#face")
    return (media, int(index)) if mark and index.isdigit() else None


def media_of_sample(photo_path: str, source: str) -> str:
    """The image file behind an enrolled photo row: a sample made from an album face (a named group, a
    confirmation: source 'tag', path "<media path>#face<index>") points into the tagged photo."""
    place = album_place(photo_path) if source == "tag" else None
    return photo_path if place is None else place[0]


def origin(source: str, note: str | None, path: str, uploads_root: str | None = None) -> str:
    """Where a sample came from: folder (enroll), upload (over HTTP), group (a named group) or confirmed."""
    if source == "tag":
        return CONFIRMED if confirmed_detection(note) is not None else GROUP
    if uploads_root and path.startswith(uploads_root.rstrip("/") + "/"):
        return UPLOAD
    return FOLDER


# --------------------------------------------------------------------------- the rule


def _unit(X: Any, dim: int) -> np.ndarray:
    X = np.asarray(X, dtype=np.float64)
    if X.size == 0:
        return np.zeros((0, dim))
    X = X.reshape(len(X), dim)
    return X / np.maximum(np.linalg.norm(X, axis=1, keepdims=True), 1e-12)


def choose(anchors: Any, candidates: Any, cap: int, duplicate: float,
           anchor_labels: Sequence[str] = (), candidate_labels: Sequence[str] = ()) -> list[str | None]:
    """Which confirmed faces become samples: for each candidate (oldest first) None if kept, else why not.

    anchors: the person's other samples (n, d); candidates: the confirmed faces (m, d). A candidate within
    `duplicate` cosine distance of an anchor or of an earlier candidate is left out (it teaches nothing); of the
    others at most `cap` are kept, picked greedily each farthest from the anchors and those already picked."""
    if len(candidates) == 0:
        return []
    dim = int(np.shape(candidates)[-1])
    A, C = _unit(anchors, dim), _unit(candidates, dim)
    anchor_labels = list(anchor_labels) or [f"sample {i}" for i in range(len(A))]
    candidate_labels = list(candidate_labels) or [f"confirmed face {i}" for i in range(len(C))]
    reasons: list[str | None] = [None] * len(C)
    fresh: list[int] = []
    for i in range(len(C)):
        reference = np.vstack([A, C[fresh]]) if len(A) else C[fresh]
        if len(reference):
            distances = 1.0 - reference @ C[i]
            nearest = int(np.argmin(distances))
            if distances[nearest] <= duplicate:
                label = (anchor_labels + [candidate_labels[j] for j in fresh])[nearest]
                reasons[i] = (f"not kept as a sample: within {distances[nearest]:.3f} of {label} (under "
                              f"{duplicate:.3f}), it teaches nothing new")
                continue
        fresh.append(i)
    for i in set(fresh) - set(_farthest_first(A, C, fresh, cap)):
        reasons[i] = (f"not kept as a sample: the person has {cap} confirmed samples, the most allowed, and those "
                      "kept differ more from each other")
    return reasons


def _farthest_first(A: np.ndarray, C: np.ndarray, fresh: list[int], cap: int) -> list[int]:
    """Up to `cap` of the candidates `fresh`, each the farthest (cosine) from the anchors and those picked
    before it; the oldest first when there are no anchors yet."""
    if len(fresh) <= cap:
        return list(fresh)
    nearest = (1.0 - C[fresh] @ A.T).min(axis=1) if len(A) else np.full(len(fresh), np.inf)
    picked: list[int] = []
    while len(picked) < cap:
        j = int(np.argmax(np.where(np.isin(np.arange(len(fresh)), picked), -np.inf, nearest)))
        picked.append(j)
        nearest = np.minimum(nearest, 1.0 - C[fresh] @ C[fresh[j]])
    return [fresh[j] for j in picked]


# --------------------------------------------------------------------------- in the gallery


@dataclass(frozen=True)
class Outcome:
    """What learning did with one confirmed face: the sample it is (s<N>) or why it is none."""
    sample: str | None
    learning: str

    def to_dict(self) -> dict[str, Any]:
        return {"sample": self.sample, "learning": self.learning}


def refresh(db: sqlite3.Connection, person: str) -> dict[int, Outcome]:
    """Make `person`'s confirmed samples what the rule says for the decisions in force (inside the caller's
    transaction); returns detection id -> Outcome for every confirmed face of theirs."""
    from facerec.thresholds import CONFIRMED_SAMPLE_CAP, duplicate_distance

    found = db.execute("SELECT id FROM people WHERE name = ?", (person,)).fetchone()
    if found is None:
        return {}
    person_id = int(found[0])
    candidates = _candidates(db, person_id)
    samples = db.execute("""SELECT ph.id, ph.path, ph.note, ph.source, f.backbone, f.embedding, f.dim FROM photos ph
                            LEFT JOIN faces f ON f.photo_id = ph.id WHERE ph.person_id = ?""", (person_id,)).fetchall()
    noted = sorted({confirmed_detection(s["note"]) for s in samples} - {None})
    alive = {int(r[0]) for r in db.execute(f"SELECT id FROM detections WHERE id IN ({','.join('?' * len(noted))})",
                                            noted)} if noted else set()
    managed = {confirmed_detection(s["note"]): s for s in samples if confirmed_detection(s["note"]) in alive}
    others = [s for s in samples if confirmed_detection(s["note"]) not in alive]
    outcomes: dict[int, Outcome] = {}
    kept: dict[int, sqlite3.Row] = {}
    for backbone in sorted({c["backbone"] for c in candidates}):
        group = [c for c in candidates if c["backbone"] == backbone and _already(db, c, person_id, others, outcomes)]
        anchors = [s for s in others if s["backbone"] == backbone]
        reasons = choose([decode_embedding(s["embedding"], s["dim"]) for s in anchors],
                         [decode_embedding(c["embedding"]) for c in group],
                         CONFIRMED_SAMPLE_CAP, duplicate_distance(backbone),
                         [f"sample s{s['id']}" for s in anchors], [f"a{c['id']}'s sample" for c in group])
        for c, reason in zip(group, reasons):
            if reason is None:
                kept[int(c["id"])] = c
            else:
                outcomes[int(c["id"])] = Outcome(None, reason)
    changed = False
    for detection, sample in managed.items():
        if detection not in kept:
            db.execute("DELETE FROM photos WHERE id = ?", (sample["id"],))
            changed = True
    for detection, c in kept.items():
        photo_id, added = _store_sample(db, person_id, c, managed.get(detection))
        changed |= added
        outcomes[detection] = Outcome(f"s{photo_id}", KEPT)
    if changed:
        bump_version(db)
    return outcomes


def _candidates(db: sqlite3.Connection, person_id: int) -> list[sqlite3.Row]:
    """The album faces assigned to the person with a confirmation in force, oldest confirmation first. By the
    face's assigned person, not the name the decision recorded: a renamed or merged person keeps their samples."""
    return db.execute(
        """SELECT * FROM (SELECT d.id, d.face_index, d.box, d.landmarks, d.confidence, d.backbone, d.embedding,
                                 m.path AS media_path, m.sha256 AS media_sha, m.mtime AS media_mtime,
                                 m.size AS media_size,
                                 (SELECT MIN(c.id) FROM decisions c WHERE c.detection_id = d.id
                                   AND c.kind = 'confirmed' AND c.undone_at IS NULL) AS first
                          FROM detections d JOIN media m ON m.id = d.media_id WHERE d.assigned_person_id = ?)
           WHERE first IS NOT NULL ORDER BY first""", (person_id,)).fetchall()


def _already(db: sqlite3.Connection, candidate: sqlite3.Row, person_id: int, others: Iterable[sqlite3.Row],
             outcomes: dict[int, Outcome]) -> bool:
    """False (with the reason in `outcomes`) when the face is already a sample in another way: a named group's
    face, or another person's sample left by an older facerec."""
    path = sample_path(candidate["media_path"], candidate["face_index"])
    for s in others:
        if s["path"] == path:
            outcomes[int(candidate["id"])] = Outcome(f"s{s['id']}", f"a sample already (s{s['id']}, {origin(s['source'], s['note'], s['path'])})")
            return False
    owner = db.execute("SELECT person_id FROM photos WHERE path = ?", (path,)).fetchone()
    if owner is not None and int(owner[0]) != person_id:
        outcomes[int(candidate["id"])] = Outcome(None, "not kept as a sample: its face is another person's sample")
        return False
    return True


def _store_sample(db: sqlite3.Connection, person_id: int, c: sqlite3.Row, existing: sqlite3.Row | None) -> tuple[int, bool]:
    """The photos row (and face) of a kept confirmed face; True when something was written."""
    from facerec.gallery.people import PeopleTables

    if existing is not None and existing["backbone"] == c["backbone"]:
        return int(existing["id"]), False
    path = sample_path(c["media_path"], c["face_index"])
    db.execute("""INSERT INTO photos(person_id, path, sha256, mtime, size, status, note, added_at, source)
                  VALUES (?, ?, ?, ?, ?, 'ok', ?, ?, 'tag')
                  ON CONFLICT(path) DO UPDATE SET person_id = excluded.person_id, sha256 = excluded.sha256,
                    note = excluded.note, source = 'tag'""",
               (person_id, path, c["media_sha"] or "", c["media_mtime"], c["media_size"], confirmed_note(c["id"]),
                time.time()))
    photo_id = int(db.execute("SELECT id FROM photos WHERE path = ?", (path,)).fetchone()[0])
    face = face_from_columns(c["box"], c["landmarks"], c["confidence"])
    PeopleTables._insert_face(db, photo_id, c["backbone"], face, decode_embedding(c["embedding"]))
    return photo_id, True


# --------------------------------------------------------------------------- a face that is not P


def unlearn_face(db: sqlite3.Connection, detection_id: int, person: str | None = None,
                 except_person: str | None = None) -> list[dict[str, Any]]:
    """Remove the samples made from one album face: those of `person` (a rejection), or of anyone but
    `except_person` (a confirmation as someone else). Returns what `restore_samples` needs to give back the
    removed samples that no decision makes again (a named group's), for undo."""
    face = db.execute("""SELECT d.face_index, m.path FROM detections d JOIN media m ON m.id = d.media_id
                         WHERE d.id = ?""", (detection_id,)).fetchone()
    rows = db.execute("""SELECT ph.id, ph.path, ph.note, ph.sha256, ph.mtime, ph.size, p.name FROM photos ph
                         JOIN people p ON p.id = ph.person_id WHERE ph.source = 'tag' AND (ph.note = ? OR ph.path = ?)""",
                      (confirmed_note(detection_id), sample_path(face["path"], face["face_index"]))).fetchall()
    removed = []
    for r in rows:
        if (person is not None and r["name"] != person) or (except_person is not None and r["name"] == except_person):
            continue
        db.execute("DELETE FROM photos WHERE id = ?", (r["id"],))
        bump_version(db)
        if confirmed_detection(r["note"]) is None:
            removed.append({"person": r["name"], "path": r["path"], "note": r["note"], "sha256": r["sha256"],
                            "mtime": r["mtime"], "size": r["size"]})
    return removed


def restore_samples(db: sqlite3.Connection, detection_id: int, removed: Iterable[dict[str, Any]]) -> None:
    """Give back samples `unlearn_face` removed (undo), from the album face's embedding."""
    from facerec.gallery.people import PeopleTables

    face = db.execute("SELECT * FROM detections WHERE id = ?", (detection_id,)).fetchone()
    for sample in removed:
        person = db.execute("SELECT id FROM people WHERE name = ?", (sample["person"],)).fetchone()
        if face is None or person is None:
            continue  # the face or the person is gone meanwhile: nothing to give back
        db.execute("DELETE FROM photos WHERE path = ?", (sample["path"],))  # a confirmed sample of the same face
        photo_id = db.execute("""INSERT INTO photos(person_id, path, sha256, mtime, size, status, note, added_at, source)
                                 VALUES (?, ?, ?, ?, ?, 'ok', ?, ?, 'tag')""",
                              (person[0], sample["path"], sample["sha256"], sample["mtime"], sample["size"],
                               sample["note"], time.time())).lastrowid
        PeopleTables._insert_face(db, int(photo_id), face["backbone"],
                                  face_from_columns(face["box"], face["landmarks"], face["confidence"]),
                                  decode_embedding(face["embedding"]))
        bump_version(db)
