"""Person-level decisions (issue 19, items 2 and 4): rename, merge, hide / unhide, cover face, moving faces and
naming a group, each one undo step on the same stack as confirm / reject / drop, undone to exactly what was
before; the name rule ("katy_perry" finds "Katy_Perry"); forgetting a person forgets their aliases and
person-level decisions. A real SQLite gallery; the embeddings are stored vectors (nothing here matches faces)."""
from __future__ import annotations

import sqlite3

import numpy as np
import pytest

from facerec.album.cluster import list_clusters
from facerec.gallery import decisions, people_decisions as pd
from facerec.gallery.decisions import DecisionError
from facerec.gallery.groups import store_groups
from facerec.gallery.store import SCHEMA_VERSION, Gallery
from facerec.names import InvalidNameError, name_key
from facerec.types import UNKNOWN, Face

KEY = "test-embedding"
RNG = np.random.default_rng(19)


def face(x: int = 10) -> Face:
    return Face((x, 10, 60, 60), 0.99, tuple((x + 10.0 + i, 30.0) for i in range(5)))


def unit() -> np.ndarray:
    v = RNG.normal(size=16)
    return (v / np.linalg.norm(v)).astype(np.float32)


def enrol(gallery: Gallery, name: str, path: str) -> int:
    return gallery.record_photo(name, path, "sha-" + path, 0.0, 1, "ok", embedding_id=KEY, face=face(), embedding=unit())


def tag(gallery: Gallery, media: str, *names: str) -> list[int]:
    """What `facerec tag` stores for a photo whose faces the matcher named `names` (UNKNOWN for a stranger)."""
    gallery.record_media(media, "sha-" + media, 0.0, 1, KEY, gallery.version(), "ok",
                         detections=[{"face": face(10 + 100 * i), "embedding": unit(), "predicted_name": n,
                                      "score": 0.0 if n == UNKNOWN else 0.8} for i, n in enumerate(names)])
    return [d.id for d in gallery.detections(media)]


def state(gallery: Gallery) -> dict[str, list]:
    """Everything a person-level step may change, by name (a merge undone brings a person back under a new id)."""
    db = gallery._db
    return {
        "people": [tuple(r) for r in db.execute("SELECT name, hidden, cover, created_at FROM people ORDER BY name")],
        "photos": [tuple(r) for r in db.execute("SELECT ph.id, ph.path, p.name, ph.note, ph.source FROM photos ph"
                                                " JOIN people p ON p.id = ph.person_id ORDER BY ph.id")],
        "faces": [tuple(r) for r in db.execute("SELECT photo_id, backbone FROM faces ORDER BY id")],
        "detections": [tuple(r) for r in db.execute("SELECT d.id, d.predicted_name, p.name, d.cluster_id FROM detections d"
                                                    " LEFT JOIN people p ON p.id = d.assigned_person_id ORDER BY d.id")],
        "decisions": [tuple(r) for r in db.execute("SELECT id, kind, person FROM decisions WHERE undone_at IS NULL"
                                                   " ORDER BY id")],
        "aliases": [tuple(r) for r in db.execute("SELECT a.alias, p.name FROM aliases a JOIN people p"
                                                 " ON p.id = a.person_id ORDER BY a.alias")],
    }


@pytest.fixture
def gallery(tmp_path):
    """Rose (a folder sample) and Kit (two samples), an album where tagging named Rose twice and Kit once, a face
    a person named Rose by confirming it, and "a12 is not Kit" on a stranger."""
    with Gallery(tmp_path / "g.sqlite") as g:
        enrol(g, "Rose", "/people/Rose/1.jpg")
        enrol(g, "Kit", "/people/Kit/1.jpg")
        enrol(g, "Kit", "/people/Kit/2.jpg")
        rose, stranger = tag(g, "/album/1.jpg", "Rose", UNKNOWN)
        tag(g, "/album/2.jpg", "Rose", "Kit")
        (confirmed,) = tag(g, "/album/3.jpg", UNKNOWN)
        decisions.confirm(g, [f"a{confirmed}"], "Rose")
        decisions.reject(g, [f"a{stranger}"], "Kit")
        yield g


def names_in(gallery: Gallery) -> list[str]:
    return [p.name for p in gallery.people()]


