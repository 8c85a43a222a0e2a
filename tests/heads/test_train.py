"""Transfer-learning heads on real dlib embeddings of real photos (tests/data/people, tests/data/holdout),
the bottleneck cache, save/load, and fine-tuning the last block of a (random-weight) resnet50."""
from __future__ import annotations

from facerec.backbones import embedding_id

from pathlib import Path

import numpy as np
import pytest

from facerec.errors import FacerecError, MissingExtraError
from facerec.gallery.store import Gallery
from facerec.types import UNKNOWN

pytestmark = pytest.mark.slow  # model tests: real networks on real photos (see tests/conftest.py)

DATA = Path(__file__).resolve().parents[1] / "data"
PEOPLE = DATA / "people"
HOLDOUT = DATA / "holdout"
# holdout/<Person>_<photo>.jpg are other photos of the enrolled people; deepface_id13 is enrolled nowhere.
STRANGER = "deepface_id13"


def holdout_person(path: Path) -> str:
    return path.stem.rsplit("_", 1)[0]


@pytest.fixture(scope="module")
def faces(dlib_pipeline):
    """{path: (person, face, embedding)} for the enrolled photos and the held-out ones: computed once."""
    from facerec.vision.imageio import load_image
    from facerec.recognition.pipeline import largest_face

    found = {}
    photos = [(p.parent.name, p) for p in sorted(PEOPLE.glob("*/*.jpg"))]
    photos += [(holdout_person(p), p) for p in sorted(HOLDOUT.glob("*.jpg"))]
    for person, path in photos:
        image = load_image(path)
        face = largest_face(dlib_pipeline.detect(image))
        assert face is not None, path
        found[path] = (person, face, dlib_pipeline.embed(image, [face])[0])
    return found


def split(faces, folder: Path):
    rows = [(person, vector) for path, (person, _, vector) in faces.items() if path.is_relative_to(folder)]
    return np.stack([v for _, v in rows]), [p for p, _ in rows]


@pytest.fixture(scope="module")
def enrolled(faces):
    return split(faces, PEOPLE)


@pytest.fixture(scope="module")
def holdout(faces):
    return split(faces, HOLDOUT)


@pytest.fixture(scope="module")
def open_set_threshold(enrolled):
    """The gate the head uses for 'too far from everyone', measured on the enrolled photos the way
    `facerec calibrate` does (no impostor pair of enrolled people may pass)."""
    from facerec.evaluation.calibrate import calibrate_embeddings

    return calibrate_embeddings(*enrolled, target_far=1e-3)["threshold"]


@pytest.fixture(scope="module")
def trained_head(enrolled, open_set_threshold):
    from facerec.heads.head import FaceHead

    X, names = enrolled
    return FaceHead(backbone="dlib", max_distance=open_set_threshold, seed=0).fit(X, names)


def make_gallery(path: Path, faces, folder: Path = PEOPLE):
    from facerec.files.atomic import file_sha256
    from facerec.gallery.store import Gallery

    gallery = Gallery(path)
    for photo, (person, face, vector) in faces.items():
        if photo.is_relative_to(folder):
            stat = photo.stat()
            gallery.record_photo(person, photo, file_sha256(photo), stat.st_mtime, stat.st_size, "ok",
                                 embedding_id=embedding_id("dlib"), face=face, embedding=vector)
    return gallery


# ------------------------------------------------------------------------------------------- head


def test_head_names_held_out_photos_and_rejects_a_stranger(trained_head, holdout):
    X, truth = holdout
    predicted = list(trained_head.predict(X))
    expected = [UNKNOWN if t == STRANGER else t for t in truth]
    assert predicted == expected
    identities = trained_head.predict_identities(X)
    stranger = identities[truth.index(STRANGER)]
    assert stranger.name == UNKNOWN and stranger.extra["nearest"] in trained_head.classes_
    assert stranger.distance > trained_head.max_distance_
    known = [i for i, t in zip(identities, truth) if t != STRANGER]
    assert all(i.probability >= 0.5 and i.distance < trained_head.max_distance_ for i in known)
    assert all(0.67 <= i.score <= 1.0 for i in known) and stranger.score == 0.0


def test_without_the_distance_gate_the_stranger_gets_a_name(enrolled, holdout):
    """The softmax alone always names someone: the open-set gate is what makes the stranger unknown."""
    from facerec.heads.head import FaceHead

    X, truth = holdout
    head = FaceHead(backbone="dlib", max_distance=2.0, min_probability=0.0).fit(*enrolled)
    assert head.predict(X)[truth.index(STRANGER)] != UNKNOWN


