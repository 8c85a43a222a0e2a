"""Person-level decisions: rename, merge, hide / unhide, the cover face, moving faces to another person and naming
a group. Each is one undo step with a time, on the same stack as the face decisions of facerec.gallery.decisions
(one step counter over both tables): `undo` takes back the newest step whatever its kind, and restores exactly
what was before it (names of samples and album faces, decisions, hidden, cover, aliases).

Schema 5 (`migrate_4_to_5`): people.hidden and people.cover (a face id, a<N> or s<N>); aliases (a PEOPLE_DIR folder
name that means another person since a rename or merge: `facerec enroll` adds that folder's photos to them, as long
as nobody is called by that name); person_decisions (step, kind, person, names, summary, before, created_at,
undone_at). `before` names people by name (a later rename is always undone first, so names are stable under the
stack) and rows by id.

Names: every name goes through facerec.names.person_name. A name that is nobody's exactly but differs only by
case or word separators (' ', '_', '-', '.': facerec.names.name_key) from exactly one person's name is that
person: "katy_perry" finds "Katy_Perry" (`Person.note` says so for the output). Such names are each other's
`similar` names (candidates for a merge), and a rename may not make two of them.

Hidden people are left out of `facerec people` and the review page's grid unless asked for; they are still
recognised (as on immich's People page).
"""
from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from facerec.gallery.decisions import (ALBUM, CONFIRMED, REJECTED, SAMPLE, Decision, DecisionError, _album_rows,
                                       _check_seen, _insert, _relearn, current_name, face_id, parse_face_id,
                                       undo_step)
from facerec.gallery.learning import album_place, sample_path
from facerec.gallery.schema import bump_version
from facerec.names import InvalidNameError, name_key, person_name
from facerec.types import UNKNOWN

RENAMED, MERGED, HIDDEN, UNHIDDEN, COVER, MOVED, NAMED = "renamed", "merged", "hidden", "unhidden", "cover", "moved", "named"
PERSON_KINDS = (RENAMED, MERGED, HIDDEN, UNHIDDEN, COVER, MOVED, NAMED)
NAME_RULE = "names that differ only by case or by ' ', '_', '-', '.' are one person"

_SCHEMA = f"""
ALTER TABLE people ADD COLUMN hidden INTEGER NOT NULL DEFAULT 0;
ALTER TABLE people ADD COLUMN cover TEXT;
CREATE TABLE aliases (
    alias TEXT PRIMARY KEY,
    person_id INTEGER NOT NULL REFERENCES people(id) ON DELETE CASCADE,
    created_at REAL NOT NULL
);
CREATE INDEX aliases_person ON aliases(person_id);
CREATE TABLE person_decisions (
    id INTEGER PRIMARY KEY,
    step INTEGER NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ({", ".join(repr(k) for k in PERSON_KINDS)})),
    person TEXT NOT NULL,
    names TEXT NOT NULL DEFAULT '[]',
    summary TEXT NOT NULL,
    before TEXT NOT NULL DEFAULT '{{}}',
    created_at REAL NOT NULL,
    undone_at REAL
);
CREATE INDEX person_decisions_step ON person_decisions(step)
"""


def migrate_4_to_5(db: sqlite3.Connection) -> None:
    """Schema 5: hidden people, cover faces, folder aliases and person-level decisions."""
    for statement in _SCHEMA.split(";"):
        if statement.strip():
            db.execute(statement)


# --------------------------------------------------------------------------- names


@dataclass(frozen=True)
class Person:
    id: int
    name: str  # as the gallery holds it
    typed: str  # as it was given

    @property
    def note(self) -> str | None:
        """Says that a typed name was taken as another spelling of someone's name (None when it was exact)."""
        if self.typed == self.name:
            return None
        return f"{self.typed!r} is taken as {self.name!r} ({NAME_RULE})"


def _valid_or_none(raw: str) -> str | None:
    try:
        return person_name(raw)
    except InvalidNameError:
        return None


