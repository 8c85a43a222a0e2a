"""`facerec forget NAME` forgets the person everywhere: gallery rows (and their bytes in the file), every
head trained on the gallery that can name them, the cached training embeddings of their photos, and the
album faces tagging had named as them. Real photos (tests/data/people, tests/data/holdout), the real CLI."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

import numpy as np

from facerec.types import UNKNOWN, Face

DATA = Path(__file__).resolve().parents[1] / "data"
PEOPLE = DATA / "people"
HOLDOUT = DATA / "holdout"
FORGOTTEN = "deepface_id05"
KEPT = "deepface_id03"
PROBES = {FORGOTTEN: HOLDOUT / "deepface_id05_img61.jpg", KEPT: HOLDOUT / "deepface_id03_img9.jpg"}
MATCHERS = ("nn", "svm", "logreg", "head")
EMBEDDING_FOLDER = "dlib_dlibbox2+flip"
KEY = "dlib:dlibbox2+flip"  # the gallery key of the default dlib pipeline's embeddings
FACE = Face((10, 10, 60, 60), 0.99, tuple((20.0 + i, 30.0) for i in range(5)))


def cli(capsys, *argv: str) -> tuple[int, str]:
    from facerec.cli.main import main

    capsys.readouterr()
    code = main(list(argv))
    return code, capsys.readouterr().out


def names_by_matcher(capsys, common: list[str], probe: Path) -> dict[str, str | None]:
    """The name each matcher gives the probe's face (None when the matcher cannot run: no head)."""
    names = {}
    for matcher in MATCHERS:
        code, out = cli(capsys, "identify", str(probe), *common, "--matcher", matcher, "--json")
        names[matcher] = json.loads(out)["images"][0]["faces"][0]["name"] if code in (0, 1) else None
    return names


def cache_files(tmp_path: Path, sha256: str) -> list[Path]:
    return list((tmp_path / "team-cache" / "bottlenecks").glob(f"*/*/{sha256}-*.npy"))


