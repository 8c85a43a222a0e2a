"""Review decisions over HTTP (issue 19), against a real server process: GET /api/v1/faces, confirm / reject a
face, undo, and a group named from a stale view refused with 409 -- nothing changed by a refused call."""
from __future__ import annotations

import numpy as np
import pytest

from serverproc import DATA, call, start_server_on

pytestmark = pytest.mark.slow  # the server loads the dlib model

requests = pytest.importorskip("requests")

KEY = "dlib:dlibbox2+flip"  # the gallery key of the server's dlib embeddings


def write_album_faces(gallery_path) -> None:
    """What `facerec tag` from a shell stored: a face it named Rose, and two faces of one stranger."""
    from facerec.gallery.store import Gallery
    from facerec.types import Face

    rng = np.random.default_rng(5)
    stranger = rng.normal(size=128)
    face = Face((10, 10, 60, 60), 0.99, tuple((20.0 + i, 30.0) for i in range(5)))
    with Gallery(gallery_path) as gallery:
        for i, name in enumerate(("Rose", "unknown", "unknown")):
            vector = stranger + rng.normal(scale=0.005, size=128) if name == "unknown" else rng.normal(size=128)
            gallery.record_media(f"/album/p{i}.jpg", f"{i:064x}", 1.0, 10, KEY, gallery.version(), "ok",
                                 detections=[{"face": face, "embedding": vector / np.linalg.norm(vector),
                                              "predicted_name": name, "score": 0.8 if name == "Rose" else 0.0}])


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    yield from start_server_on(tmp_path_factory, write_album_faces)


def faces(server, **params) -> dict[str, dict]:
    r = call(server, "GET", "/api/v1/faces", params=params)
    assert r.status_code == 200, r.text
    return {f["id"]: f for f in r.json()["faces"]}


def rose_photos(server) -> int:
    return next(p["photos"] for p in call(server, "GET", "/api/v1/people").json()["people"] if p["name"] == "Rose")


def test_faces_confirm_reject_undo_over_http(server):
    photo = (DATA / "core" / "rose_1.jpg").read_bytes()
    assert call(server, "POST", "/api/v1/people/Rose/photos", files={"images": photo}).status_code == 200
    listed = faces(server)
    samples = [i for i, f in listed.items() if f["kind"] == "sample"]
    rose = next(i for i, f in listed.items() if f["kind"] == "album" and f["name"] == "Rose")
    assert len(samples) == 1 and samples[0].startswith("s") and rose.startswith("a")
    assert listed[rose]["named_by"] == "facerec" and listed[samples[0]]["named_by"] == "person"
    assert listed[samples[0]]["origin"] == "upload" and listed[rose]["sample"] is None

    # refused calls change nothing: an unknown id (404), a view that is no longer true (409), another site (403)
    assert call(server, "POST", "/api/v1/faces/a999999/reject").status_code == 404
    assert call(server, "POST", "/api/v1/faces/12/reject").status_code == 404
    r = call(server, "POST", f"/api/v1/faces/{rose}/reject", json={"seen": "Kit"})
    assert r.status_code == 409 and "look again" in r.json()["detail"]
    assert call(server, "POST", f"/api/v1/faces/{rose}/reject",
                headers={"Sec-Fetch-Site": "cross-site"}).status_code == 403
    assert faces(server)[rose]["name"] == "Rose"

    r = call(server, "POST", f"/api/v1/faces/{rose}/reject", json={"seen": "Rose"})
    assert r.status_code == 200 and r.json()["rejected"][0]["name"] == "Rose"
    assert rose in faces(server, unknown="true")
    r = call(server, "POST", f"/api/v1/faces/{rose}/confirm")
    assert r.status_code == 409  # it carries no name now: nothing to confirm without "name"
    r = call(server, "POST", f"/api/v1/faces/{rose}/confirm", json={"name": "Rose"})
    assert r.status_code == 200 and r.json()["confirmed"][0]["learning"] == "kept as a sample"
    confirmed = faces(server, person="Rose")[rose]  # listed once, as the album face that became a sample
    assert confirmed["named_by"] == "person" and confirmed["origin"] == "confirmed"
    assert confirmed["sample"] == r.json()["confirmed"][0]["sample"] and confirmed["sample"] not in faces(server)
    assert rose_photos(server) == 2

    r = call(server, "POST", "/api/v1/undo", json={"steps": 2})
    assert r.status_code == 200 and [d["kind"] for d in r.json()["undone"]] == ["confirmed", "rejected"]
    assert faces(server)[rose]["named_by"] == "facerec" and faces(server)[rose]["sample"] is None
    assert rose_photos(server) == 1  # the confirmed face's sample went with its confirmation
    r = call(server, "POST", "/api/v1/undo")
    assert r.status_code == 409 and "nothing to undo" in r.json()["detail"]


def test_naming_a_group_from_a_stale_view_is_refused(server):
    assert call(server, "POST", "/api/v1/clusters/recompute").status_code == 200
    (group,) = call(server, "GET", "/api/v1/clusters").json()["clusters"]
    shown = [d["id"] for d in group["detections"]]
    r = call(server, "POST", f"/api/v1/clusters/{group['cluster']}/name",
             json={"name": "Stranger", "detections": shown[:1]})
    assert r.status_code == 409 and "changed since it was shown" in r.json()["detail"]
    assert "Stranger" not in {p["name"] for p in call(server, "GET", "/api/v1/people").json()["people"]}
    r = call(server, "POST", f"/api/v1/clusters/{group['cluster']}/name", json={"name": "Stranger", "detections": shown})
    assert r.status_code == 200 and r.json()["faces_enrolled"] == 2