def find_person(db: sqlite3.Connection, raw: str) -> Person | None:
    """The person `raw` names: exactly (a name an older facerec let in is found as it is), else the one person
    whose name differs only by case or word separators. None when nobody; DecisionError (409) when several;
    InvalidNameError for a name that cannot be a person's."""
    name = _valid_or_none(raw)
    for candidate in (name, raw):
        if candidate is not None:
            row = db.execute("SELECT id, name FROM people WHERE name = ?", (candidate,)).fetchone()
            if row is not None:
                return Person(int(row["id"]), row["name"], row["name"])
    if name is None:
        person_name(raw)  # raises, saying what is wrong with it
    key = name_key(name)  # type: ignore[arg-type]
    matches = [r for r in db.execute("SELECT id, name FROM people ORDER BY name") if name_key(r["name"]) == key]
    if len(matches) > 1:
        raise DecisionError(f"{name!r} could be {' or '.join(repr(r['name']) for r in matches)}: give the name "
                            "exactly (or merge them)", 409)
    return Person(int(matches[0]["id"]), matches[0]["name"], name) if matches else None  # type: ignore[arg-type]


def enrolled_spelling(db: sqlite3.Connection, name: str) -> str:
    """`name` through facerec.names, spelt as the enrolled person it means when it differs from their name only by
    case or separators ("katy_perry" -> "Katy_Perry", `find_person`): for confirm / reject and uploads."""
    found = find_person(db, name)
    return found.name if found is not None else person_name(name)


def person_named(db: sqlite3.Connection, raw: str) -> Person:
    person = find_person(db, raw)
    if person is None:
        raise DecisionError(f"nobody called {raw!r} is enrolled (see `facerec people --all`)", 404)
    return person


def similar_names(names: Iterable[str]) -> dict[str, list[str]]:
    """Each name -> the other names that differ from it only by case or word separators."""
    by_key: dict[str, list[str]] = {}
    for name in names:
        by_key.setdefault(name_key(name), []).append(name)
    return {n: [o for o in group if o != n] for group in by_key.values() for n in group}


# --------------------------------------------------------------------------- the shared step counter


def newest_step(db: sqlite3.Connection) -> int:
    """The newest step of either table (undone ones too: a step number is never given twice)."""
    return int(db.execute("SELECT MAX(s) FROM (SELECT MAX(step) AS s FROM decisions"
                          " UNION ALL SELECT MAX(step) FROM person_decisions)").fetchone()[0] or 0)


def steps_in_force(db: sqlite3.Connection, limit: int) -> list[int]:
    """The newest `limit` steps not undone, newest first."""
    return [int(r[0]) for r in db.execute(
        "SELECT step FROM decisions WHERE undone_at IS NULL UNION SELECT step FROM person_decisions"
        " WHERE undone_at IS NULL ORDER BY step DESC LIMIT ?", (int(limit),))]


def _record(db: sqlite3.Connection, step: int, kind: str, person: str, names: Iterable[str], summary: str,
            before: dict[str, Any]) -> None:
    db.execute("INSERT INTO person_decisions(step, kind, person, names, summary, before, created_at)"
               " VALUES (?, ?, ?, ?, ?, ?, ?)",
               (step, kind, person, json.dumps(sorted(set(names) | {person})), summary, json.dumps(before),
                time.time()))


def _ids(values: Iterable[int]) -> str:
    return json.dumps([int(v) for v in values])


# --------------------------------------------------------------------------- rename and merge


def _aliases_of(db: sqlite3.Connection, person_id: int) -> list[str]:
    return [r[0] for r in db.execute("SELECT alias FROM aliases WHERE person_id = ? ORDER BY alias", (person_id,))]


def _alias_row(db: sqlite3.Connection, alias: str) -> dict[str, Any] | None:
    row = db.execute("SELECT a.alias, p.name AS person, a.created_at FROM aliases a JOIN people p ON p.id = a.person_id"
                     " WHERE a.alias = ?", (alias,)).fetchone()
    return None if row is None else dict(row)


def _put_alias(db: sqlite3.Connection, alias: str, person_id: int) -> dict[str, Any] | None:
    """Folder name `alias` means person `person_id` from now on; returns the alias it replaced (for undo)."""
    replaced = _alias_row(db, alias)
    db.execute("INSERT OR REPLACE INTO aliases(alias, person_id, created_at) VALUES (?, ?, ?)",
               (alias, person_id, time.time()))
    return replaced