def test_probabilities_are_a_distribution_over_the_enrolled_people(trained_head, holdout):
    proba = trained_head.predict_proba(holdout[0])
    assert proba.shape == (len(holdout[1]), 3)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-5)
    assert trained_head.classes_ == sorted({"Angelina_Jolie", "deepface_id03", "deepface_id05"})


def test_save_and_load_give_identical_predictions(trained_head, holdout, tmp_path):
    from facerec.heads.head import load_head

    path = trained_head.save(tmp_path / "heads" / "head.keras")
    meta = (tmp_path / "heads" / "head.json").read_text()
    assert '"backbone": "dlib"' in meta and '"centroids"' in meta
    # the head and its json hold per-person face centroids: biometric data, private to the user
    assert (path.stat().st_mode & 0o777) == 0o600
    assert ((tmp_path / "heads" / "head.json").stat().st_mode & 0o777) == 0o600
    loaded = load_head("dlib", tmp_path / "heads")  # the folder or the .keras file both work
    assert path.name == "head.keras"
    X = holdout[0]
    np.testing.assert_array_equal(loaded.predict_proba(X), trained_head.predict_proba(X))
    assert list(loaded.predict(X)) == list(trained_head.predict(X))
    assert [i.distance for i in loaded.predict_identities(X)] == [i.distance for i in trained_head.predict_identities(X)]


def test_a_head_is_stored_beside_its_gallery_and_found_from_any_folder(faces, tmp_path, monkeypatch):
    from facerec.recognition.match import matcher_from_gallery
    from facerec.heads.head import load_head
    from facerec.heads.train import train_from_gallery

    with make_gallery(tmp_path / "team.sqlite", faces) as gallery:
        head = train_from_gallery(gallery, "dlib", epochs=30)
        saved = head.save()
        assert saved == tmp_path / "team-heads" / "dlib_dlibbox2+flip" / "head.keras"
        meta = (saved.parent / "head.json").read_text()
        assert str((tmp_path / "team.sqlite").resolve()) in meta and '"embedding": "dlib:dlibbox2+flip"' in meta
        assert (saved.parent.stat().st_mode & 0o777) == 0o700 and (saved.stat().st_mode & 0o777) == 0o600
        elsewhere = tmp_path / "elsewhere"
        elsewhere.mkdir()
        monkeypatch.chdir(elsewhere)  # a head trained in one folder was not found from another
        loaded = matcher_from_gallery(gallery, "head", embedding_id("dlib"))
    assert loaded.classes_ == head.classes_ == ["Angelina_Jolie", "deepface_id03", "deepface_id05"]
    assert not (elsewhere / "models").exists()
    with pytest.raises(FacerecError, match="trained for backbone dlib"):
        load_head("resnet50", saved)


def test_a_head_without_a_gallery_needs_a_path(trained_head):
    with pytest.raises(FacerecError, match="give a path"):
        trained_head.save()


def test_a_head_that_can_name_someone_the_gallery_does_not_hold_is_refused(faces, tmp_path, caplog):
    """The bug: `identify --matcher head --gallery OTHER` named a person who is not in OTHER."""
    import shutil

    from facerec.recognition.match import matcher_from_gallery
    from facerec.heads.train import train_from_gallery

    with make_gallery(tmp_path / "big.sqlite", faces) as gallery:
        train_from_gallery(gallery, "dlib", epochs=30).save()
    two = {p: f for p, f in faces.items() if f[0] != "deepface_id05"}
    with make_gallery(tmp_path / "small.sqlite", two) as small:
        shutil.copytree(tmp_path / "big-heads", tmp_path / "small-heads")  # the head travels, its people do not
        with pytest.raises(FacerecError, match=r"can name 1 person\(s\) not enrolled.*deepface_id05"):
            matcher_from_gallery(small, "head", embedding_id("dlib"))
    shutil.copy(tmp_path / "big.sqlite", tmp_path / "moved.sqlite")
    shutil.copytree(tmp_path / "big-heads", tmp_path / "moved-heads")
    with Gallery(tmp_path / "moved.sqlite") as moved:  # the same people in a copied gallery: a warning, not a refusal
        assert matcher_from_gallery(moved, "head", embedding_id("dlib")).classes_[2] == "deepface_id05"
    assert "was trained on the gallery" in caplog.text