@pytest.mark.slow  # model tests: real networks on real photos (see tests/conftest.py)
def test_after_forget_no_matcher_can_name_the_person(tmp_path, capsys):
    pytest.importorskip("dlib", reason="the dlib extra is not installed")
    from facerec.files.atomic import file_sha256
    from facerec.gallery.store import Gallery

    gallery_path = tmp_path / "team.sqlite"
    common = ["--gallery", str(gallery_path), "--backbone", "dlib", "-q"]
    album = tmp_path / "album"  # neutral file names: the album keeps its photos, only the names go
    album.mkdir()
    for i, probe in enumerate(PROBES.values()):
        shutil.copy(probe, album / f"photo{i}.jpg")
    assert cli(capsys, "enroll", str(PEOPLE), *common)[0] == 0
    assert cli(capsys, "train", *common, "--augment", "--epochs", "60")[0] == 0
    assert cli(capsys, "tag", str(album), *common)[0] == 0

    # Before: every matcher names both people, the head and the cache exist, the album face is named.
    for person, probe in PROBES.items():
        assert names_by_matcher(capsys, common, probe) == {m: person for m in MATCHERS}
    forgotten_photos = sorted((PEOPLE / FORGOTTEN).glob("*.jpg"))
    forgotten_hashes = [file_sha256(p) for p in forgotten_photos]
    assert all(cache_files(tmp_path, sha) for sha in forgotten_hashes)
    with Gallery(gallery_path) as gallery:
        assert gallery.detections_naming(FORGOTTEN) == 1
        blobs = [bytes(r[0]) for r in gallery._db.execute(
            "SELECT f.embedding FROM faces f JOIN photos ph ON ph.id = f.photo_id JOIN people p ON p.id = ph.person_id"
            " WHERE p.name = ?", (FORGOTTEN,))]
    assert len(blobs) == len(forgotten_photos)

    code, out = cli(capsys, "forget", FORGOTTEN, *common, "--json")
    report = json.loads(out)
    assert code == 0 and report["forgotten"] == FORGOTTEN and report["photos"] == len(forgotten_photos)
    assert report["heads_removed"] == [str(tmp_path / "team-heads" / EMBEDDING_FOLDER)]
    assert report["album_faces"] == 1 and report["uploads_removed"] == 0
    assert report["cached_embeddings_removed"] == len(forgotten_photos) * 5  # 5 augmentations of each photo

    # After: nobody names them. nn/svm/logreg refit on the gallery; the head that knew them is gone.
    assert not (tmp_path / "team-heads" / EMBEDDING_FOLDER).exists()
    after = names_by_matcher(capsys, common, PROBES[FORGOTTEN])
    assert after == {"nn": UNKNOWN, "svm": UNKNOWN, "logreg": UNKNOWN, "head": None}
    assert names_by_matcher(capsys, common, PROBES[KEPT]) == {"nn": KEPT, "svm": KEPT, "logreg": KEPT, "head": None}
    assert cli(capsys, "train", *common, "--epochs", "60")[0] == 0  # a new head, without them
    assert names_by_matcher(capsys, common, PROBES[FORGOTTEN])["head"] == UNKNOWN

    # Nothing of them is left behind: no cached embedding, no album face named after them, no bytes in the file.
    assert not any(cache_files(tmp_path, sha) for sha in forgotten_hashes)
    assert cache_files(tmp_path, file_sha256(next((PEOPLE / KEPT).glob("*.jpg"))))  # the others' cache stays
    with Gallery(gallery_path) as gallery:
        assert gallery.detections_naming(FORGOTTEN) == 0
        assert FORGOTTEN not in [p.name for p in gallery.people()]
    stored = b"".join(p.read_bytes() for p in tmp_path.glob("team.sqlite*"))
    assert not any(blob in stored for blob in blobs)
    assert FORGOTTEN.encode() not in stored
    code, out = cli(capsys, "tag", str(album), *common, "--jsonl", str(tmp_path / "faces.jsonl"))
    assert FORGOTTEN not in (tmp_path / "faces.jsonl").read_text()


def test_forget_says_which_heads_it_deleted(tmp_path, capsys):
    """Only heads that can name the person go; one whose description cannot be read goes too (nobody can tell)."""
    from facerec.gallery.forget import remove_heads_naming

    heads = tmp_path / "team-heads"
    for folder, classes in (("a", ["Alice", "Bob"]), ("b", ["Bob", "Carol"])):
        (heads / folder).mkdir(parents=True)
        (heads / folder / "head.json").write_text(json.dumps({"classes": classes}))
        (heads / folder / "head.keras").write_bytes(b"weights")
    (heads / "c").mkdir()
    (heads / "c" / "head.json").write_text("{not json")
    assert remove_heads_naming(tmp_path / "team.sqlite", "Alice") == [heads / "a", heads / "c"]
    assert sorted(p.name for p in heads.iterdir()) == ["b"]
    assert remove_heads_naming(tmp_path / "nowhere.sqlite", "Alice") == []


def test_forget_in_words_names_what_went(tmp_path, capsys):
    from facerec.cli.main import main
    from facerec.gallery.store import Gallery
    from facerec.types import Face

    gallery_path = tmp_path / "team.sqlite"
    face = Face((1, 2, 30, 40), 0.99, tuple((float(i), 1.0) for i in range(5)))
    import numpy as np

    with Gallery(gallery_path) as gallery:
        gallery.record_photo("Alice", "/p/a.jpg", "ab" * 32, None, None, "ok", "", "dlib:dlibbox2+flip", face,
                             np.ones(128, np.float32) / np.sqrt(128))
    (tmp_path / "team-heads" / EMBEDDING_FOLDER).mkdir(parents=True)
    (tmp_path / "team-heads" / EMBEDDING_FOLDER / "head.json").write_text(json.dumps({"classes": ["Alice", "Bob"]}))
    assert main(["forget", "Alice", "--gallery", str(gallery_path)]) == 0
    out = capsys.readouterr().out
    assert "forgot Alice: 1 photo(s)" in out
    assert f"deleted the trained head {tmp_path / 'team-heads' / EMBEDDING_FOLDER}" in out and "facerec train" in out
    assert main(["forget", "Alice", "--gallery", str(gallery_path)]) == 1