def _restore_aliases(db: sqlite3.Connection, rows: Iterable[dict[str, Any] | None]) -> None:
    for row in rows:
        if row is None:
            continue
        person = db.execute("SELECT id FROM people WHERE name = ?", (row["person"],)).fetchone()
        if person is not None:
            db.execute("INSERT OR REPLACE INTO aliases(alias, person_id, created_at) VALUES (?, ?, ?)",
                       (row["alias"], person[0], row["created_at"]))


def _rename_everywhere(db: sqlite3.Connection, person_id: int, old: str, new: str, keep: dict[str, list[int]]) -> None:
    """The person and every name facerec stored for them: faces tagging named, decisions about them -- except the
    rows of `keep` ("detections", "decisions": ids that carried `old` without meaning this person)."""
    db.execute("UPDATE people SET name = ? WHERE id = ?", (new, person_id))
    db.execute("UPDATE detections SET predicted_name = ? WHERE predicted_name = ?"
               " AND id NOT IN (SELECT value FROM json_each(?))", (new, old, _ids(keep.get("detections", []))))
    db.execute("UPDATE decisions SET person = ? WHERE person = ? AND id NOT IN (SELECT value FROM json_each(?))",
               (new, old, _ids(keep.get("decisions", []))))


def _carrying(db: sqlite3.Connection, name: str) -> dict[str, list[int]]:
    """Rows that carry a name nobody has (left by a person deleted without forgetting): a rename onto that name
    must not take them over when it is undone."""
    return {"detections": [r[0] for r in db.execute("SELECT id FROM detections WHERE predicted_name = ?", (name,))],
            "decisions": [r[0] for r in db.execute("SELECT id FROM decisions WHERE person = ?", (name,))]}


def rename(gallery: Any, old: str, new: str) -> dict[str, Any]:
    """OLD is called NEW from now on: samples, album faces, decisions, cover and hidden follow (one undo step).
    Refused (409) when NEW is someone else's name, or differs from it only by case or separators: that is a merge.
    The folder name OLD becomes an alias of NEW for `facerec enroll`."""
    target = person_name(new)
    with gallery._transaction() as db:
        person = person_named(db, old)
        if target == person.name:
            raise DecisionError(f"{person.name!r} is already called that", 409)
        clash = [r["name"] for r in db.execute("SELECT id, name FROM people WHERE id != ?", (person.id,))
                 if r["name"] == target or name_key(r["name"]) == name_key(target)]
        if clash:
            raise DecisionError(f"{clash[0]!r} is enrolled already: to make one person of {person.name!r} and "
                                f"{clash[0]!r}, merge them (`facerec merge`)", 409)
        # the aliases this replaces, by the names people have before the step (what undo comes back to)
        before = {"old": person.name, "new": target, "alias_replaced": _alias_row(db, person.name),
                  "alias_removed": _alias_row(db, target), "stale": _carrying(db, target)}
        _rename_everywhere(db, person.id, person.name, target, {})
        _put_alias(db, person.name, person.id)
        db.execute("DELETE FROM aliases WHERE alias = ?", (target,))  # a name is its own person's, never an alias
        bump_version(db)  # tagging re-identifies, so photos and sidecars carry the new name
        step = newest_step(db) + 1
        _record(db, step, RENAMED, target, [person.name], f"renamed {person.name} to {target}", before)
    return {"person": target, "was": person.name, "step": step, "note": person.note}


def _undo_rename(db: sqlite3.Connection, before: dict[str, Any]) -> None:
    old, new = before["old"], before["new"]
    if db.execute("SELECT 1 FROM people WHERE name = ?", (old,)).fetchone():
        raise DecisionError(f"cannot undo the rename: someone is called {old!r} now; rename or merge them first", 409)
    person = db.execute("SELECT id FROM people WHERE name = ?", (new,)).fetchone()
    if person is None:
        return  # forgotten since
    _rename_everywhere(db, int(person[0]), new, old, before.get("stale", {}))
    db.execute("DELETE FROM aliases WHERE alias = ?", (old,))
    _restore_aliases(db, [before.get("alias_replaced"), before.get("alias_removed")])
    bump_version(db)