# --------------------------------------------------------------------------- the name rule


def test_names_that_differ_by_case_or_separators_are_one_person(gallery):
    assert name_key("Katy_Perry") == name_key(" katy perry ") == name_key("KATY-PERRY") == name_key("katy.perry")
    assert name_key("Katy Perry") != name_key("Katy Parry")
    enrol(gallery, "Katy_Perry", "/people/Katy_Perry/1.jpg")
    found = pd.find_person(gallery._db, "katy perry")
    assert found.name == "Katy_Perry" and "taken as 'Katy_Perry'" in found.note
    assert pd.find_person(gallery._db, "Katy_Perry").note is None  # exact: nothing to say
    assert pd.find_person(gallery._db, "Katy Parry") is None
    # naming a group "katy-perry" adds to Katy_Perry instead of creating a second person
    (face_id,) = tag(gallery, "/album/katy.jpg", UNKNOWN)
    store_groups(gallery, KEY, {face_id: 0})
    group = list_clusters(gallery, KEY)[0].cluster_id
    naming = pd.name_group(gallery, group, "katy-perry", KEY)
    assert (naming.person, naming.existed, naming.faces) == ("Katy_Perry", True, 1)
    assert names_in(gallery) == ["Katy_Perry", "Kit", "Rose"]
    # two enrolled spellings (an older gallery): "katy perry" could be either, so it is refused; both are `similar`
    enrol(gallery, "katy perry", "/people/katy perry/1.jpg")
    with pytest.raises(DecisionError, match="could be") as refused:
        pd.find_person(gallery._db, "KATY PERRY")
    assert refused.value.status == 409
    details = pd.person_details(gallery)
    assert details["Katy_Perry"]["similar"] == ["katy perry"] and details["Kit"]["similar"] == []
    with pytest.raises(InvalidNameError):
        pd.rename(gallery, "Kit", "People|Kit")  # every name through facerec.names


# --------------------------------------------------------------------------- rename


def test_rename_renames_everything_facerec_stored_and_undo_restores_it_exactly(gallery):
    before = state(gallery)
    done = pd.rename(gallery, "rose", "Rosa")  # found by the name rule
    assert (done["person"], done["was"]) == ("Rosa", "Rose") and "taken as 'Rose'" in done["note"]
    after = state(gallery)
    assert [p[0] for p in after["people"]] == ["Kit", "Rosa"]
    assert "Rose" not in {d[1] for d in after["detections"]} | {d[2] for d in after["detections"]}
    assert [d[1] for d in after["detections"]].count("Rosa") == 3  # two named by tagging, one confirmed
    assert ("confirmed", "Rosa") in {(d[1], d[2]) for d in after["decisions"]}
    # her folder sample and the sample her confirmed face became (facerec.gallery.learning) are hers under the new name
    assert [p[2] for p in after["photos"]] == ["Rosa", "Kit", "Kit", "Rosa"]
    assert after["aliases"] == [("Rose", "Rosa")]  # her PEOPLE_DIR folder Rose keeps working
    assert pd.alias_target(gallery, "Rose") == "Rosa" and pd.alias_target(gallery, "Kit") is None
    assert gallery.version() > 0
    (step,) = pd.history(gallery, 1)
    assert (step.kind, step.summary, step.step) == ("renamed", "renamed Rose to Rosa", done["step"])

    (undone,) = pd.undo(gallery)
    assert undone.kind == "renamed"
    assert state(gallery) == before


def test_undo_of_a_rename_leaves_faces_that_carried_the_new_name_before(gallery):
    (left,) = tag(gallery, "/album/old.jpg", "Rosa")  # named by a person who was deleted without forgetting
    before = state(gallery)
    pd.rename(gallery, "Rose", "Rosa")
    (tagged_since,) = tag(gallery, "/album/new.jpg", "Rosa")  # a tag run after the rename
    pd.undo(gallery)
    assert state(gallery)["detections"][:len(before["detections"])] == before["detections"]
    assert gallery.detections("/album/new.jpg")[0].predicted_name == "Rose"  # hers: she is Rose again


