"""Clustering unknown faces from real photos, contact sheets, and naming a group (`clusters`, `name`)."""
from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from facerec.cli.main import main
from facerec.album.cluster import NOISE, cluster_embeddings, contact_sheet, list_clusters, needs_clustering, \
    recompute_clusters, renumber_by_size, write_contact_sheets
from facerec.vision.align import face_crop
from facerec.vision.imageio import load_image
from facerec.backbones import embedding_id
from facerec.types import UNKNOWN

KEY = embedding_id("dlib")  # the gallery key of the dlib pipeline's default embeddings

CORE = Path(__file__).resolve().parents[1] / "data" / "core"
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
    from facerec.gallery.store import Gallery

    path = tmp_path / "gallery.sqlite"
    with Gallery(path) as gallery:
        for name, found in analysed.items():
            gallery.record_media(str(CORE / name), "sha-" + name, 0.0, 1, KEY, gallery.version(), "ok", "",
                                 [{"face": found.face, "embedding": found.embedding, "predicted_name": UNKNOWN,
                                   "score": 0.5}])
    return path


def people_of(cluster, by_path=PHOTOS):
    return {by_path[Path(p).name] for p in cluster.examples}


def test_dbscan_groups_each_person_and_leaves_loners_out(gallery_path):
    from facerec.gallery.store import Gallery

    with Gallery(gallery_path) as gallery:
        assert needs_clustering(gallery, KEY)
        assert recompute_clusters(gallery, KEY, eps=EPS) == 2
        assert not needs_clustering(gallery, KEY)
        clusters = list_clusters(gallery, KEY)
        noise = gallery.clusters(KEY)[NOISE]
    assert [c.cluster_id for c in clusters] == [1, 2]
    assert sorted(sorted(people_of(c)) for c in clusters) == [["kit"], ["rose"]]
    assert all((c.faces, c.photos) == (2, 2) for c in clusters)
    assert [Path(d.media_path).name for d in noise] == ["biden_2.jpg"]


def test_new_unknown_faces_trigger_clustering_again(gallery_path, analysed):
    from facerec.gallery.store import Gallery

    with Gallery(gallery_path) as gallery:
        recompute_clusters(gallery, KEY, eps=EPS)
        found = analysed["rose_1.jpg"]
        gallery.record_media("/elsewhere/rose_again.jpg", "sha-x", 0.0, 1, KEY, gallery.version(), "ok", "",
                             [{"face": found.face, "embedding": found.embedding, "predicted_name": UNKNOWN,
                               "score": 0.5}])
        assert needs_clustering(gallery, KEY)
        recompute_clusters(gallery, KEY, eps=EPS)
        clusters = list_clusters(gallery, KEY)
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
    from facerec.gallery.store import Gallery

    with Gallery(gallery_path) as gallery:
        recompute_clusters(gallery, KEY, eps=EPS)
        sheets = write_contact_sheets(gallery, KEY, tmp_path / "sheets")
        detections = gallery.clusters(KEY)[1]
    assert sorted(sheets) == [1, 2]
    assert sorted(p.name for p in (tmp_path / "sheets").iterdir()) == ["cluster_1.png", "cluster_2.png"]
    sheet = load_image(sheets[1])
    assert np.array_equal(sheet, contact_sheet(detections, "cluster 1: 2 faces in 2 photos"))  # PNG is lossless
    # the first tile is the first face, cropped from its photo
    tile = face_crop(load_image(detections[0].media_path), detections[0].face.box, 112)
    bar = max(28, 112 // 4)
    assert np.array_equal(sheet[bar + 4: bar + 4 + 112, 4:4 + 112], tile)


def test_clusters_and_name_commands(gallery_path, tmp_path, capsys):
    from facerec.gallery.store import Gallery

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
        assert [(p.name, p.faces) for p in gallery.people(KEY)] == [("Kit Harington", 2)]
        remaining = list_clusters(gallery, KEY)
    assert [people_of(c) for c in remaining] == [{"rose"}]

    assert main(["name", str(kit), "Kit Harington", *args]) == 1  # already named: nothing left in that group
    assert main(["name", "0", "Nobody", *args]) == 1
    assert main(["clusters", *args]) == 0  # nothing new: lists the stored groups without recomputing
    assert "(recomputed)" not in capsys.readouterr().out


def chain_of_two_people(n: int = 8, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Two tight groups of faces plus a few 'look-alike' faces half-way between them: single-link methods
    chain both people into one group through the look-alikes, average linkage must not."""
    rng = np.random.default_rng(seed)
    a, b = np.zeros(128), np.zeros(128)
    a[0], b[1] = 1.0, 1.0
    points, truth = [], []
    for centre, label in ((a, 0), (b, 1)):
        for _ in range(n):
            points.append(centre + rng.normal(0, 0.02, 128))
            truth.append(label)
    for t in (0.35, 0.5, 0.65):  # the bridge
        points.append((1 - t) * a + t * b + rng.normal(0, 0.005, 128))
        truth.append(2 + int(t * 100))
    return np.asarray(points, np.float32), np.asarray(truth)


def test_average_linkage_does_not_chain_two_people_through_look_alikes():
    from facerec.album.cluster import pairwise_precision_recall

    X, truth = chain_of_two_people()
    eps = 0.25
    chained = cluster_embeddings(X, eps, method="dbscan")
    default = cluster_embeddings(X, eps)
    assert len(set(chained.tolist())) == 1  # DBSCAN: everyone in one group
    people = truth < 2
    a_groups, b_groups = set(default[truth == 0].tolist()), set(default[truth == 1].tolist())
    assert len(a_groups) == 1 and len(b_groups) == 1 and a_groups != b_groups and NOISE not in a_groups | b_groups
    assert pairwise_precision_recall(default[people], truth[people])["precision"] == 1.0


@pytest.mark.parametrize("method", ["agglomerative", "chinese-whispers", "dbscan", "hdbscan"])
def test_two_faces_of_one_photo_are_never_one_group(method):
    rng = np.random.default_rng(1)
    centre = np.zeros(64)
    centre[0] = 1.0
    X = np.asarray([centre + rng.normal(0, 0.01, 64) for _ in range(6)], np.float32)
    photos = [1, 1, 2, 3, 4, 5]  # the first two faces are in the same photo (twins, a mirror, a poster)
    labels = cluster_embeddings(X, 0.2, method=method, groups=photos)
    assert not (labels[0] == labels[1] != NOISE)
    if method != "hdbscan":  # (hdbscan splits a uniform blob of six into small groups anyway)
        assert len({int(v) for v in labels[2:]} - {NOISE}) == 1  # the others are still one group


def test_pairwise_precision_recall_counts_pairs():
    from facerec.album.cluster import pairwise_precision_recall

    report = pairwise_precision_recall([1, 1, 2, NOISE], ["a", "a", "a", "b"])
    assert report["precision"] == 1.0 and report["recall"] == pytest.approx(1 / 3)
    assert report["clusters"] == 2 and report["noise"] == 1