def merge(gallery: Any, source: str, into: str) -> dict[str, Any]:
    """FROM becomes part of INTO: FROM's samples, the album faces named or assigned FROM, the decisions about FROM
    and FROM's aliases move to INTO, the folder name FROM becomes an alias of INTO, and FROM is gone (one undo
    step; undo brings FROM back with exactly what was theirs)."""
    with gallery._transaction() as db:
        gone, kept = person_named(db, source), person_named(db, into)
        if gone.id == kept.id:
            raise DecisionError(f"{source!r} and {into!r} are one person ({kept.name!r}) already", 409)
        row = db.execute("SELECT hidden, cover, created_at FROM people WHERE id = ?", (gone.id,)).fetchone()
        before = {
            "from": gone.name, "into": kept.name, "hidden": row["hidden"], "cover": row["cover"],
            "created_at": row["created_at"], "aliases": _aliases_of(db, gone.id),
            "photos": [r[0] for r in db.execute("SELECT id FROM photos WHERE person_id = ?", (gone.id,))],
            "assigned": [r[0] for r in db.execute("SELECT id FROM detections WHERE assigned_person_id = ?", (gone.id,))],
            "predicted": [r[0] for r in db.execute("SELECT id FROM detections WHERE predicted_name = ?", (gone.name,))],
            "decisions": [r[0] for r in db.execute("SELECT id FROM decisions WHERE person = ?", (gone.name,))],
        }
        db.execute("UPDATE photos SET person_id = ? WHERE person_id = ?", (kept.id, gone.id))
        db.execute("UPDATE detections SET assigned_person_id = ? WHERE assigned_person_id = ?", (kept.id, gone.id))
        db.execute("UPDATE detections SET predicted_name = ? WHERE predicted_name = ?", (kept.name, gone.name))
        db.execute("UPDATE decisions SET person = ? WHERE person = ?", (kept.name, gone.name))
        db.execute("UPDATE aliases SET person_id = ? WHERE person_id = ?", (kept.id, gone.id))
        db.execute("DELETE FROM people WHERE id = ?", (gone.id,))
        before["alias_replaced"] = _put_alias(db, gone.name, kept.id)
        bump_version(db)
        step = newest_step(db) + 1
        _record(db, step, MERGED, kept.name, [gone.name], f"merged {gone.name} into {kept.name}", before)
    notes = [p.note for p in (gone, kept) if p.note]
    return {"person": kept.name, "merged": gone.name, "step": step, "photos": len(before["photos"]),
            "album_faces": len(set(before["assigned"]) | set(before["predicted"])), "note": "; ".join(notes) or None}


def _undo_merge(db: sqlite3.Connection, before: dict[str, Any]) -> None:
    gone, kept = before["from"], before["into"]
    if db.execute("SELECT 1 FROM people WHERE name = ?", (gone,)).fetchone():
        raise DecisionError(f"cannot undo the merge: someone is called {gone!r} now; rename or merge them first", 409)
    into = db.execute("SELECT id FROM people WHERE name = ?", (kept,)).fetchone()
    if into is None:
        return  # forgotten since, and everything that was theirs with them
    kept_id = int(into[0])
    gone_id = db.execute("INSERT INTO people(name, created_at, hidden, cover) VALUES (?, ?, ?, ?)",
                         (gone, before["created_at"], before["hidden"], before["cover"])).lastrowid
    db.execute("UPDATE photos SET person_id = ? WHERE person_id = ? AND id IN (SELECT value FROM json_each(?))",
               (gone_id, kept_id, _ids(before["photos"])))
    db.execute("UPDATE detections SET assigned_person_id = ? WHERE assigned_person_id = ?"
               " AND id IN (SELECT value FROM json_each(?))", (gone_id, kept_id, _ids(before["assigned"])))
    db.execute("UPDATE detections SET predicted_name = ? WHERE predicted_name = ?"
               " AND id IN (SELECT value FROM json_each(?))", (gone, kept, _ids(before["predicted"])))
    db.execute("UPDATE decisions SET person = ? WHERE person = ? AND id IN (SELECT value FROM json_each(?))",
               (gone, kept, _ids(before["decisions"])))
    db.execute("DELETE FROM aliases WHERE alias = ?", (gone,))
    db.execute("UPDATE aliases SET person_id = ? WHERE person_id = ? AND alias IN (SELECT value FROM json_each(?))",
               (gone_id, kept_id, json.dumps(before["aliases"])))
    _restore_aliases(db, [before.get("alias_replaced")])
    bump_version(db)