def test_rename_onto_an_existing_name_is_refused_and_changes_nothing(gallery):
    before = state(gallery)
    for new in ("Kit", "kit", "K_I_T"):  # Kit's name, or one that differs from it only by case or separators
        with pytest.raises(DecisionError, match="merge") as refused:
            pd.rename(gallery, "Rose", new)
        assert refused.value.status == 409
    with pytest.raises(DecisionError) as unknown:
        pd.rename(gallery, "Nobody", "Somebody")
    assert unknown.value.status == 404
    assert state(gallery) == before and pd.history(gallery, 5)[0].kind == "rejected"
    # a person's own name in another case is a rename, not a clash
    assert pd.rename(gallery, "Rose", "ROSE")["person"] == "ROSE"


def test_renaming_back_leaves_no_alias_on_a_name_in_use(gallery):
    pd.rename(gallery, "Rose", "Rosa")
    pd.rename(gallery, "Rosa", "Rose")
    assert state(gallery)["aliases"] == [("Rosa", "Rose")]  # "Rose" is her name again, not an alias
    pd.undo(gallery)
    assert state(gallery)["aliases"] == [("Rose", "Rosa")]


def test_undo_of_a_rename_is_refused_while_someone_else_has_the_old_name(gallery):
    pd.rename(gallery, "Rose", "Rosa")
    enrol(gallery, "Rose", "/uploads/rose.jpg")  # a new Rose, enrolled by upload (no undo step)
    before = state(gallery)
    with pytest.raises(DecisionError, match="someone is called 'Rose'"):
        pd.undo(gallery)
    assert state(gallery) == before


# --------------------------------------------------------------------------- merge


def test_merge_moves_samples_faces_decisions_and_aliases_and_undo_brings_the_person_back(gallery):
    pd.rename(gallery, "Kit", "Kitty")  # Kit's folder name becomes an alias of Kitty
    pd.set_hidden(gallery, "Kitty", True)
    before = state(gallery)
    done = pd.merge(gallery, "Kitty", "Rose")
    assert (done["person"], done["merged"], done["photos"], done["album_faces"]) == ("Rose", "Kitty", 2, 1)
    after = state(gallery)
    assert [p[0] for p in after["people"]] == ["Rose"]
    assert [p[2] for p in after["photos"]] == ["Rose"] * 4  # hers, Kitty's two, her confirmed face's
    assert all(d[1] != "Kitty" for d in after["detections"])
    assert ("rejected", "Rose") in {(d[1], d[2]) for d in after["decisions"]}  # "not Kitty" is "not Rose" now
    assert after["aliases"] == [("Kit", "Rose"), ("Kitty", "Rose")]  # both folder names lead to Rose
    with pytest.raises(DecisionError) as same:
        pd.merge(gallery, "Rose", "rose")
    assert same.value.status == 409

    (undone,) = pd.undo(gallery)
    assert undone.summary == "merged Kitty into Rose"
    assert state(gallery) == before  # hidden, created_at, samples, faces, decisions, aliases: as they were
    pd.undo(gallery, 2)
    assert state(gallery)["aliases"] == [] and names_in(gallery) == ["Kit", "Rose"]


# --------------------------------------------------------------------------- hide and cover


def test_hide_unhide_and_cover_are_undone_in_order(gallery):
    rose_face = next(d.id for d in gallery.detections("/album/1.jpg") if d.predicted_name == "Rose")
    kit_face = next(d.id for d in gallery.detections("/album/2.jpg") if d.predicted_name == "Kit")
    assert pd.set_hidden(gallery, "Rose", True)["hidden"] is True
    with pytest.raises(DecisionError, match="already hidden"):
        pd.set_hidden(gallery, "Rose", True)
    assert pd.set_cover(gallery, "Rose", f"a{rose_face}")["cover"] == f"a{rose_face}"
    assert pd.set_cover(gallery, "Rose", "S1")["cover"] == "s1"  # her enrolled sample (photos row 1)
    for other, status in ((f"a{kit_face}", 409), ("s2", 409), ("a999999", 404)):  # Kit's, Kit's, nobody's
        with pytest.raises(DecisionError) as refused:
            pd.set_cover(gallery, "Rose", other)
        assert refused.value.status == status
    assert pd.person_details(gallery)["Rose"] == {"hidden": True, "cover": "s1", "aliases": [], "similar": []}
    pd.set_hidden(gallery, "Rose", False)
    assert [s.kind for s in pd.history(gallery, 4)] == ["unhidden", "cover", "cover", "hidden"]
    assert pd.person_details(gallery)["Rose"]["hidden"] is False
    pd.undo(gallery, 2)
    assert pd.person_details(gallery)["Rose"] == {"hidden": True, "cover": f"a{rose_face}", "aliases": [],
                                                   "similar": []}
    # a cover face that is no longer theirs is not shown as theirs
    decisions.reject(gallery, [f"a{rose_face}"])
    assert pd.person_details(gallery)["Rose"]["cover"] is None


