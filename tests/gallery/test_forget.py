"""`facerec forget NAME` forgets the person everywhere: gallery rows (and their bytes in the file), every
head trained on the gallery that can name them, the cached training embeddings of their photos, and the
album faces tagging had named as them. Real photos (tests/data/people, tests/data/holdout), the real CLI."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from facerec.types import UNKNOWN

pytestmark = pytest.mark.slow  # model tests: real networks on real photos (see tests/conftest.py)

DATA = Path(__file__).resolve().parents[1] / "data"
PEOPLE = DATA / "people"
HOLDOUT = DATA / "holdout"
FORGOTTEN = "deepface_id05"
KEPT = "deepface_id03"
PROBES = {FORGOTTEN: HOLDOUT / "deepface_id05_img61.jpg", KEPT: HOLDOUT / "deepface_id03_img9.jpg"}
MATCHERS = ("nn", "svm", "logreg", "head")
EMBEDDING_FOLDER = "dlib_dlibbox2+flip"


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
    assert report["album_faces"] == 1
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
