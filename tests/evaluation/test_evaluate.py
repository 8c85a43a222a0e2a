"""Evaluation metrics on synthetic distances with known answers, and real evaluations (labelled folder,
LFW-style pairs, calibration, plots) over the real photos in tests/data."""
from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from facerec.evaluation.calibrate import calibrate, calibrate_embeddings

from facerec.evaluation.folder import evaluate_folder, public_report, split_people

from facerec.evaluation.metrics import FAILED_PAIR_DISTANCE, accuracy_at, best_threshold, fold_ids_for, identification_report, kfold_accuracy, roc_auc, tar_at_far, threshold_at_far, verification_report

from facerec.evaluation.pairs import Pair, evaluate_pairs, lfw_image_path, parse_pairs

from facerec.evaluation.plots import write_plots
from facerec.backbones import embedding_id
from facerec.errors import FacerecError, GalleryError
from facerec.thresholds import identify_threshold
from facerec.types import UNKNOWN

KEY = embedding_id("dlib")  # the gallery key of the default dlib pipeline's embeddings

DATA = Path(__file__).resolve().parents[1] / "data"
NO_FACE = DATA / "core" / "noface_017.jpg"
ENROLLED_PEOPLE = ["Angelina_Jolie", "deepface_id03", "deepface_id05"]
STRANGER = "deepface_id13"

# ------------------------------------------------------------------------- metrics, known answers

# Three same-person pairs and four different-people pairs; 11 of the 12 (same, different)
# combinations are ordered correctly (0.3 > 0.25 is the exception).
DIST = np.array([0.1, 0.2, 0.3, 0.25, 0.5, 0.6, 0.7])
SAME = np.array([True, True, True, False, False, False, False])


def test_roc_auc_counts_correctly_ordered_pairs():
    assert roc_auc(DIST, SAME) == pytest.approx(11 / 12)
    assert roc_auc(np.array([0.1, 0.9]), np.array([True, False])) == 1.0
    assert np.isnan(roc_auc(DIST[:3], SAME[:3]))  # no different-people pairs


def test_best_threshold_sits_between_samples():
    threshold, accuracy = best_threshold(DIST, SAME)
    assert threshold == pytest.approx(0.225)  # between 0.2 (same) and 0.25 (different)
    assert accuracy == pytest.approx(6 / 7)
    assert accuracy_at(DIST, SAME, 0.4) == pytest.approx(6 / 7)  # the other optimum; ties go to the smaller


def test_tar_at_far():
    tar, threshold = tar_at_far(DIST, SAME, 0.0)  # no different pair may pass: t < 0.25
    assert tar == pytest.approx(2 / 3) and threshold == pytest.approx(0.225)
    tar, threshold = tar_at_far(DIST, SAME, 0.25)  # one of four may pass: t < 0.5
    assert tar == 1.0 and threshold == pytest.approx(0.4)


def test_threshold_at_far_on_many_impostors():
    impostor = np.linspace(0.3, 1.3, 1001)  # 0.3, 0.301, ...
    t = threshold_at_far(impostor, 1e-3)  # 1001 pairs: one false accept allowed
    assert 0.3 < t < 0.301 and np.sum(impostor <= t) == 1
    t = threshold_at_far(impostor, 1e-2, genuine=np.array([0.1, 0.2]))
    assert np.sum(impostor <= t) == 10


def test_kfold_accuracy_picks_each_threshold_on_the_other_folds():
    # fold 0: same 0.1, 0.3; different 0.2, 0.5.  fold 1: same 0.1, 0.2; different 0.4, 0.6.
    distances = np.array([0.1, 0.3, 0.2, 0.5, 0.1, 0.2, 0.4, 0.6])
    same = np.array([True, True, False, False, True, True, False, False])
    folds = np.array([0, 0, 0, 0, 1, 1, 1, 1])
    result = kfold_accuracy(distances, same, folds)
    # fold 1 separates perfectly at 0.3 (midway 0.2..0.4) -> on fold 0 it accepts the 0.2 impostor: 3/4.
    # fold 0's best is 0.15 -> on fold 1 it rejects the 0.2 genuine pair: 3/4.
    assert result["fold_thresholds"] == pytest.approx([0.3, 0.15])
    assert result["fold_accuracies"] == pytest.approx([0.75, 0.75])
    assert result["accuracy"] == pytest.approx(0.75) and result["accuracy_std"] == 0.0


