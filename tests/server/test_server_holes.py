"""The server's smaller holes (issue 17, finding 8), against a real key-less loopback server -- the set-up in which
only the same-origin rule stands between a web page of another site and the gallery:

- a GET never changes anything (reading the groups never regroups them; a tag job or POST .../recompute does);
- a page of another site can neither change anything nor learn anything (an <img> of a thumbnail);
- names are found by the very string they were registered with (NFC, surrounding spaces), invisible ones refused;
- a tag job never follows a symbolic link out of --album-root, and a NUL in a folder name is a 400.
"""
from __future__ import annotations

import os
import shutil
import time
import unicodedata
from urllib.parse import quote

import numpy as np
import pytest

from serverproc import DATA, ServerProcess, call, require_server_extra

pytestmark = pytest.mark.slow  # model tests: real networks on real photos (see tests/conftest.py)

requests = pytest.importorskip("requests")

KEY = "dlib:dlibbox2+flip"  # the gallery key of the server's dlib embeddings
FROM_ANOTHER_SITE = [  # what a browser adds to a request that a page of another site makes
    {"Sec-Fetch-Site": "cross-site", "Sec-Fetch-Dest": "image", "Referer": "http://evil.example/"},
    {"Sec-Fetch-Site": "same-site", "Sec-Fetch-Dest": "image"},  # another port of this host (another local app)
    {"Origin": "http://evil.example"},
    {"Origin": "null"},  # a sandboxed frame, a file:// page
    {"Referer": "http://evil.example/page.html"},  # an older browser: no Sec-Fetch-* headers
]
FROM_OUR_PAGE = {"Sec-Fetch-Site": "same-origin", "Sec-Fetch-Dest": "image"}


def unit(vector: np.ndarray) -> np.ndarray:
    return (vector / np.linalg.norm(vector)).astype(np.float32)


def write_ungrouped_faces(gallery_path) -> None:
    """Two faces of one stranger that `facerec tag` from a shell stored and nobody has grouped yet."""
    from facerec.gallery.store import Gallery
    from facerec.types import Face

    rng = np.random.default_rng(3)
    stranger = unit(rng.normal(size=128))
    face = Face((10, 10, 60, 60), 0.99, tuple((20.0 + i, 30.0) for i in range(5)))
    with Gallery(gallery_path) as gallery:
        for i in range(2):
            gallery.record_media(f"/elsewhere/shell{i}.jpg", f"{i:064x}", 1.0, 10, KEY, gallery.version(), "ok",
                                 detections=[{"face": face, "embedding": unit(stranger + rng.normal(scale=0.005, size=128)),
                                              "predicted_name": "unknown", "score": 0.0}])


@pytest.fixture(scope="module")
def roots(tmp_path_factory):
    """--album-root ROOT holding the album `trip` (three photos each of two people nobody enrolled), whose links
    lead out of ROOT to a photo and a folder of photos."""
    base = tmp_path_factory.mktemp("holes")
    root, outside = base / "root", base / "outside"
    album = root / "trip"
    album.mkdir(parents=True)
    (outside / "private").mkdir(parents=True)
    for person in ("deepface_id03", "deepface_id05"):
        for photo in sorted((DATA / "people" / person).glob("*.jpg")):
            shutil.copy(photo, album / f"{person}_{photo.name}")
    shutil.copy(DATA / "core" / "kit_1.jpg", outside / "secret.jpg")
    shutil.copy(DATA / "core" / "rose_1.jpg", outside / "private" / "rose.jpg")
    os.symlink(outside / "secret.jpg", album / "link.jpg")
    os.symlink(outside / "private", album / "linked-folder")
    return root


@pytest.fixture(scope="module")
def server(tmp_path_factory, roots):
    require_server_extra()
    server = ServerProcess(tmp_path_factory.mktemp("server"), "--album-root", str(roots))
    write_ungrouped_faces(server.gallery)  # before the server opens the gallery
    server.start()
    try:
        yield server
    finally:
        server.stop()


def get(server, path: str, **kwargs):
    return requests.get(server.url + path, timeout=60, **kwargs)


def groups(server) -> list[list[int]]:
    body = get(server, "/api/v1/clusters").json()
    return [[d["id"] for d in c["detections"]] for c in body["clusters"]]


def test_reading_the_groups_never_regroups_them(server):
    body = get(server, "/api/v1/clusters").json()
    assert body["clusters"] == [] and body["unknown_faces"] == 2 and body["ungrouped_faces"] is True
    r = get(server, "/api/v1/clusters?recompute=true")
    assert r.status_code == 400 and "POST /api/v1/clusters/recompute" in r.json()["detail"]
    r = call(server, "POST", "/api/v1/clusters/recompute", headers={"Sec-Fetch-Site": "cross-site"})
    assert r.status_code == 403
    assert groups(server) == []

    r = call(server, "POST", "/api/v1/clusters/recompute")
    assert r.status_code == 200 and r.json()["clusters"] == 1
    grouped = groups(server)
    assert len(grouped) == 1 and len(grouped[0]) == 2
    assert get(server, "/api/v1/clusters").json()["ungrouped_faces"] is False
    assert call(server, "POST", f"/api/v1/clusters/1/drop", json={"detections": grouped[0][:1]}).status_code == 200
    for _ in range(2):  # reading, even asking to regroup, leaves the dropped face out
        get(server, "/api/v1/clusters?recompute=true")
        assert groups(server) == [grouped[0][1:]]