def test_missing_head_says_to_train_first(tmp_path):
    from facerec.heads.head import load_head

    with pytest.raises(MissingExtraError, match="facerec train"):
        load_head("dlib", tmp_path / "nowhere")


def test_one_person_is_not_enough(enrolled):
    from facerec.heads.head import FaceHead

    X, names = enrolled
    with pytest.raises(FacerecError, match="at least 2"):
        FaceHead().fit(X[:3], names[:3])


def test_wrong_embedding_size_is_a_clear_error(trained_head):
    with pytest.raises(FacerecError, match="128-d"):
        trained_head.predict_proba(np.ones((1, 2048), dtype=np.float32))


def test_validation_split_keeps_augmented_copies_of_a_photo_together():
    from facerec.heads.head import validation_split

    labels = np.repeat([0, 1], 30)  # 2 people x 5 photos x 6 variants
    groups = np.repeat(np.arange(10), 6)
    mask = validation_split(labels, groups, fraction=0.2, seed=0)
    assert mask is not None and mask.sum() == 12  # one photo of each person, with all its variants
    for g in np.unique(groups):
        assert len(set(mask[groups == g])) == 1
    assert validation_split(labels, groups, 0.2, 0, min_photos=6) is None  # too few photos: no split


# ------------------------------------------------------------------------------- from the gallery


class CountingBackbone:
    """The real dlib backbone, counting how many chips it is asked to embed."""

    def __init__(self, backbone):
        self.inner = backbone
        self.name = backbone.name
        self.chips_embedded = 0

    def align(self, image, face):
        return self.inner.align(image, face)

    def embed(self, chips):
        self.chips_embedded += len(chips)
        return self.inner.embed(chips)


def test_gallery_training_uses_stored_embeddings_without_loading_the_backbone(faces, holdout, tmp_path, monkeypatch):
    import facerec.backbones
    from facerec.heads.train import train_from_gallery

    def no_backbone(*args, **kwargs):
        raise AssertionError("the backbone must not be loaded: stored embeddings are the bottleneck features")

    monkeypatch.setattr(facerec.backbones, "get_backbone", no_backbone)
    with make_gallery(tmp_path / "g.sqlite", faces) as gallery:
        head = train_from_gallery(gallery, "dlib", max_distance=0.1)
    assert head.metrics_["n_samples"] == 9 and head.augmentations_ == ["orig"]
    X, truth = holdout
    assert [n for n, t in zip(head.predict(X), truth) if t != STRANGER] == [t for t in truth if t != STRANGER]


def test_augmented_bottlenecks_are_cached_and_reused(faces, holdout, dlib_pipeline, tmp_path):
    from facerec.heads.augment import AUGMENTATIONS
    from facerec.heads.bottlenecks import BottleneckCache
    from facerec.heads.train import train_from_gallery

    counting = CountingBackbone(dlib_pipeline.backbone)
    with make_gallery(tmp_path / "g.sqlite", faces) as gallery:
        first_cache = BottleneckCache(tmp_path / "cache")
        head = train_from_gallery(gallery, counting, augment=True, cache=first_cache, max_distance=0.1, epochs=60)
        assert counting.chips_embedded == 9 * len(AUGMENTATIONS)  # originals come from the gallery
        assert first_cache.misses == 9 * len(AUGMENTATIONS) and first_cache.hits == 0
        assert len(list((tmp_path / "cache" / "dlib").rglob("*.npy"))) == 9 * len(AUGMENTATIONS)

        second_cache = BottleneckCache(tmp_path / "cache")
        again = train_from_gallery(gallery, counting, augment=True, cache=second_cache, max_distance=0.1, epochs=60)
    assert counting.chips_embedded == 9 * len(AUGMENTATIONS)  # nothing embedded the second time
    assert second_cache.hits == 9 * len(AUGMENTATIONS) and second_cache.misses == 0
    assert head.metrics_["n_samples"] == again.metrics_["n_samples"] == 9 * (1 + len(AUGMENTATIONS))
    X, truth = holdout
    assert list(again.predict(X)) == [UNKNOWN if t == STRANGER else t for t in truth]


def test_cache_files_load_without_pickle(faces, tmp_path):
    from facerec.heads.bottlenecks import BottleneckCache

    cache = BottleneckCache(tmp_path)
    _, face, vector = next(iter(faces.values()))
    cache.put("dlib", "ab" * 32, face, "flip", vector)
    (stored,) = list(tmp_path.rglob("*.npy"))
    np.testing.assert_array_equal(np.load(stored, allow_pickle=False), vector)
    assert (stored.stat().st_mode & 0o777) == 0o600
    np.testing.assert_array_equal(cache.get("dlib", "ab" * 32, face, "flip"), vector)
    assert cache.get("dlib", "ab" * 32, face, "rot+10") is None


