"""Human decisions about album faces, kept in the gallery so that they last: confirmed (face F is P), rejected
(F is not P) and dropped from a group (F never rejoins the faces of that group). Each has a time and belongs to
an undo step (one command, one step); `undo` restores what the face was before, newest step first.

Face ids shown to users carry their kind, so enrolled samples and album faces never collide: `a<N>` is an album
face (a `detections` row, stable across re-tagging: facerec.gallery.face_rows), `s<N>` an enrolled sample photo
(a `photos` row). How decisions are honoured: facerec.recognition.recognizer (identify by path, tagging and Ray
never name a rejected face P again, and a confirmed face keeps its name whatever the threshold) and
facerec.album.groups (cannot-link on regrouping); confirmed faces become samples (facerec.gallery.learning).
"""
from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from facerec.errors import FacerecError
from facerec.gallery import learning
from facerec.names import person_name
from facerec.types import UNKNOWN

CONFIRMED, REJECTED, DROPPED = "confirmed", "rejected", "dropped"
ALBUM, SAMPLE = "album", "sample"
_PREFIX = {ALBUM: "a", SAMPLE: "s"}

_SCHEMA = """
CREATE TABLE decisions (
    id INTEGER PRIMARY KEY,
    step INTEGER NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('confirmed','rejected','dropped')),
    detection_id INTEGER NOT NULL REFERENCES detections(id) ON DELETE CASCADE,
    person TEXT,
    group_id INTEGER,
    peers TEXT NOT NULL DEFAULT '[]',
    before TEXT NOT NULL DEFAULT '{}',
    created_at REAL NOT NULL,
    undone_at REAL
);
CREATE INDEX decisions_detection ON decisions(detection_id);
CREATE INDEX decisions_step ON decisions(step)
"""


def migrate_3_to_4(db: sqlite3.Connection) -> None:
    """Schema 4: the decisions table, and the next group id (group ids are never reused: facerec.album.groups)."""
    for statement in _SCHEMA.split(";"):
        if statement.strip():
            db.execute(statement)
    db.execute("INSERT INTO meta(key, value) SELECT 'next_group', COALESCE(MAX(cluster_id), 0) + 1 FROM detections")


class DecisionError(FacerecError):
    """An unknown or stale id, or a decision that cannot be made: nothing was changed (exit 1; HTTP 404/409)."""

    def __init__(self, message: str, status: int = 404):
        super().__init__(message)
        self.status = status


# --------------------------------------------------------------------------- ids


def face_id(kind: str, row_id: int) -> str:
    return f"{_PREFIX[kind]}{int(row_id)}"


def parse_face_id(text: str) -> tuple[str, int]:
    """'a12' -> ('album', 12), 's3' -> ('sample', 3); anything else is refused with the reason."""
    text = str(text).strip()
    for kind, prefix in _PREFIX.items():
        if text[:1].lower() == prefix and text[1:].isdigit():
            return kind, int(text[1:])
    raise DecisionError(f"{text!r} is not a face id: album faces are a<N>, enrolled samples s<N> "
                        "(see `facerec faces`)")


# --------------------------------------------------------------------------- making decisions


@dataclass(frozen=True)
class Decision:
    id: int
    step: int
    kind: str
    face: str
    person: str | None
    group_id: int | None
    created_at: float
    undone_at: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "step": self.step, "kind": self.kind, "face": self.face, "person": self.person,
                "group": self.group_id, "created_at": self.created_at, "undone": self.undone_at is not None}


def _album_rows(db: sqlite3.Connection, ids: Iterable[str]) -> list[sqlite3.Row]:
    """The detection rows of album face ids, in order; refuses samples, unknown ids and repeats."""
    rows, seen = [], set()
    for text in ids:
        kind, row_id = parse_face_id(text)
        if kind == SAMPLE:
            raise DecisionError(f"{text} is an enrolled sample: it is its person's by enrolment; decisions are "
                                "about album faces (a<N>); to remove a sample, take its photo out of the person's folder "
                                "and run `facerec enroll` again")
        row = db.execute("""SELECT d.*, p.name AS assigned_person FROM detections d
                            LEFT JOIN people p ON p.id = d.assigned_person_id WHERE d.id = ?""", (row_id,)).fetchone()
        if row is None:
            raise DecisionError(f"no album face {text} (it may have gone when its photo was re-tagged); "
                                "see `facerec faces`")
        if row_id not in seen:
            seen.add(row_id)
            rows.append(row)
    if not rows:
        raise DecisionError("no face ids given")
    return rows