def test_ten_fold_accuracy_on_separable_scores_is_perfect():
    rng = np.random.default_rng(0)
    distances = np.concatenate([rng.uniform(0.0, 0.3, 300), rng.uniform(0.5, 1.0, 300)])
    same = np.arange(600) < 300
    report = verification_report(distances, same)
    assert report["cross_validation"]["accuracy"] == 1.0 and len(report["cross_validation"]["fold_accuracies"]) == 10
    assert report["auc"] == 1.0
    assert report["tar_at_far"]["0.001"]["tar"] == 1.0 and not report["tar_at_far"]["0.001"]["reliable"]
    assert report["tar_at_far"]["0.01"]["reliable"]
    assert 0.3 < report["best_threshold"] < 0.5


def test_stratified_folds_cover_every_pair_once():
    same = np.arange(25) < 12
    folds = fold_ids_for(25, same, n_folds=5, seed=1)
    assert sorted(np.bincount(folds)) == [5, 5, 5, 5, 5]
    for f in range(5):
        assert 2 <= same[folds == f].sum() <= 3


def test_identification_report_and_confusion_matrix():
    truth = ["A", "A", "B", "B", UNKNOWN, UNKNOWN]
    predicted = ["A", UNKNOWN, "A", "B", "B", UNKNOWN]
    r = identification_report(truth, predicted, ["A", "B"])
    assert r["top1_accuracy"] == 0.5 and r["genuine_rejected_rate"] == 0.25 and r["genuine_misidentified_rate"] == 0.25
    assert r["open_set_far"] == 0.5
    assert r["confusion"]["labels"] == ["A", "B", UNKNOWN]
    assert r["confusion"]["matrix"] == [[1, 0, 1], [1, 1, 0], [0, 1, 1]]


def test_calibration_on_known_vectors():
    # 2-d unit vectors: A at 0 and 10 degrees, B at 60 and 70, C at 180.
    angles = np.radians([0, 10, 60, 70, 180])
    X = np.stack([np.cos(angles), np.sin(angles)], axis=1)
    names = ["A", "A", "B", "B", "C"]
    result = calibrate_embeddings(X, names, target_far=1e-3)
    genuine = 1 - np.cos(np.radians(10))
    closest_impostor = 1 - np.cos(np.radians(50))  # A at 10 vs B at 60
    assert result["threshold"] == pytest.approx((genuine + closest_impostor) / 2)
    assert result["far"] == 0.0 and result["frr"] == 0.0
    assert (result["n_genuine"], result["n_impostor"]) == (2, 8)
    assert "note" in result  # 8 impostor pairs cannot measure a FAR of 1e-3
    with pytest.raises(GalleryError, match="at least 2"):
        calibrate_embeddings(X[:2], names[:2])


# ----------------------------------------------------------------------------------- pairs files


def test_parse_pairs_with_fold_header(tmp_path):
    path = tmp_path / "pairs.txt"
    path.write_text("2\t1\nAlice\t1\t2\nAlice\t1\tBob\t3\nBob\t1\t3\nCarol\t2\tAlice\t4\n")
    pairs = parse_pairs(path)
    assert [p.same for p in pairs] == [True, False, True, False]
    assert [p.fold for p in pairs] == [0, 0, 1, 1]
    assert pairs[1] == Pair("Alice", 1, "Bob", 3, 0)
    assert lfw_image_path(tmp_path, "Bob", 3) == tmp_path / "Bob" / "Bob_0003.jpg"


def test_parse_pairs_without_folds(tmp_path):
    one_number = tmp_path / "pairsDevTrain.txt"
    one_number.write_text("1\nAlice 1 2\nAlice 1 Bob 3\n")
    no_header = tmp_path / "plain.txt"
    no_header.write_text("Alice 1 2\nAlice 1 Bob 3\n\n")
    for path in (one_number, no_header):
        assert [(p.same, p.fold) for p in parse_pairs(path)] == [(True, None), (False, None)]


