"""Person-level review over HTTP (issue 19, /work API contract "A"), against a real server process: GET /people with
hidden / cover / aliases / similar, rename, merge, hide / unhide, cover, move a face, the history, undo of every
kind, and naming a group as an undoable step. Refused calls (404 unknown, 409 stale or a rename onto a name,
400 a bad name, 403 another site) change nothing."""
from __future__ import annotations

import numpy as np
import pytest

from serverproc import DATA, call, start_server_on

pytestmark = pytest.mark.slow  # the server loads the dlib model

requests = pytest.importorskip("requests")

KEY = "dlib:dlibbox2+flip"  # the gallery key of the server's dlib embeddings


def write_gallery(gallery_path) -> None:
    """Katy_Perry and katy perry (one woman enrolled twice by an older facerec), Kit; an album face tagging named
    Katy_Perry, and two faces of one stranger."""
    from facerec.gallery.store import Gallery
    from facerec.types import Face

    rng = np.random.default_rng(11)

    def unit(v):
        return v / np.linalg.norm(v)

    face = Face((10, 10, 60, 60), 0.99, tuple((20.0 + i, 30.0) for i in range(5)))
    stranger = rng.normal(size=128)
    with Gallery(gallery_path) as gallery:
        for name in ("Katy_Perry", "katy perry", "Kit"):
            gallery.record_photo(name, f"/people/{name}/1.jpg", "sha-" + name, 0.0, 1, "ok", embedding_id=KEY,
                                 face=face, embedding=unit(rng.normal(size=128)))
        for i, name in enumerate(("Katy_Perry", "unknown", "unknown")):
            vector = stranger + rng.normal(scale=0.005, size=128) if name == "unknown" else rng.normal(size=128)
            gallery.record_media(f"/album/p{i}.jpg", f"{i:064x}", 1.0, 10, KEY, gallery.version(), "ok",
                                 detections=[{"face": face, "embedding": unit(vector), "predicted_name": name,
                                              "score": 0.8 if name != "unknown" else 0.0}])


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    yield from start_server_on(tmp_path_factory, write_gallery)


def people(server) -> dict[str, dict]:
    r = call(server, "GET", "/api/v1/people")
    assert r.status_code == 200, r.text
    return {p["name"]: p for p in r.json()["people"]}


def history(server) -> list[dict]:
    r = call(server, "GET", "/api/v1/history", params={"limit": 10})
    assert r.status_code == 200, r.text
    return r.json()["steps"]


def album_face(server, name: str) -> str:
    r = call(server, "GET", "/api/v1/faces", params={"person": name})
    return next(f["id"] for f in r.json()["faces"] if f["kind"] == "album")


def test_people_lists_hidden_cover_aliases_and_similar_names(server):
    listed = people(server)
    assert listed["Katy_Perry"]["similar"] == ["katy perry"] and listed["katy perry"]["similar"] == ["Katy_Perry"]
    assert listed["Kit"] | {"thumbnail": None} == {"name": "Kit", "photos": 1, "faces": 1, "thumbnail": None,
                                                    "hidden": False, "cover": None, "aliases": [], "similar": []}


def test_refused_changes_change_nothing(server):
    before, steps = people(server), history(server)
    refused = [
        (call(server, "POST", "/api/v1/people/Kit/rename", json={"to": "katy perry"}), 409),  # that is a merge
        (call(server, "POST", "/api/v1/people/Nobody/rename", json={"to": "Somebody"}), 404),
        (call(server, "POST", "/api/v1/people/Kit/rename", json={"to": "a/b"}), 400),
        (call(server, "POST", "/api/v1/people/KATY PERRY/hide"), 409),  # two people could be meant
        (call(server, "POST", "/api/v1/people/Kit/merge", json={"into": "Nobody"}), 404),
        (call(server, "POST", "/api/v1/people/Kit/cover", json={"face": album_face(server, "Katy_Perry")}), 409),
        (call(server, "POST", "/api/v1/people/Kit/cover", json={"face": "a999999"}), 404),
        (call(server, "POST", "/api/v1/faces/a999999/move", json={"to": "Kit"}), 404),
        (call(server, "POST", f"/api/v1/faces/{album_face(server, 'Katy_Perry')}/move",
              json={"to": "Kit", "seen": "Kit"}), 409),
        (call(server, "POST", "/api/v1/people/Kit/hide", headers={"Sec-Fetch-Site": "cross-site"}), 403),
        (call(server, "GET", "/api/v1/history", params={"limit": 0}), 422),
    ]
    assert [r.status_code for r, _ in refused] == [status for _, status in refused], [r.text for r, _ in refused]
    assert "merge" in refused[0][0].json()["detail"]
    assert people(server) == before and history(server) == steps