def current_name(row: sqlite3.Row) -> str:
    return row["assigned_person"] or row["predicted_name"] or UNKNOWN


def _before(row: sqlite3.Row, samples: Sequence[dict[str, Any]] = ()) -> str:
    """What undo gives back: the face's names and group, and the samples made from it that the decision removed."""
    return json.dumps({"assigned_person": row["assigned_person"], "predicted_name": row["predicted_name"],
                       "score": row["score"], "cluster_id": row["cluster_id"], "samples": list(samples)})


def _next_step(db: sqlite3.Connection) -> int:
    from facerec.gallery.people_decisions import newest_step

    return newest_step(db) + 1  # one counter with the person-level steps: one undo stack


def _insert(db: sqlite3.Connection, step: int, kind: str, row: sqlite3.Row, person: str | None,
            group_id: int | None = None, peers: Sequence[int] = (), samples: Sequence[dict[str, Any]] = ()) -> None:
    db.execute("INSERT INTO decisions(step, kind, detection_id, person, group_id, peers, before, created_at)"
               " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
               (step, kind, row["id"], person, group_id, json.dumps([int(p) for p in peers]), _before(row, samples),
                time.time()))


def _check_seen(row: sqlite3.Row, seen: str | None) -> None:
    """Refuse (409) a decision made on a view of the face that is no longer true: it carries another name now."""
    if seen is not None and current_name(row) != seen:
        raise DecisionError(f"face a{row['id']} is now {current_name(row)!r}, not {seen!r} as shown; look again", 409)


def _faces_and_names(db: sqlite3.Connection, ids: Iterable[str], name: str | None, seen: str | None,
                     what: str) -> list[tuple[sqlite3.Row, str]]:
    """Each album face of `ids` with the person a decision on it is about (`name`, or the name it carries now);
    refuses a stale view or a face with no name to decide on (`what` says what to do instead)."""
    from facerec.gallery.people_decisions import enrolled_spelling

    out = []
    for row in _album_rows(db, ids):
        _check_seen(row, seen)
        person = enrolled_spelling(db, name) if name is not None else current_name(row)
        if person == UNKNOWN:
            raise DecisionError(f"face a{row['id']} carries no name to {what}", 409)
        out.append((row, person))
    return out


def confirm(gallery: Any, ids: Iterable[str], name: str | None = None, seen: str | None = None) -> list[dict[str, Any]]:
    """Face F is P (P = `name`, or the name F carries now): F keeps P whatever the threshold. P must be enrolled.
    `seen`: the name the user saw on the faces (409 when it changed). All ids are checked before anything
    changes; one undo step. Each confirmed face may become a sample of P (facerec.gallery.learning): its
    answer says whether ("sample", "learning")."""
    with gallery._transaction() as db:
        done = []
        for row, person in _faces_and_names(db, ids, name, seen, "confirm; give one with --as NAME"):
            person_id = db.execute("SELECT id FROM people WHERE name = ?", (person,)).fetchone()
            if person_id is None:
                raise DecisionError(f"nobody called {person!r} is enrolled; enroll them first, or name a group "
                                    "with `facerec name`")
            done.append((row, person, int(person_id[0])))
        step = _next_step(db)
        for row, person, person_id in done:
            _insert(db, step, CONFIRMED, row, person, samples=learning.unlearn_face(db, row["id"], except_person=person))
            db.execute("UPDATE detections SET assigned_person_id = ?, predicted_name = ?, score = 1.0 WHERE id = ?",
                       (person_id, person, row["id"]))
        learned = _relearn(db, [p for _, p, _ in done] + [current_name(r) for r, _, _ in done])
    return [{"id": face_id(ALBUM, r["id"]), "name": p, "step": step,
             **learned.get(r["id"], learning.Outcome(None, "not kept as a sample")).to_dict()} for r, p, _ in done]