# --------------------------------------------------------------------------- move


def test_move_rejects_the_old_name_confirms_the_new_one_in_one_step(gallery):
    rose_face = next(d.id for d in gallery.detections("/album/2.jpg") if d.predicted_name == "Rose")
    before = state(gallery)
    with pytest.raises(DecisionError) as stale:
        pd.move(gallery, [f"a{rose_face}"], "Kit", seen="Kit")  # the user saw another name
    assert stale.value.status == 409
    with pytest.raises(DecisionError):
        pd.move(gallery, [f"a{rose_face}"], "Nobody")
    assert state(gallery) == before

    (moved,) = pd.move(gallery, [f"a{rose_face}"], "kit", seen="Rose")
    assert moved == {"face": f"a{rose_face}", "from": "Rose", "to": "Kit", "step": moved["step"]}
    (verdict,) = decisions.verdicts_for_media(gallery, "/album/2.jpg")
    assert verdict.confirmed == "Kit" and verdict.rejected == {"Rose"}  # tagging honours both
    (step,) = pd.history(gallery, 1)
    assert step.kind == "moved" and step.summary == f"moved a{rose_face} from Rose to Kit"
    (undone,) = pd.undo(gallery)
    assert [d.kind for d in undone.decisions] == ["confirmed", "rejected"]
    assert state(gallery) == before


def test_moving_a_face_of_a_named_group_moves_its_sample_too(gallery):
    ids = tag(gallery, "/album/group.jpg", UNKNOWN, UNKNOWN)
    store_groups(gallery, KEY, {ids[0]: 0, ids[1]: 0})
    (group,) = [c.cluster_id for c in list_clusters(gallery, KEY)]
    pd.name_group(gallery, group, "Ann", KEY)
    before = state(gallery)
    pd.move(gallery, [f"a{ids[1]}"], "Rose")
    samples = {p.path: p.person for p in gallery.photos(source="tag")}
    assert samples == {"/album/group.jpg#face0": "Ann", "/album/group.jpg#face1": "Rose",
                       "/album/3.jpg#face0": "Rose"}  # the last: the fixture's confirmed face
    pd.undo(gallery)
    assert state(gallery) == before
    # the sample's own id moves it the same way; a sample enrolled from a folder is its photo's: refused
    sample = next(p.id for p in gallery.photos(source="tag") if p.path == "/album/group.jpg#face0")
    (moved,) = pd.move(gallery, [f"s{sample}"], "Kit")
    assert moved["face"] == f"a{ids[0]}" and moved["from"] == "Ann"
    folder_sample = gallery.photo("/people/Rose/1.jpg").id
    with pytest.raises(DecisionError, match="move the file") as refused:
        pd.move(gallery, [f"s{folder_sample}"], "Kit")
    assert refused.value.status == 409


# --------------------------------------------------------------------------- naming a group


def test_naming_a_group_is_one_undo_step_that_gives_the_group_back(gallery):
    ids = tag(gallery, "/album/4.jpg", UNKNOWN, UNKNOWN)
    store_groups(gallery, KEY, {ids[0]: 0, ids[1]: 0})
    (group,) = [c.cluster_id for c in list_clusters(gallery, KEY)]
    before = state(gallery)
    assert gallery.name_cluster(group, "Ann", KEY, seen=ids) == 2  # the Gallery method: undoable too
    assert names_in(gallery) == ["Ann", "Kit", "Rose"] and list_clusters(gallery, KEY) == []
    (step,) = pd.history(gallery, 1)
    assert step.kind == "named" and step.summary == f"named group {group} (a{ids[0]}, a{ids[1]}) Ann"
    pd.undo(gallery)
    assert state(gallery) == before  # Ann was made by the naming: gone again with her samples
    assert [c.detection_ids for c in list_clusters(gallery, KEY) if c.cluster_id == group] == [ids]
    # into someone enrolled: undo takes only the group's samples back
    pd.name_group(gallery, group, "Rose", KEY, seen=ids)
    pd.undo(gallery)
    assert state(gallery) == before