def test_rename_merge_hide_cover_move_and_undo_each(server):
    r = call(server, "POST", "/api/v1/people/katy perry/merge", json={"into": "Katy_Perry"})
    assert r.status_code == 200 and (r.json()["person"], r.json()["merged"]) == ("Katy_Perry", "katy perry")
    merge_step = r.json()["step"]
    r = call(server, "POST", "/api/v1/people/Katy_Perry/rename", json={"to": "Katy Perry"})
    assert r.status_code == 200 and r.json() | {"step": 0} == {"person": "Katy Perry", "was": "Katy_Perry",
                                                               "step": 0, "note": None}
    assert r.json()["step"] > merge_step
    listed = people(server)
    assert listed["Katy Perry"]["aliases"] == ["Katy_Perry", "katy perry"] and listed["Katy Perry"]["photos"] == 2
    face = album_face(server, "Katy Perry")  # the album face tagging named Katy_Perry carries the new name

    r = call(server, "POST", "/api/v1/people/Kit/hide")
    assert r.status_code == 200 and r.json()["hidden"] is True
    assert people(server)["Kit"]["hidden"] is True  # listed, marked: the page filters
    r = call(server, "POST", "/api/v1/people/Katy Perry/cover", json={"face": face})
    assert r.status_code == 200 and r.json()["cover"] == face
    assert people(server)["Katy Perry"]["cover"] == face
    r = call(server, "POST", f"/api/v1/faces/{face}/move", json={"to": "Kit", "seen": "Katy Perry"})
    assert r.status_code == 200 and r.json() | {"step": 0} == {"face": face, "from": "Katy Perry", "to": "Kit", "step": 0}
    assert people(server)["Katy Perry"]["cover"] is None  # the face is Kit's now

    assert [s["kind"] for s in history(server)[:5]] == ["moved", "cover", "hidden", "renamed", "merged"]
    assert history(server)[3]["summary"] == "renamed Katy_Perry to Katy Perry"
    r = call(server, "POST", "/api/v1/undo", json={"steps": 5})
    assert r.status_code == 200
    assert [s["kind"] for s in r.json()["steps"]] == ["moved", "cover", "hidden", "renamed", "merged"]
    assert [d["kind"] for d in r.json()["undone"]] == ["confirmed", "rejected"]  # the move's face decisions
    listed = people(server)
    assert set(listed) == {"Katy_Perry", "katy perry", "Kit"} and listed["Kit"]["hidden"] is False
    assert listed["Katy_Perry"]["aliases"] == [] and listed["Katy_Perry"]["cover"] is None
    assert album_face(server, "Katy_Perry") == face


def test_naming_a_group_answers_its_step_and_undo_gives_the_group_back(server):
    assert call(server, "POST", "/api/v1/clusters/recompute").status_code == 200
    (group,) = call(server, "GET", "/api/v1/clusters").json()["clusters"]
    shown = [d["id"] for d in group["detections"]]
    r = call(server, "POST", f"/api/v1/clusters/{group['cluster']}/name", json={"name": "kit", "detections": shown})
    assert r.status_code == 200
    assert (r.json()["name"], r.json()["merged"], r.json()["faces_enrolled"]) == ("Kit", True, 2)
    assert "taken as 'Kit'" in r.json()["note"]
    assert history(server)[0] | {"at": 0} == {"step": r.json()["step"], "kind": "named", "at": 0,
                                              "summary": f"named group {group['cluster']} "
                                                         f"({', '.join(f'a{d}' for d in sorted(shown))}) Kit"}
    assert people(server)["Kit"]["photos"] == 3
    r = call(server, "POST", "/api/v1/undo")
    assert r.status_code == 200 and r.json()["steps"][0]["kind"] == "named"
    assert people(server)["Kit"]["photos"] == 1
    (again,) = call(server, "GET", "/api/v1/clusters").json()["clusters"]
    assert again["cluster"] == group["cluster"] and [d["id"] for d in again["detections"]] == shown


def test_photos_uploaded_for_a_name_spelt_otherwise_go_to_the_person(server):
    photo = (DATA / "core" / "kit_1.jpg").read_bytes()
    r = call(server, "POST", "/api/v1/people/KIT/photos", files={"images": photo})
    assert r.status_code == 200 and r.json()["person"] == "Kit"
    assert "KIT" not in people(server) and people(server)["Kit"]["photos"] == 2