def reject(gallery: Any, ids: Iterable[str], name: str | None = None, seen: str | None = None) -> list[dict[str, Any]]:
    """Face F is not P (P = `name`, or the name F carries now): F becomes unknown if it carried P, and tagging
    never names it P again. `seen` as for confirm. All ids are checked before anything changes; one undo step."""
    with gallery._transaction() as db:
        done = _faces_and_names(db, ids, name, seen, "reject; give one with --name NAME")
        step = _next_step(db)
        for row, person in done:
            _insert(db, step, REJECTED, row, person, samples=learning.unlearn_face(db, row["id"], person=person))
            if current_name(row) == person:  # unnamed again: it may be grouped with other unknown faces
                db.execute("UPDATE detections SET assigned_person_id = NULL, predicted_name = ?, score = 0,"
                           " cluster_id = NULL WHERE id = ?", (UNKNOWN, row["id"]))
        _relearn(db, [p for _, p in done])
    return [{"id": face_id(ALBUM, r["id"]), "name": p, "step": step} for r, p in done]


def drop(gallery: Any, group_id: int, detection_ids: Iterable[int], members: Sequence[int]) -> int:
    """Faces leave group `group_id` (whose faces are `members`) and never rejoin those faces on regrouping
    (cannot-link). Returns the undo step."""
    from facerec.album.cluster import NOISE

    with gallery._transaction() as db:
        rows = _album_rows(db, [face_id(ALBUM, d) for d in detection_ids])
        step = _next_step(db)
        for row in rows:
            _insert(db, step, DROPPED, row, None, group_id, [m for m in members if m != row["id"]])
            db.execute("UPDATE detections SET cluster_id = ? WHERE id = ?", (NOISE, row["id"]))
    return step


# --------------------------------------------------------------------------- undo and listing


def _decision(row: sqlite3.Row) -> Decision:
    return Decision(row["id"], row["step"], row["kind"], face_id(ALBUM, row["detection_id"]), row["person"],
                    row["group_id"], row["created_at"], row["undone_at"])


def history(gallery: Any, include_undone: bool = False) -> list[Decision]:
    rows = gallery._db.execute("SELECT * FROM decisions WHERE (? OR undone_at IS NULL) ORDER BY id",
                               (int(include_undone),))
    return [_decision(r) for r in rows]


def undo(gallery: Any, steps: int = 1) -> list[Decision]:
    """Undo the newest `steps` steps still in force, person-level ones too (facerec.gallery.people_decisions.undo):
    each face gets back what it had before. Returns the face decisions undone; refuses (nothing changed) when
    there is nothing to undo."""
    from facerec.gallery.people_decisions import undo as undo_steps

    return [d for step in undo_steps(gallery, steps) for d in step.decisions]


def undo_step(db: sqlite3.Connection, step: int, now: float) -> list[Decision]:
    """Inside the caller's transaction: the faces of one step's decisions get back what they had, newest first."""
    rows = db.execute("SELECT * FROM decisions WHERE step = ? AND undone_at IS NULL ORDER BY id DESC",
                      (step,)).fetchall()
    for row in rows:
        _restore(db, row)
        db.execute("UPDATE decisions SET undone_at = ? WHERE id = ?", (now, row["id"]))
    _relearn(db, [r["person"] for r in rows] + [json.loads(r["before"]).get("assigned_person") for r in rows])
    return [_decision(r) for r in rows]


def _restore(db: sqlite3.Connection, decision: sqlite3.Row) -> None:
    before = json.loads(decision["before"])
    if decision["kind"] == DROPPED:
        group = before.get("cluster_id")
        alive = group is not None and db.execute("SELECT 1 FROM detections WHERE cluster_id = ? AND id != ?",
                                                 (group, decision["detection_id"])).fetchone()
        db.execute("UPDATE detections SET cluster_id = ? WHERE id = ?",
                   (group if alive else None, decision["detection_id"]))
        return
    person = before.get("assigned_person")
    person_id = None if person is None else db.execute("SELECT id FROM people WHERE name = ?", (person,)).fetchone()
    db.execute("UPDATE detections SET assigned_person_id = ?, predicted_name = ?, score = ? WHERE id = ?",
               (None if person_id is None else person_id[0], before.get("predicted_name"), before.get("score"),
                decision["detection_id"]))
    learning.restore_samples(db, decision["detection_id"], before.get("samples", []))