def test_malformed_pairs_file_names_the_line(tmp_path):
    path = tmp_path / "bad.txt"
    path.write_text("Alice 1 2\nAlice one Bob 3\n")
    with pytest.raises(FacerecError, match="pair 2"):
        parse_pairs(path)
    with pytest.raises(FacerecError, match="no pairs"):
        (tmp_path / "empty.txt").write_text("10 300\n")
        parse_pairs(tmp_path / "empty.txt")


# --------------------------------------------------------------------------- real photos, dlib


def person_photos() -> dict[str, list[Path]]:
    """4 photos of each enrolled test person (people/ + holdout/) and 1 of a stranger."""
    photos: dict[str, list[Path]] = {}
    for name in ENROLLED_PEOPLE:
        photos[name] = sorted((DATA / "people" / name).glob("*.jpg")) + sorted((DATA / "holdout").glob(f"{name}_*.jpg"))
    photos[STRANGER] = sorted((DATA / "holdout").glob(f"{STRANGER}_*.jpg"))
    return photos


@pytest.fixture(scope="module")
def embedded(dlib_pipeline):
    """{sha256 of the file: (face, embedding)}, so copies of a photo anywhere are embedded once per module."""
    from facerec.vision.imageio import load_image
    from facerec.recognition.pipeline import largest_face

    cache: dict[str, tuple] = {}

    def face_and_embedding(path: Path):
        key = hashlib.sha256(Path(path).read_bytes()).hexdigest()
        if key not in cache:
            image = load_image(path)
            face = largest_face(dlib_pipeline.detect(image))
            cache[key] = (face, None if face is None else dlib_pipeline.embed(image, [face])[0])
        return cache[key]

    return face_and_embedding