# --------------------------------------------------------------------------- hide and cover


def set_hidden(gallery: Any, name: str, hidden: bool) -> dict[str, Any]:
    """Hide a person from `facerec people` and the page's grid (still recognised), or show them again; one step."""
    with gallery._transaction() as db:
        person = person_named(db, name)
        was = bool(db.execute("SELECT hidden FROM people WHERE id = ?", (person.id,)).fetchone()[0])
        if was == hidden:
            raise DecisionError(f"{person.name!r} is {'already hidden' if hidden else 'not hidden'}", 409)
        db.execute("UPDATE people SET hidden = ? WHERE id = ?", (int(hidden), person.id))
        step = newest_step(db) + 1
        _record(db, step, HIDDEN if hidden else UNHIDDEN, person.name, [],
                f"{'hid' if hidden else 'showed'} {person.name}", {"person": person.name, "hidden": was})
    return {"person": person.name, "hidden": hidden, "step": step, "note": person.note}


def _owner(db: sqlite3.Connection, face: str) -> tuple[str | None, bool]:
    """(the name of the person a face id is of, or None for an unknown face; whether the face exists)."""
    kind, row_id = parse_face_id(face)
    if kind == SAMPLE:
        row = db.execute("SELECT p.name FROM photos ph JOIN people p ON p.id = ph.person_id WHERE ph.id = ?"
                         " AND EXISTS (SELECT 1 FROM faces f WHERE f.photo_id = ph.id)", (row_id,)).fetchone()
        return (row[0] if row else None), row is not None
    row = db.execute("SELECT d.predicted_name, p.name AS assigned FROM detections d LEFT JOIN people p"
                     " ON p.id = d.assigned_person_id WHERE d.id = ?", (row_id,)).fetchone()
    if row is None:
        return None, False
    name = row["assigned"] or row["predicted_name"]
    return (None if name in (None, UNKNOWN) else name), True


def set_cover(gallery: Any, name: str, face: str) -> dict[str, Any]:
    """The face (a<N> or s<N>) that stands for a person on the page; it must be theirs (409 otherwise). One step."""
    with gallery._transaction() as db:
        person = person_named(db, name)
        kind, row_id = parse_face_id(face)
        face = face_id(kind, row_id)
        owner, exists = _owner(db, face)
        if not exists:
            raise DecisionError(f"no face {face} (see `facerec faces --person {person.name!r}`)", 404)
        if owner != person.name:
            raise DecisionError(f"face {face} is {'unknown' if owner is None else repr(owner) + chr(39) + 's'}, "
                                f"not {person.name!r}'s", 409)
        was = db.execute("SELECT cover FROM people WHERE id = ?", (person.id,)).fetchone()[0]
        if was == face:
            raise DecisionError(f"{face} is {person.name!r}'s cover face already", 409)
        db.execute("UPDATE people SET cover = ? WHERE id = ?", (face, person.id))
        step = newest_step(db) + 1
        _record(db, step, COVER, person.name, [], f"{face} is the cover face of {person.name}",
                {"person": person.name, "cover": was})
    return {"person": person.name, "cover": face, "step": step, "note": person.note}


def cover_of(db: sqlite3.Connection, name: str, cover: str | None) -> str | None:
    """The stored cover face while it is still that person's (a re-tag or a move may have taken it away)."""
    if cover is None:
        return None
    try:
        owner, exists = _owner(db, cover)
    except DecisionError:
        return None
    return cover if exists and owner == name else None


# --------------------------------------------------------------------------- moving faces


def _tag_sample(db: sqlite3.Connection, detection: sqlite3.Row) -> sqlite3.Row | None:
    """The sample a named group made of this album face (facerec.gallery.media: "<media path>#face<index>")."""
    media = db.execute("SELECT path FROM media WHERE id = ?", (detection["media_id"],)).fetchone()
    if media is None:
        return None
    return db.execute("SELECT id, person_id FROM photos WHERE path = ? AND source = 'tag'",
                      (sample_path(media[0], detection["face_index"]),)).fetchone()


