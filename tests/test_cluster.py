"""Clustering unknown faces from real photos, contact sheets, and naming a group (`clusters`, `name`)."""
from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from facerec.cli import main
from facerec.cluster import NOISE, cluster_embeddings, contact_sheet, face_crop, list_clusters, needs_clustering, \
    recompute_clusters, renumber_by_size, write_contact_sheets
from facerec.imageio import load_image
from facerec.types import UNKNOWN

CORE = Path(__file__).resolve().parent / "data" / "core"
EPS = 0.10  # same person <= 0.04, different people >= 0.14 on these photos (dlib, cosine distance)
# Two photos each of Rose Leslie and Kit Harington, and one of Joe Biden (a face with no look-alike).
PHOTOS = {"rose_1.jpg": "rose", "rose_2.jpg": "rose", "kit_1.jpg": "kit", "kit_2.jpg": "kit", "biden_2.jpg": "biden"}


@pytest.fixture(scope="module")
def analysed(dlib_pipeline):
    """Each photo's single face and embedding, computed once."""
    out = {}
    for name in PHOTOS:
        (found,) = dlib_pipeline.analyse(CORE / name)
        out[name] = found
    return out


@pytest.fixture()
def gallery_path(tmp_path, analysed):
    """A gallery in which `tag` recorded every face as unknown."""
    from facerec.gallery import Gallery

    path = tmp_path / "gallery.sqlite"
    with Gallery(path) as gallery:
        for name, found in analysed.items():
            gallery.record_media(str(CORE / name), "sha-" + name, 0.0, 1, "dlib", gallery.version(), "ok", "",
                                 [{"face": found.face, "embedding": found.embedding, "predicted_name": UNKNOWN,
                                   "score": 0.5}])
    return path


def people_of(cluster, by_path=PHOTOS):
    return {by_path[Path(p).name] for p in cluster.examples}


def test_dbscan_groups_each_person_and_leaves_loners_out(gallery_path):
    from facerec.gallery import Gallery

    with Gallery(gallery_path) as gallery:
        assert needs_clustering(gallery, "dlib")
        assert recompute_clusters(gallery, "dlib", eps=EPS) == 2
        assert not needs_clustering(gallery, "dlib")
        clusters = list_clusters(gallery, "dlib")
        noise = gallery.clusters("dlib")[NOISE]
    assert [c.cluster_id for c in clusters] == [1, 2]
    assert sorted(sorted(people_of(c)) for c in clusters) == [["kit"], ["rose"]]
    assert all((c.faces, c.photos) == (2, 2) for c in clusters)
    assert [Path(d.media_path).name for d in noise] == ["biden_2.jpg"]


def test_new_unknown_faces_trigger_clustering_again(gallery_path, analysed):
    from facerec.gallery import Gallery

    with Gallery(gallery_path) as gallery:
        recompute_clusters(gallery, "dlib", eps=EPS)
        found = analysed["rose_1.jpg"]
        gallery.record_media("/elsewhere/rose_again.jpg", "sha-x", 0.0, 1, "dlib", gallery.version(), "ok", "",
                             [{"face": found.face, "embedding": found.embedding, "predicted_name": UNKNOWN,
                               "score": 0.5}])
        assert needs_clustering(gallery, "dlib")
        recompute_clusters(gallery, "dlib", eps=EPS)
        clusters = list_clusters(gallery, "dlib")
    assert (clusters[0].faces, people_of(clusters[0], {**PHOTOS, "rose_again.jpg": "rose"})) == (3, {"rose"})


def test_hdbscan_also_keeps_the_two_people_apart(analysed):
    names = list(PHOTOS)
    labels = cluster_embeddings(np.stack([analysed[n].embedding for n in names]), EPS, method="hdbscan")
    by_name = dict(zip(names, labels))
    assert by_name["rose_1.jpg"] == by_name["rose_2.jpg"] != NOISE
    assert by_name["kit_1.jpg"] == by_name["kit_2.jpg"] != NOISE
    assert by_name["rose_1.jpg"] != by_name["kit_1.jpg"]


def test_cluster_ids_count_from_the_largest_group():
    assert renumber_by_size(np.array([0, 1, 1, -1, 2, 1, 0])).tolist() == [2, 1, 1, -1, 3, 1, 2]
    assert cluster_embeddings(np.zeros((1, 128), np.float32), EPS).tolist() == [NOISE]
    with pytest.raises(ValueError):
        cluster_embeddings(np.eye(3, dtype=np.float32), EPS, method="kmeans")


def test_contact_sheets_show_the_faces_of_each_group(gallery_path, tmp_path):
    from facerec.gallery import Gallery

    with Gallery(gallery_path) as gallery:
        recompute_clusters(gallery, "dlib", eps=EPS)
        sheets = write_contact_sheets(gallery, "dlib", tmp_path / "sheets")
        detections = gallery.clusters("dlib")[1]
    assert sorted(sheets) == [1, 2]
    assert sorted(p.name for p in (tmp_path / "sheets").iterdir()) == ["cluster_1.png", "cluster_2.png"]
    sheet = load_image(sheets[1])
    assert np.array_equal(sheet, contact_sheet(detections, "cluster 1: 2 faces in 2 photos"))  # PNG is lossless
    # the first tile is the first face, cropped from its photo
    tile = face_crop(load_image(detections[0].media_path), detections[0].face.box, 112)
    bar = max(28, 112 // 4)
    assert np.array_equal(sheet[bar + 4: bar + 4 + 112, 4:4 + 112], tile)


def test_clusters_and_name_commands(gallery_path, tmp_path, capsys):
    from facerec.gallery import Gallery

    args = ["--gallery", str(gallery_path)]
    assert main(["clusters", "--json", "--eps", str(EPS), "--sheets", str(tmp_path / "s"), *args]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["recomputed"] and report["unknown_faces"] == 5
    assert [(c["cluster"], c["faces"], c["photos"]) for c in report["clusters"]] == [(1, 2, 2), (2, 2, 2)]
    assert all(os.path.exists(c["sheet"]) for c in report["clusters"])
    kit = next(c["cluster"] for c in report["clusters"] if "kit" in Path(c["examples"][0]).name)

    assert main(["name", str(kit), "Kit Harington", *args]) == 0
    assert "enrolled 2 faces" in capsys.readouterr().out
    with Gallery(gallery_path) as gallery:
        assert [(p.name, p.faces) for p in gallery.people("dlib")] == [("Kit Harington", 2)]
        remaining = list_clusters(gallery, "dlib")
    assert [people_of(c) for c in remaining] == [{"rose"}]

    assert main(["name", str(kit), "Kit Harington", *args]) == 1  # already named: nothing left in that group
    assert main(["name", "0", "Nobody", *args]) == 1
    assert main(["clusters", *args]) == 0  # nothing new: lists the stored groups without recomputing
    assert "(recomputed)" not in capsys.readouterr().out