@pytest.fixture(scope="module")
def labelled_folder(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("labelled")
    for name, photos in person_photos().items():
        (root / name).mkdir()
        for p in photos:
            shutil.copy(p, root / name / p.name)
    (root / "_ignored").mkdir()  # folders starting with '_' are not people
    shutil.copy(NO_FACE, root / "_ignored" / "x.jpg")
    return root


def test_labelled_folder_evaluation_on_real_photos(labelled_folder, embedded, dlib_pipeline, capsys):
    embed_one = lambda p: embedded(p)[1]  # noqa: E731
    report = evaluate_folder(labelled_folder, dlib_pipeline, k=2, matcher="nn", threshold=0.1, seed=3,
                                embed_one=embed_one)
    assert report["n_people"] == 4 and report["n_photos"] == 13 and report["n_failed_photos"] == 0
    assert report["n_enrolled_people"] == 3 and report["impostor_people"] == [STRANGER]
    assert report["n_genuine_probes"] == 6 and report["n_impostor_probes"] == 1
    assert report["top1_accuracy"] == 1.0 and report["open_set_far"] == 0.0
    assert report["confusion"]["labels"] == ENROLLED_PEOPLE + [UNKNOWN]
    assert report["confusion"]["matrix"] == [[2, 0, 0, 0], [0, 2, 0, 0], [0, 0, 2, 0], [0, 0, 0, 1]]
    assert report["mistakes"] == []
    v = report["verification"]
    assert (v["n_same"], v["n_different"]) == (18, 60)
    assert v["auc"] > 0.99 and v["cross_validation"]["accuracy"] > 0.95
    # Same seed, same answer; the split is random but reproducible.
    again = evaluate_folder(labelled_folder, dlib_pipeline, k=2, matcher="nn", threshold=0.1, seed=3,
                               embed_one=embed_one)
    assert public_report(again) == public_report(report)
    json.dumps(public_report(report))  # JSON-safe

    from facerec.cli.commands.evaluate import print_folder_report

    print_folder_report(public_report(report))
    out = capsys.readouterr().out
    assert "top-1 accuracy      1.0000" in out and "open-set FAR        0.0000" in out


def test_open_set_far_depends_on_the_threshold(labelled_folder, embedded, dlib_pipeline):
    """Why the open-set FAR is worth measuring: at 0.18 (dlib's 0.6 Euclidean tolerance converted as if its
    descriptors were unit length) the stranger is taken for someone; at the default it is unknown."""
    loose = evaluate_folder(labelled_folder, dlib_pipeline, k=2, matcher="nn", threshold=0.18, seed=3,
                               embed_one=lambda p: embedded(p)[1])
    assert loose["open_set_far"] == 1.0 and loose["top1_accuracy"] == 1.0
    assert loose["mistakes"][0]["true"] == UNKNOWN and loose["mistakes"][0]["predicted"] in ENROLLED_PEOPLE
    default = evaluate_folder(labelled_folder, dlib_pipeline, k=2, matcher="nn", seed=3,
                                 embed_one=lambda p: embedded(p)[1])
    # the default follows the number of enrolled photos (k = 2 of each enrolled person)
    assert default["threshold"] == identify_threshold(dlib_pipeline.embedding_id, default["n_enrolled_photos"])
    assert default["open_set_far"] == 0.0 and default["top1_accuracy"] == 1.0


@pytest.mark.parametrize("matcher", ["svm", "logreg", "head"])
def test_other_matchers_on_the_labelled_folder(matcher, labelled_folder, embedded, dlib_pipeline):
    report = evaluate_folder(labelled_folder, dlib_pipeline, k=2, matcher=matcher, threshold=0.1, seed=3,
                                embed_one=lambda p: embedded(p)[1])
    assert report["top1_accuracy"] == 1.0 and report["open_set_far"] == 0.0


def test_unknown_fraction_holds_out_enrolled_people(labelled_folder, embedded, dlib_pipeline):
    report = evaluate_folder(labelled_folder, dlib_pipeline, k=2, unknown_fraction=0.34, threshold=0.1, seed=1,
                                embed_one=lambda p: embedded(p)[1])
    assert report["n_enrolled_people"] == 2 and report["n_impostor_people"] == 2
    assert report["n_impostor_probes"] == 5 and report["open_set_far"] == 0.0


def test_split_is_deterministic_and_keeps_few_photo_people_as_impostors():
    photos = {f"P{i}": [Path(f"P{i}/{j}.jpg") for j in range(i + 1)] for i in range(6)}  # P0 has 1 photo ... P5 has 6
    a = split_people(photos, k=2, unknown_fraction=0.25, seed=7)
    b = split_people(photos, k=2, unknown_fraction=0.25, seed=7)
    assert a == b
    assert {"P0", "P1"} <= set(a.impostors)  # <= k photos: cannot be enrolled and probed
    assert len(a.enrolled) == 3 and len(a.impostors) == 3  # and a quarter of P2..P5 held out
    assert all(a.probes[name] and set(a.probes[name]).isdisjoint(a.enrolled[name]) for name in a.enrolled)
    assert all(len(v) == 2 for v in a.enrolled.values())
    with pytest.raises(FacerecError, match="more than k=9"):
        split_people(photos, k=9)


@pytest.fixture(scope="module")
def lfw_folder(tmp_path_factory) -> Path:
    """LFW layout <root>/<name>/<name>_<iiii>.jpg; Angelina_Jolie_0005 is a photo without a face."""
    root = tmp_path_factory.mktemp("lfw")
    for name, photos in person_photos().items():
        (root / name).mkdir()
        for i, p in enumerate(photos, start=1):
            shutil.copy(p, lfw_image_path(root, name, i))
    shutil.copy(NO_FACE, lfw_image_path(root, "Angelina_Jolie", 5))
    return root


LFW_PAIRS = """2\t3
Angelina_Jolie\t1\t2
deepface_id03\t1\t2
deepface_id05\t1\t2
Angelina_Jolie\t1\tdeepface_id03\t1
deepface_id03\t2\tdeepface_id05\t2
deepface_id05\t3\tdeepface_id13\t1
Angelina_Jolie\t3\t5
deepface_id03\t3\t4
deepface_id05\t3\t4
Angelina_Jolie\t4\tdeepface_id05\t4
deepface_id03\t4\tdeepface_id13\t1
Angelina_Jolie\t2\tdeepface_id03\t3
"""


def test_lfw_pairs_over_real_photos(lfw_folder, embedded, tmp_path):
    pairs = tmp_path / "pairs.txt"
    pairs.write_text(LFW_PAIRS)
    report = evaluate_pairs(lfw_folder, pairs, embed_one=lambda p: embedded(p)[1])
    assert (report["n_pairs"], report["n_same"], report["n_different"]) == (12, 6, 6)
    assert report["n_images"] == 14 and report["n_failed_images"] == 1 and report["n_failed_pairs"] == 1
    assert list(report["failed_images"]) == [str(lfw_image_path(lfw_folder, "Angelina_Jolie", 5))]
    distances, same = report["_distances"], report["_same"]
    assert distances[6] == FAILED_PAIR_DISTANCE  # the same-person pair with the faceless photo
    assert np.all(distances[same][np.arange(6) != 3] < 0.1) and np.all(distances[~same] > 0.1)
    cv = report["cross_validation"]
    assert len(cv["fold_accuracies"]) == 2  # the header's two folds
    assert cv["accuracy"] == pytest.approx(11 / 12)  # only the failed pair is wrong
    assert report["auc"] == pytest.approx(30 / 36)  # the failed pair ranks below all 6 different pairs


def test_evaluate_command_with_pairs_writes_plots(lfw_folder, tmp_path, capsys):
    from PIL import Image

    from facerec.cli.main import main

    pairs = tmp_path / "small_pairs.txt"  # no header: folds are made up, stratified
    pairs.write_text("deepface_id03 1 2\ndeepface_id05 1 2\n"
                     "deepface_id03 1 deepface_id05 1\ndeepface_id05 2 deepface_id13 1\n")
    plots = tmp_path / "plots"
    assert main(["evaluate", str(lfw_folder), "--pairs", str(pairs), "--plot", str(plots), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["n_failed_images"] == 0 and report["auc"] == 1.0
    assert report["cross_validation"]["accuracy"] == 1.0
    for name in ("roc.png", "scores.png"):
        with Image.open(plots / name) as image:
            image.verify()
            assert image.format == "PNG"
    assert sorted(report["plots"]) == sorted(str(plots / n) for n in ("roc.png", "scores.png"))


def test_plots_from_synthetic_scores_open_with_pil(tmp_path):
    from PIL import Image

    written = write_plots(DIST, SAME, 0.225, tmp_path)
    assert [p.name for p in written] == ["roc.png", "scores.png"]
    for p in written:
        with Image.open(p) as image:
            assert image.size[0] > 100 and image.size[1] > 100


# ----------------------------------------------------------------------------------- calibration


def build_gallery(path: Path, embedded, people: list[str]):
    from facerec.files.atomic import file_sha256
    from facerec.gallery.store import Gallery

    gallery = Gallery(path)
    for name in people:
        for photo in person_photos()[name]:
            face, vector = embedded(photo)
            stat = photo.stat()
            gallery.record_photo(name, photo, file_sha256(photo), stat.st_mtime, stat.st_size, "ok",
                                 embedding_id=KEY, face=face, embedding=vector)
    return gallery


def test_calibrate_on_a_real_gallery_and_from_the_command_line(embedded, tmp_path, capsys):
    from facerec.cli.main import main

    with build_gallery(tmp_path / "g.sqlite", embedded, ENROLLED_PEOPLE) as gallery:
        result = calibrate(gallery, KEY, target_far=1e-2)
    assert (result["n_people"], result["n_faces"], result["n_genuine"], result["n_impostor"]) == (3, 12, 18, 48)
    assert result["far"] == 0.0 and result["frr"] == 0.0 and 0.04 < result["threshold"] < 0.12

    assert main(["calibrate", "--gallery", str(tmp_path / "g.sqlite"), "--far", "1e-2", "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["threshold"] == pytest.approx(result["threshold"]) and printed["backbone"] == KEY
    assert printed["identify_threshold"] == printed["default_threshold"] == identify_threshold(KEY, 12)
    assert main(["calibrate", "--gallery", str(tmp_path / "g.sqlite")]) == 0
    out = capsys.readouterr().out
    assert "suggested threshold" in out
    assert f"identify's threshold for this gallery (12 faces): {identify_threshold(KEY, 12):.4f} (gallery size" in out


def test_calibrate_needs_two_people(embedded, tmp_path, capsys):
    from facerec.cli.main import main

    build_gallery(tmp_path / "one.sqlite", embedded, ["deepface_id05"]).close()
    assert main(["calibrate", "--gallery", str(tmp_path / "one.sqlite")]) == 1
    assert "at least 2 enrolled people" in capsys.readouterr().err