def _album_face_of_sample(db: sqlite3.Connection, text: str) -> str:
    """The album face id a face id stands for: a sample made by naming a group is its album face; a sample enrolled
    from a folder or an upload is refused (its photo decides: move the file and enroll again)."""
    kind, row_id = parse_face_id(text)
    if kind == ALBUM:
        return text
    row = db.execute("SELECT path, source FROM photos WHERE id = ?", (row_id,)).fetchone()
    if row is None:
        raise DecisionError(f"no enrolled sample {text} (see `facerec faces`)", 404)
    media, index = album_place(row["path"]) or (row["path"], -1)
    detection = db.execute("SELECT d.id FROM detections d JOIN media m ON m.id = d.media_id WHERE m.path = ?"
                           " AND d.face_index = ?", (media, index)).fetchone()
    if row["source"] != "tag" or detection is None:
        raise DecisionError(f"{text} is the enrolled photo {row['path']}: to give it to someone else, move the file "
                            "to their folder and run `facerec enroll` again", 409)
    return face_id(ALBUM, detection[0])


def move(gallery: Any, ids: Sequence[str], to: str, seen: str | None = None) -> list[dict[str, Any]]:
    """Album faces are NAME's, not who they are named now: each is rejected as its current name (if it has one)
    and confirmed as NAME, and a sample a named group made of it goes to NAME too -- all one undo step. A sample
    made by naming a group (s<N>) moves as its album face. NAME must be enrolled. `seen`: the name the user saw on
    the faces (409 when it changed). All ids are checked first."""
    with gallery._transaction() as db:
        target = person_named(db, to)
        rows = _album_rows(db, [_album_face_of_sample(db, i) for i in ids])
        for row in rows:
            _check_seen(row, seen)
            if current_name(row) == target.name:
                raise DecisionError(f"face a{row['id']} is {target.name!r}'s already", 409)
        step = newest_step(db) + 1
        moved, samples = [], []
        for row in rows:
            was = current_name(row)
            if was != UNKNOWN:
                _insert(db, step, REJECTED, row, was)
            _insert(db, step, CONFIRMED, row, target.name)
            db.execute("UPDATE detections SET assigned_person_id = ?, predicted_name = ?, score = 1.0 WHERE id = ?",
                       (target.id, target.name, row["id"]))
            sample = _tag_sample(db, row)
            if sample is not None and sample["person_id"] != target.id:
                samples.append({"photo": sample["id"], "person_id": sample["person_id"]})
                db.execute("UPDATE photos SET person_id = ? WHERE id = ?", (target.id, sample["id"]))
            moved.append({"face": face_id(ALBUM, row["id"]), "from": was, "to": target.name, "step": step})
        if samples:
            bump_version(db)  # the enrolled set changed
        faces = ", ".join(m["face"] for m in moved)
        froms = sorted({m["from"] for m in moved})
        _relearn(db, [target.name, *froms])  # confirmed samples follow the faces (facerec.gallery.learning)
        _record(db, step, MOVED, target.name, [f for f in froms if f != UNKNOWN],
                f"moved {faces} from {', '.join(froms)} to {target.name}", {"samples": samples, "to": target.name})
    return moved


def _undo_move(db: sqlite3.Connection, before: dict[str, Any]) -> None:
    target = db.execute("SELECT id FROM people WHERE name = ?", (before["to"],)).fetchone()
    for sample in before["samples"]:
        if target is not None and db.execute("SELECT 1 FROM people WHERE id = ?", (sample["person_id"],)).fetchone():
            db.execute("UPDATE photos SET person_id = ? WHERE id = ? AND person_id = ?",
                       (sample["person_id"], sample["photo"], target[0]))
    if before["samples"]:
        bump_version(db)


# --------------------------------------------------------------------------- naming a group


@dataclass(frozen=True)
class GroupNaming:
    faces: int  # faces enrolled
    person: str
    step: int | None  # None when nothing was enrolled
    existed: bool  # the person was enrolled before (the group was merged into them)
    note: str | None = None