def test_pages_of_other_sites_can_neither_read_nor_change_anything(server):
    photo = (DATA / "core" / "kit_2.jpg").read_bytes()
    assert call(server, "POST", "/api/v1/people/Kit/photos", files={"images": photo}).status_code == 200
    for headers in FROM_ANOTHER_SITE:
        for path in ("/api/v1/people/Kit/thumbnail", "/api/v1/people/Nobody/thumbnail", "/api/v1/people",
                     "/api/v1/clusters", "/api/v1/detections/1/thumbnail", "/api/v1/jobs"):
            r = get(server, path, headers=headers)
            assert r.status_code == 403 and "cross-site" in r.json()["detail"], (path, headers, r.status_code)
        for method, path in (("DELETE", "/api/v1/people/Kit"), ("POST", "/api/v1/clusters/recompute")):
            assert call(server, method, path, headers=headers).status_code == 403, (method, path, headers)
    assert "Kit" in [p["name"] for p in get(server, "/api/v1/people").json()["people"]]

    # our own page, a link followed to the review page, and clients that are not browsers are served
    thumbnail = get(server, "/api/v1/people/Kit/thumbnail", headers=FROM_OUR_PAGE)
    assert thumbnail.status_code == 200 and thumbnail.headers["content-type"] == "image/jpeg"
    assert get(server, "/api/v1/people/Kit/thumbnail", headers={"Referer": server.url + "/"}).status_code == 200
    assert get(server, "/api/v1/people/Nobody/thumbnail", headers=FROM_OUR_PAGE).status_code == 404
    assert get(server, "/", headers={"Sec-Fetch-Site": "cross-site", "Sec-Fetch-Dest": "document"}).status_code == 200
    assert get(server, "/api/v1/health", headers={"Sec-Fetch-Site": "cross-site"}).status_code == 200
    assert call(server, "DELETE", "/api/v1/people/Kit").status_code == 200


def test_names_are_found_by_the_string_they_were_registered_with(server):
    photo = (DATA / "core" / "rose_2.jpg").read_bytes()
    decomposed = unicodedata.normalize("NFD", "José")
    r = call(server, "POST", "/v1/vision/face/register", files={"image": photo}, data={"userid": decomposed})
    assert r.status_code == 200, r.text
    r = call(server, "POST", f"/api/v1/people/{quote(' Alex ')}/photos", files={"images": photo})
    assert r.status_code == 200 and r.json()["person"] == "Alex"
    assert {"José", "Alex"} <= {p["name"] for p in get(server, "/api/v1/people").json()["people"]}

    assert get(server, f"/api/v1/people/{quote(decomposed)}/thumbnail").status_code == 200
    r = call(server, "DELETE", f"/api/v1/people/{quote(decomposed)}")
    assert r.status_code == 200 and r.json() == {"forgotten": "José"}
    r = call(server, "POST", "/v1/vision/face/delete", data={"userid": " Alex "})
    assert r.status_code == 200 and r.json()["success"] is True
    assert not {"José", "Alex"} & {p["name"] for p in get(server, "/api/v1/people").json()["people"]}

    for invisible in ("unknown\u200b", "Al\u200bex"):
        r = call(server, "POST", "/v1/vision/face/register", files={"image": photo}, data={"userid": invisible})
        assert r.status_code == 400 and "invisible" in r.json()["error"], r.text


def test_a_tag_job_stays_inside_the_album_roots_and_groups_what_it_found(server):
    r = call(server, "POST", "/api/v1/tag", json={"album": "trip\u0000/../.."})
    assert r.status_code == 400 and "NUL" in r.json()["detail"]
    r = call(server, "POST", "/api/v1/tag", json={"album": "trip"})
    assert r.status_code == 202, r.text
    job = r.json()["job"]
    deadline = time.monotonic() + 180
    while job["state"] in ("queued", "running") and time.monotonic() < deadline:
        time.sleep(0.5)
        job = get(server, f"/api/v1/jobs/{job['id']}").json()["job"]
    assert job["state"] == "done", job
    summary = job["summary"]
    assert job["photos"] == summary["photos"] == 6 and summary["faces"] == 6  # not the photos the links lead to
    outside = {p["path"] for p in summary["problems"] if "--album-root" in p["reason"]}
    assert outside == {"link.jpg", "linked-folder"}, summary["problems"]
    # the job grouped the faces it found, reading needs no regrouping; the stranger's face dropped from their
    # group above never rejoins the other (a drop is a decision that lasts), so they form no group
    assert summary["clusters"] == 2
    body = get(server, "/api/v1/clusters").json()
    assert sorted(c["faces"] for c in body["clusters"]) == [3, 3] and body["ungrouped_faces"] is False