def test_augmentations_change_the_chip_but_keep_its_shape():
    from facerec.heads.augment import AUGMENTATIONS, augmented_chips, resolve_variants

    chip = np.random.default_rng(0).integers(0, 200, size=(150, 150, 3), dtype=np.uint8)
    variants = resolve_variants(True)
    out = augmented_chips(chip, variants)
    assert out.shape == (len(variants), 150, 150, 3) and out.dtype == np.uint8
    np.testing.assert_array_equal(out[0], chip)
    for i in range(1, len(variants)):
        assert not np.array_equal(out[i], chip), variants[i]
    np.testing.assert_array_equal(AUGMENTATIONS["flip"](AUGMENTATIONS["flip"](chip)), chip)
    with pytest.raises(FacerecError, match="unknown augmentation"):
        resolve_variants(["sepia"])


def test_fine_tuning_dlib_is_refused_with_a_reason(faces, tmp_path):
    from facerec.heads.train import train_from_gallery

    with make_gallery(tmp_path / "g.sqlite", faces) as gallery:
        with pytest.raises(FacerecError, match="not a Keras model"):
            train_from_gallery(gallery, "dlib", fine_tune_blocks=1)


def test_train_command_saves_a_head_that_identify_can_load(faces, tmp_path, capsys, monkeypatch):
    from facerec.cli.main import main
    from facerec.recognition.match import matcher_from_gallery

    gallery_path = tmp_path / "g.sqlite"
    make_gallery(gallery_path, faces).close()
    assert main(["train", "--gallery", str(gallery_path), "--epochs", "50", "--json"]) == 0
    out = capsys.readouterr().out
    assert '"classes"' in out and (tmp_path / "g-heads" / "dlib_dlibbox2+flip" / "head.json").is_file()
    with Gallery(gallery_path) as gallery:
        head = matcher_from_gallery(gallery, "head", embedding_id("dlib"))
    assert head.classes_ == ["Angelina_Jolie", "deepface_id03", "deepface_id05"]


def test_train_command_with_an_empty_gallery_fails_cleanly(tmp_path, capsys):
    from facerec.cli.main import main
    from facerec.gallery.store import Gallery

    Gallery(tmp_path / "empty.sqlite").close()
    assert main(["train", "--gallery", str(tmp_path / "empty.sqlite")]) == 1
    assert "at least 2 people" in capsys.readouterr().err


# ----------------------------------------------------------------------------------- fine-tuning


@pytest.mark.slow
def test_fine_tuning_the_last_resnet50_block_changes_only_that_block(faces, tmp_path):
    """Smoke test on 4 real face chips and a random-weight resnet50 (no weights can be downloaded here)."""
    from facerec.vision.align import align_face
    from facerec.backbones.vggface import bottleneck_model, last_block_layers, preprocess_input
    from facerec.vision.imageio import load_image
    from facerec.heads.head import FaceHead, load_head
    from facerec.heads.finetune import fine_tune

    chosen = [p for p in faces if p.is_relative_to(PEOPLE) and faces[p][0] in ("Angelina_Jolie", "deepface_id05")][:2]
    chosen += [p for p in faces if p.is_relative_to(PEOPLE) and faces[p][0] == "deepface_id05"][:2]
    chips = np.stack([align_face(load_image(p), faces[p][1].landmarks_array(), size=224) for p in chosen])
    names = [faces[p][0] for p in chosen]
    assert sorted(set(names)) == ["Angelina_Jolie", "deepface_id05"]

    base = bottleneck_model("resnet50", "random")
    bottlenecks = base.predict(preprocess_input(chips, "resnet50"), verbose=0)
    head = FaceHead(backbone="resnet50", epochs=1, seed=0).fit(bottlenecks, names)

    unfrozen = set(last_block_layers("resnet50", 1))
    before = {layer.name: [w.copy() for w in layer.get_weights()] for layer in base.layers if layer.get_weights()}
    metrics = fine_tune(head, chips, names, n_blocks=1, base_model=base, epochs=1, batch_size=4)
    assert metrics["epochs_run"] == 1 and set(metrics["unfrozen_layers"]) == unfrozen
    for layer in base.layers:
        if layer.name not in before:
            continue
        after = layer.get_weights()
        if layer.name in unfrozen and "bn" not in layer.name:
            assert not np.array_equal(after[0], before[layer.name][0]), f"{layer.name} should have been trained"
        elif layer.name not in unfrozen:
            for a, b in zip(after, before[layer.name]):
                np.testing.assert_array_equal(a, b, err_msg=f"{layer.name} should be frozen")
    assert any(name.startswith("conv5_3") for name in unfrozen)

    saved = head.save(tmp_path / "ft" / "head.keras")
    assert ((tmp_path / "ft" / "base.weights.h5").stat().st_mode & 0o777) == 0o600  # as private as the head
    loaded = load_head("resnet50", saved)
    assert loaded.fine_tuned and loaded.fine_tuned_blocks == 1
    np.testing.assert_allclose(loaded.embed_chips(chips), head.embed_chips(chips), atol=1e-5)
    assert list(loaded.predict(loaded.embed_chips(chips))) == list(head.predict(head.embed_chips(chips)))