def unit(vector: np.ndarray) -> np.ndarray:
    return (vector / np.linalg.norm(vector)).astype(np.float32)


def upload(gallery, person: str, photo: Path, embedding: np.ndarray) -> Path:
    """What `facerec serve` does when a photo is registered for `person`: a private copy in the uploads folder
    beside the gallery, recorded as their photo."""
    from facerec.files.atomic import file_sha256
    from facerec.server.uploads import upload_path

    sha = file_sha256(photo)
    path = upload_path(gallery.path, person, sha, ".jpg")
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    shutil.copy(photo, path)
    gallery.record_photo(person, path, sha, path.stat().st_mtime, path.stat().st_size, "ok", "uploaded",
                         KEY, FACE, embedding)
    return path


def test_forget_deletes_their_uploads_and_album_faces_so_nothing_regroups(tmp_path, capsys):
    """A person registered over HTTP and forgotten with the CLI: their uploaded photos (and a copy an older
    facerec left behind) go, and so do the album faces named as them, with their embeddings -- left as unknown
    faces they would at once make a group of this person again on the review page."""
    from facerec.album.cluster import list_clusters, recompute_clusters
    from facerec.cli.main import main
    from facerec.gallery.store import Gallery
    from facerec.paths import person_uploads_dir

    rng = np.random.default_rng(7)
    alice, stranger = unit(rng.normal(size=128)), unit(rng.normal(size=128))
    gallery_path = tmp_path / "team.sqlite"
    with Gallery(gallery_path) as gallery:
        alice_upload = upload(gallery, "Alice", PEOPLE / FORGOTTEN / "img16.jpg", alice)
        bob_upload = upload(gallery, "Bob", next((PEOPLE / KEPT).glob("*.jpg")), unit(rng.normal(size=128)))
        leftover = person_uploads_dir(gallery_path, "Alice") / ("0" * 64 + ".jpg")  # forgotten before, left behind
        shutil.copy(alice_upload, leftover)
        album_faces = [unit(alice + rng.normal(scale=0.005, size=128)) for _ in range(3)]
        strangers = [unit(stranger + rng.normal(scale=0.005, size=128)) for _ in range(2)]
        for i, (vector, name) in enumerate([(v, "Alice") for v in album_faces] + [(v, UNKNOWN) for v in strangers]):
            gallery.record_media(f"/album/photo{i}.jpg", f"{i:064x}", 1.0, 10, KEY, gallery.version(), "ok",
                                 detections=[{"face": FACE, "embedding": vector, "predicted_name": name,
                                              "score": 0.9 if name == "Alice" else 0.0}])
    blobs = [np.asarray(v, "<f4").tobytes() for v in album_faces + [alice]]

    assert main(["forget", "Alice", "--gallery", str(gallery_path), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["album_faces"] == 3 and report["uploads_removed"] == 2

    assert not alice_upload.exists() and not leftover.exists() and not alice_upload.parent.exists()
    assert bob_upload.exists()
    with Gallery(gallery_path) as gallery:
        assert [p.name for p in gallery.people()] == ["Bob"]
        assert len(gallery.unknown_detections(KEY)[0]) == 2  # the strangers only
        assert recompute_clusters(gallery, KEY) == 1
        assert [c.faces for c in list_clusters(gallery, KEY)] == [2]
    stored = b"".join(p.read_bytes() for p in tmp_path.glob("team.sqlite*"))
    assert not any(blob in stored for blob in blobs)