def name_group(gallery: Any, cluster_id: int, name: str, embedding_id: str,
               seen: Iterable[int] | None = None) -> GroupNaming:
    """Enroll the unnamed faces of a group as NAME (someone enrolled, found by the name rule, or a new person):
    facerec.gallery.media's name_cluster, made one undo step. `seen`: the faces shown (409 when they changed)."""
    from facerec.gallery.groups import check_members

    name = person_name(name)
    with gallery._transaction() as db:
        found = find_person(db, name)
        person = found.name if found else name
        rows = gallery._cluster_rows(db, cluster_id, embedding_id)
        check_members(cluster_id, [r["id"] for r in rows], seen)
        if not rows:
            return GroupNaming(0, person, None, found is not None, found.note if found else None)
        samples = []
        for r in rows:
            path = sample_path(r["media_path"], r["face_index"])
            old = db.execute("SELECT p.name AS person, ph.note, ph.source FROM photos ph JOIN people p"
                             " ON p.id = ph.person_id WHERE ph.path = ?", (path,)).fetchone()
            samples.append({"path": path, "was": None if old is None else dict(old)})
        gallery._enroll_cluster_rows(db, rows, cluster_id, person, embedding_id)
        step = newest_step(db) + 1
        before = {"person": person, "created": found is None, "group": cluster_id, "samples": samples,
                  "faces": [{"id": r["id"], "predicted_name": r["predicted_name"]} for r in rows]}
        faces = ", ".join(face_id(ALBUM, r["id"]) for r in rows)
        _record(db, step, NAMED, person, [], f"named group {cluster_id} ({faces}) {person}", before)
    return GroupNaming(len(rows), person, step, found is not None, found.note if found else None)


def _undo_naming(db: sqlite3.Connection, before: dict[str, Any]) -> None:
    person = db.execute("SELECT id FROM people WHERE name = ?", (before["person"],)).fetchone()
    if person is None:
        return  # forgotten since: their samples and album faces went with them
    person_id = int(person[0])
    for face in before["faces"]:
        db.execute("UPDATE detections SET assigned_person_id = NULL, predicted_name = ? WHERE id = ?"
                   " AND assigned_person_id = ?", (face["predicted_name"], face["id"], person_id))
    for sample in before["samples"]:
        was = sample["was"]
        owner = None if was is None else db.execute("SELECT id FROM people WHERE name = ?", (was["person"],)).fetchone()
        if owner is None:
            db.execute("DELETE FROM photos WHERE path = ? AND person_id = ?", (sample["path"], person_id))
        else:
            db.execute("UPDATE photos SET person_id = ?, note = ?, source = ? WHERE path = ? AND person_id = ?",
                       (owner[0], was["note"], was["source"], sample["path"], person_id))
    if before["created"]:  # a person this naming made, left with nothing of their own
        db.execute("DELETE FROM people WHERE id = ? AND NOT EXISTS (SELECT 1 FROM photos WHERE person_id = ?)",
                   (person_id, person_id))
    bump_version(db)


# --------------------------------------------------------------------------- undo and history


@dataclass
class Step:
    step: int
    kind: str
    summary: str
    at: float
    decisions: list[Decision] = field(default_factory=list)  # the face decisions undone with it

    def to_dict(self) -> dict[str, Any]:
        return {"step": self.step, "kind": self.kind, "summary": self.summary, "at": self.at}


_UNDO = {RENAMED: _undo_rename, MERGED: _undo_merge, MOVED: _undo_move, NAMED: _undo_naming}


def _undo_setting(db: sqlite3.Connection, kind: str, before: dict[str, Any]) -> None:
    column = "hidden" if kind in (HIDDEN, UNHIDDEN) else "cover"
    db.execute(f"UPDATE people SET {column} = ? WHERE name = ?", (before[column], before["person"]))