def test_fine_tuning_dlib_keras_end_to_end(tmp_path, capsys, monkeypatch, caplog):
    """enroll, train --fine-tune-blocks 1 and identify --matcher head on the real pretrained network:
    only the last residual block and the fc layer change, and the held-out photos are still named."""
    pytest.importorskip("dlib", reason="the dlib extra is not installed")
    from facerec.backbones.dlib_keras import dlib_model, last_block_layers
    from facerec.cli.main import main
    from facerec.heads.head import load_head

    gallery = str(tmp_path / "g.sqlite")
    common = ["--backbone", "dlib-keras", "--gallery", gallery]
    assert main(["enroll", str(PEOPLE), *common, "-q"]) == 0
    assert main(["train", *common, "--fine-tune-blocks", "1", "--fine-tune-epochs", "2", "--epochs", "50"]) == 0
    assert "fine-tuned the last 1 block(s): 5 layers" in capsys.readouterr().out
    assert "fine-tuning with 3 photo(s) for some person" in caplog.text  # LFW says it does not help with so few

    head = load_head("dlib-keras", tmp_path / "g-heads" / "dlib-keras_dlibbox2+flip")
    assert (head.base_weights_path.stat().st_mode & 0o777) == 0o600  # the fine-tuned base is as private as the head
    assert head.fine_tuned_blocks == 1 and head.metrics_["fine_tune"]["n_train"] == 9 * 6  # 9 photos x 6 variants
    original, tuned = dlib_model(), head.base_model()
    trained = set(last_block_layers(1))
    for layer in original.layers:
        if layer.weights:
            same = all(np.array_equal(a, b) for a, b in zip(layer.get_weights(), tuned.get_layer(layer.name).get_weights()))
            assert same == (layer.name not in trained), layer.name

    holdout = sorted(HOLDOUT.glob("*.jpg"))
    assert main(["identify", *common, "--matcher", "head", "--json", *map(str, holdout)]) == 0
    import json

    named = {Path(r["path"]).name: r["faces"][0]["name"] for r in json.loads(capsys.readouterr().out)["images"]}
    assert named == {p.name: UNKNOWN if holdout_person(p) == STRANGER else holdout_person(p) for p in holdout}


def test_gallery_training_learns_from_confirmed_album_faces(faces, tmp_path):
    """A face confirmed on the review page is a sample its person's head is trained on (issue 19), and undoing
    the confirmation takes it out of the next training."""
    from facerec.files.atomic import file_sha256
    from facerec.gallery import decisions
    from facerec.heads.train import train_from_gallery

    album = HOLDOUT / "deepface_id05_img61.jpg"
    person, face, vector = faces[album]
    with make_gallery(tmp_path / "g.sqlite", faces) as gallery:
        gallery.record_media(album, file_sha256(album), album.stat().st_mtime, album.stat().st_size,
                             embedding_id("dlib"), gallery.version(), "ok",
                             detections=[{"face": face, "embedding": vector, "predicted_name": UNKNOWN, "score": 0.0}])
        (confirmed,) = decisions.confirm(gallery, [f"a{gallery.detections(album)[0].id}"], person)
        assert confirmed["learning"] == "kept as a sample"
        head = train_from_gallery(gallery, "dlib", epochs=5)
        assert head.metrics_["n_samples"] == 10 and head.samples_per_class_[person] == 4
        decisions.undo(gallery)
        head = train_from_gallery(gallery, "dlib", epochs=5)
        assert head.metrics_["n_samples"] == 9 and head.samples_per_class_[person] == 3