# --------------------------------------------------------------------------- one stack


def test_one_undo_stack_for_face_and_person_steps_undone_newest_first(gallery):
    rose_face = next(d.id for d in gallery.detections("/album/1.jpg") if d.predicted_name == "Rose")
    before = state(gallery)
    steps = [decisions.reject(gallery, [f"a{rose_face}"])[0]["step"],  # a face step ...
             pd.rename(gallery, "Rose", "Rosa")["step"],  # ... then a person step that renames what it restores
             decisions.confirm(gallery, [f"a{rose_face}"], "Rosa")[0]["step"],
             pd.merge(gallery, "Kit", "Rosa")["step"]]
    assert steps == sorted(steps) and len(set(steps)) == 4  # one counter over both tables
    assert [s.step for s in pd.history(gallery, 4)] == steps[::-1]
    undone = pd.undo(gallery, 4)
    assert [s.kind for s in undone] == ["merged", "confirmed", "renamed", "rejected"]
    assert state(gallery) == before
    decisions.undo(gallery, 2)  # the face decisions the fixture made (facerec.gallery.decisions.undo: same stack)
    with pytest.raises(DecisionError, match="nothing to undo"):
        pd.undo(gallery)
    new = pd.set_hidden(gallery, "Rose", True)["step"]
    assert new > max(steps)  # a step number is never given twice, undone or not


def test_forgetting_a_person_forgets_their_aliases_cover_and_person_level_decisions(gallery):
    pd.rename(gallery, "Kit", "Kitty")
    pd.set_cover(gallery, "Kitty", "s2")
    pd.set_hidden(gallery, "Rose", True)
    assert gallery.forget("Kitty")
    db = gallery._db
    assert db.execute("SELECT COUNT(*) FROM aliases").fetchone()[0] == 0
    assert [r[0] for r in db.execute("SELECT summary FROM person_decisions")] == ["hid Rose"]
    assert not any("Kit" in s.summary for s in pd.history(gallery, 50))


def test_a_schema_4_gallery_is_upgraded(tmp_path):
    path = tmp_path / "g.sqlite"
    with Gallery(path) as g:
        enrol(g, "Rose", "/people/Rose/1.jpg")
        for statement in ("DROP TABLE person_decisions", "DROP TABLE aliases", "ALTER TABLE people DROP COLUMN hidden",
                          "ALTER TABLE people DROP COLUMN cover", "PRAGMA user_version = 4"):
            g._db.execute(statement)
    with Gallery(path) as g:
        assert g._db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 5
        assert pd.person_details(g) == {"Rose": {"hidden": False, "cover": None, "aliases": [], "similar": []}}
        with pytest.raises(sqlite3.IntegrityError):
            g._db.execute("INSERT INTO person_decisions(step, kind, person, summary, created_at)"
                          " VALUES (1, 'deleted', 'Rose', '', 0)")


def test_moving_a_confirmed_face_moves_the_sample_it_became(gallery):
    """A confirmed face is a sample of its person (facerec.gallery.learning): moved, the sample follows it."""
    def confirmed_samples() -> dict[str, str]:
        return {p.path: p.person for p in gallery.photos(source="tag") if p.path.startswith("/album/3.jpg")}

    assert confirmed_samples() == {"/album/3.jpg#face0": "Rose"}
    (face,) = [f"a{d.id}" for d in gallery.detections("/album/3.jpg")]
    before = state(gallery)
    pd.move(gallery, [face], "Kit")
    assert confirmed_samples() == {"/album/3.jpg#face0": "Kit"}
    pd.undo(gallery)
    assert confirmed_samples() == {"/album/3.jpg#face0": "Rose"}
    assert state(gallery)["detections"] == before["detections"]