def _relearn(db: sqlite3.Connection, people: Iterable[str | None]) -> dict[int, "learning.Outcome"]:
    """Bring the confirmed samples of everyone a step touched in line with the decisions in force."""
    outcomes: dict[int, learning.Outcome] = {}
    for person in dict.fromkeys(p for p in people if p and p != UNKNOWN):
        outcomes.update(learning.refresh(db, person))
    return outcomes


# --------------------------------------------------------------------------- honouring them


@dataclass
class FaceVerdict:
    """What people decided about one album face: the name it keeps (confirmed) and the names it is not."""
    box: tuple[int, ...]
    confirmed: str | None = None
    rejected: set[str] = field(default_factory=set)


def verdicts_for_media(gallery: Any, media_key: str) -> list[FaceVerdict]:
    """The decisions in force about the faces of one photo, oldest first: a later decision about a name
    overrides an earlier one (confirming P lifts a rejection of P, rejecting P drops a confirmation of P)."""
    rows = gallery._db.execute(
        """SELECT dec.kind, dec.person, d.id AS detection, d.box FROM decisions dec
           JOIN detections d ON d.id = dec.detection_id JOIN media m ON m.id = d.media_id
           WHERE m.path = ? AND dec.undone_at IS NULL AND dec.kind != 'dropped' ORDER BY dec.id""",
        (str(media_key),)).fetchall()
    by_face: dict[int, FaceVerdict] = {}
    for r in rows:
        verdict = by_face.setdefault(r["detection"], FaceVerdict(tuple(json.loads(r["box"]))))
        if r["kind"] == CONFIRMED:
            verdict.confirmed = r["person"]
            verdict.rejected.discard(r["person"])
        else:
            verdict.rejected.add(r["person"])
            if verdict.confirmed == r["person"]:
                verdict.confirmed = None
    return list(by_face.values())


def cannot_link(gallery: Any) -> dict[int, set[int]]:
    """Dropped face -> the faces of the group it was dropped from (decisions in force)."""
    out: dict[int, set[int]] = {}
    for r in gallery._db.execute("SELECT detection_id, peers FROM decisions WHERE kind = 'dropped'"
                                 " AND undone_at IS NULL"):
        out.setdefault(int(r["detection_id"]), set()).update(int(p) for p in json.loads(r["peers"]))
    return out


def honour(verdicts: Sequence[FaceVerdict], faces: Sequence[Any], identities: Sequence[Any]) -> tuple[list[Any], list[bool]]:
    """The identities of one photo's faces with people's decisions applied, and which faces a person named.

    A face is matched to a decided one by box overlap (the same rule that keeps its row). Confirmed: it keeps that
    name whatever the matcher says; rejected: a name it was told it is not becomes UNKNOWN; a confirmed name is
    given to no other face of the photo (a person is in a photo once)."""
    from facerec.gallery.face_rows import match_boxes
    from facerec.types import Identity

    out, by_person = list(identities), [False] * len(identities)
    matched = match_boxes([v.box for v in verdicts], [tuple(f.box) for f in faces])
    confirmed_names = set()
    for j, i in matched.items():
        verdict, ident = verdicts[i], out[j]
        if verdict.confirmed is not None:
            out[j] = Identity(verdict.confirmed, 1.0, ident.distance, {**ident.extra, "confirmed": True})
            by_person[j] = True
            confirmed_names.add(verdict.confirmed)
        elif ident.name in verdict.rejected:
            out[j] = Identity(UNKNOWN, 0.0, ident.distance, {**ident.extra, "rejected": ident.name})
    for j, ident in enumerate(out):
        if not by_person[j] and ident.name in confirmed_names:
            out[j] = Identity(UNKNOWN, 0.0, ident.distance, {**ident.extra, "nearest": ident.name})
    return out, by_person


def honour_album_photo(gallery: Any, path: str, faces: Sequence[Any], identities: Sequence[Any]) -> tuple[list[Any], list[bool]]:
    """`honour` for a photo identified by path (`facerec identify`, the Python API): the decisions about the album
    faces `tag` stored for that file, if it is an album photo."""
    import os

    from facerec.names import is_utf8

    key = os.path.abspath(path)  # facerec.album.photos.media_key; tag never stores a name that is not UTF-8
    verdicts = verdicts_for_media(gallery, key) if gallery is not None and faces and is_utf8(key) else []
    return honour(verdicts, faces, identities) if verdicts else (list(identities), [False] * len(identities))