def _describe(db: sqlite3.Connection, step: int) -> Step:
    """What a step did, in words: its person-level row, else its face decisions."""
    row = db.execute("SELECT kind, summary, created_at FROM person_decisions WHERE step = ? ORDER BY id LIMIT 1",
                     (step,)).fetchone()
    if row is not None:
        return Step(step, row["kind"], row["summary"], row["created_at"])
    rows = db.execute("SELECT * FROM decisions WHERE step = ? ORDER BY id", (step,)).fetchall()
    kind = rows[0]["kind"] if rows else "?"
    parts: dict[tuple[Any, Any], list[str]] = {}
    for r in rows:
        parts.setdefault((r["person"], r["group_id"]), []).append(face_id(ALBUM, r["detection_id"]))
    words = []
    for (person, group), faces in parts.items():
        listed = ", ".join(faces)
        words.append({CONFIRMED: f"confirmed {listed} as {person}", REJECTED: f"{listed}: not {person}"}.get(
            kind, f"dropped {listed} from group {group}"))
    return Step(step, kind, "; ".join(words), rows[0]["created_at"] if rows else 0.0)


def undo(gallery: Any, steps: int = 1) -> list[Step]:
    """Undo the newest `steps` steps still in force, newest first, whatever their kind; returns what was undone.
    Refused (nothing changed) when there is nothing to undo, or when a step cannot be undone (a name is taken)."""
    with gallery._transaction() as db:
        wanted = steps_in_force(db, steps)
        if not wanted:
            raise DecisionError("nothing to undo: no decision is in force", 409)
        now, out = time.time(), []
        for step in wanted:  # newest first: a later rename is undone before an earlier step that names the person
            described = _describe(db, step)
            for row in db.execute("SELECT * FROM person_decisions WHERE step = ? AND undone_at IS NULL"
                                  " ORDER BY id DESC", (step,)).fetchall():
                before = json.loads(row["before"])
                if row["kind"] in _UNDO:
                    _UNDO[row["kind"]](db, before)
                else:
                    _undo_setting(db, row["kind"], before)
                db.execute("UPDATE person_decisions SET undone_at = ? WHERE id = ?", (now, row["id"]))
            described.decisions = undo_step(db, step, now)
            out.append(described)
    return out


def history(gallery: Any, limit: int = 20) -> list[Step]:
    """The newest `limit` steps in force, newest first, each in words."""
    return [_describe(gallery._db, step) for step in steps_in_force(gallery._db, limit)]


# --------------------------------------------------------------------------- reading


def person_details(gallery: Any) -> dict[str, dict[str, Any]]:
    """name -> hidden, cover (a face id still theirs, or None), aliases (old folder names), similar (names that
    differ only by case or separators)."""
    db = gallery._db
    rows = db.execute("SELECT id, name, hidden, cover FROM people ORDER BY name").fetchall()
    aliases: dict[int, list[str]] = {}
    for r in db.execute("SELECT alias, person_id FROM aliases ORDER BY alias"):
        aliases.setdefault(int(r["person_id"]), []).append(r["alias"])
    similar = similar_names(r["name"] for r in rows)
    return {r["name"]: {"hidden": bool(r["hidden"]), "cover": cover_of(db, r["name"], r["cover"]),
                        "aliases": aliases.get(int(r["id"]), []), "similar": similar.get(r["name"], [])}
            for r in rows}


def alias_target(gallery: Any, folder: str) -> str | None:
    """The person a PEOPLE_DIR folder name stands for since a rename or merge; None when it is nobody's alias or
    somebody is called that (a name always means its own person)."""
    row = gallery._db.execute("SELECT p.name FROM aliases a JOIN people p ON p.id = a.person_id WHERE a.alias = ?"
                              " AND NOT EXISTS (SELECT 1 FROM people WHERE name = ?)", (folder, folder)).fetchone()
    return None if row is None else row[0]


def forget_person_decisions(db: sqlite3.Connection, name: str) -> None:
    """Inside `Gallery.forget`'s transaction, before the person goes: the person-level decisions that name them
    or one of their aliases (their aliases, cover and hidden flag go with their people row)."""
    person = db.execute("SELECT id FROM people WHERE name = ?", (name,)).fetchone()
    names = [name] + ([] if person is None else _aliases_of(db, int(person[0])))
    db.execute("DELETE FROM person_decisions WHERE EXISTS (SELECT 1 FROM json_each(person_decisions.names)"
               " WHERE value IN (SELECT value FROM json_each(?)))", (json.dumps(names),))
