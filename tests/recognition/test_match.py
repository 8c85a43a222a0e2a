"""Matchers on embeddings: exact cosine arithmetic, open-set decisions, aggregation, classifiers' unknown gate.

The vectors here are constructed so every similarity is known in advance; test_identify.py runs the
same matchers on real dlib embeddings of real photos.
"""
from __future__ import annotations

import numpy as np
import pytest
from sklearn.base import clone

from facerec.errors import GalleryError, MissingExtraError
from facerec.gallery.store import Gallery
from facerec.recognition.match import (
    ClassifierMatcher,
    NearestNeighbourMatcher,
    SimilarityIndex,
    make_matcher,
    matcher_from_gallery,
)
from facerec.thresholds import identify_threshold, threshold_for
from facerec.types import UNKNOWN, Face


def at_angle(base: np.ndarray, other: np.ndarray, cos: float) -> np.ndarray:
    """Unit vector with cosine `cos` to unit `base`, in the plane of base and other."""
    ortho = other - (other @ base) * base
    ortho /= np.linalg.norm(ortho)
    return (cos * base + np.sqrt(1 - cos**2) * ortho).astype(np.float32)


@pytest.fixture(scope="module")
def axes() -> np.ndarray:
    return np.eye(16, dtype=np.float32)


def test_nearest_neighbour_distance_is_exact_cosine_and_threshold_is_open_set(axes):
    X = np.stack([axes[0], axes[1]])
    m = NearestNeighbourMatcher(threshold=0.2).fit(X, ["Alice", "Bob"])
    queries = np.stack([at_angle(axes[0], axes[5], 0.9), at_angle(axes[1], axes[5], 0.7), axes[7]])
    ids = m.predict_identities(queries)
    assert [i.name for i in ids] == ["Alice", UNKNOWN, UNKNOWN]
    # score: the match confidence, 1 - 0.33 * distance / threshold (0.835 at half the threshold); 0 for unknown
    assert ids[0].score == pytest.approx(0.835, abs=1e-6) and ids[0].distance == pytest.approx(0.1, abs=1e-6)
    assert ids[1].score == 0.0 and ids[2].score == 0.0 and ids[0].probability is None
    assert ids[1].distance == pytest.approx(0.3, abs=1e-6) and ids[1].extra == {"nearest": "Bob"}
    assert list(m.predict(queries)) == ["Alice", UNKNOWN, UNKNOWN]
    # a looser threshold lets Bob's face through
    assert NearestNeighbourMatcher(threshold=0.35).fit(X, ["Alice", "Bob"]).predict(queries[1:2])[0] == "Bob"


def test_inputs_need_not_be_unit_length(axes):
    m = NearestNeighbourMatcher(threshold=0.1).fit(np.stack([3 * axes[0], 0.5 * axes[1]]), ["A", "B"])
    assert m.predict_identities(7 * axes[1:2])[0].distance == pytest.approx(0.0, abs=1e-6)


def test_default_threshold_comes_from_the_backbone_and_the_gallery_size(axes):
    X, y = np.stack([axes[0], axes[1]]), ["A", "B"]
    assert NearestNeighbourMatcher(backbone="dlib").fit(X, y).threshold_ == identify_threshold("dlib", 2)
    assert NearestNeighbourMatcher(backbone="resnet50").fit(X, y).threshold_ == threshold_for("resnet50", "identify")
    # every enrolled sample counts: 16 samples of 2 people get the threshold of 16, stricter than 2's
    X16, y16 = axes, ["A"] * 8 + ["B"] * 8
    for kind in ("nn", "svm", "logreg"):
        fitted = make_matcher(kind, backbone="dlib").fit(X16, y16)
        assert fitted.threshold_ == identify_threshold("dlib", 16) < identify_threshold("dlib", 2), kind


def test_an_explicit_threshold_is_fixed_whatever_the_gallery(axes):
    for n in (2, 16):
        X, y = axes[:n], [f"P{i}" for i in range(n)]
        assert NearestNeighbourMatcher(threshold=0.05, backbone="dlib").fit(X, y).threshold_ == 0.05
        assert make_matcher("svm", backbone="dlib", threshold=0.2).fit(X, y).threshold_ == 0.2


def test_aggregation_changes_the_answer_as_designed(axes):
    # Alice: one sample very close to the query and one far; Bob: two samples fairly close.
    q = axes[0]
    X = np.stack([at_angle(q, axes[1], 0.95), at_angle(q, axes[2], 0.0), at_angle(q, axes[3], 0.8), at_angle(q, axes[4], 0.8)])
    y = ["Alice", "Alice", "Bob", "Bob"]
    best = {agg: NearestNeighbourMatcher(threshold=1.0, aggregate=agg).fit(X, y).predict_identities(q[None])[0]
            for agg in ("max", "mean", "centroid")}
    assert best["max"].name == "Alice" and best["max"].distance == pytest.approx(0.05, abs=1e-6)
    assert best["mean"].name == "Bob" and best["mean"].distance == pytest.approx(0.2, abs=1e-6)
    assert best["centroid"].name == "Bob"
    scores = NearestNeighbourMatcher(aggregate="mean").fit(X, y).decision_function(q[None])
    assert scores.shape == (1, 2) and scores[0] == pytest.approx([0.475, 0.8], abs=1e-6)
    proba = NearestNeighbourMatcher().fit(X, y).predict_proba(q[None])
    assert proba.shape == (1, 2) and proba.sum() == pytest.approx(1.0) and proba[0, 0] > proba[0, 1]


def clustered(rng, n_people=3, per_person=4, d=32, spread=0.15):
    centres = rng.normal(size=(n_people, d))
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    X = np.concatenate([c + spread * rng.normal(size=(per_person, d)) / np.sqrt(d) for c in centres])
    names = [f"person{i}" for i in range(n_people) for _ in range(per_person)]
    return centres, X.astype(np.float32), names


@pytest.mark.parametrize("kind", ["svm", "logreg"])
def test_classifiers_name_enrolled_people_and_gate_strangers(kind):
    rng = np.random.default_rng(0)
    centres, X, y = clustered(rng)
    m = ClassifierMatcher(kind=kind, threshold=0.3).fit(X, y)
    near = centres + 0.1 * rng.normal(size=centres.shape) / np.sqrt(centres.shape[1])
    assert list(m.predict(near)) == ["person0", "person1", "person2"]
    stranger = rng.normal(size=(1, X.shape[1]))  # far from everyone: a bare classifier would still name someone
    assert m.model_.predict(stranger / np.linalg.norm(stranger))[0] in (0, 1, 2)
    ident = m.predict_identities(stranger)[0]
    assert ident.name == UNKNOWN and ident.distance > 0.3 and ident.extra["nearest"].startswith("person")
    proba = m.predict_proba(near)
    assert proba.shape == (3, 3) and np.allclose(proba.sum(axis=1), 1, atol=1e-5)
    # the probability gate alone can also refuse
    strict = ClassifierMatcher(kind=kind, threshold=2.0, min_probability=1.01).fit(X, y)
    assert set(strict.predict(near)) == {UNKNOWN}


def test_match_confidence_is_067_at_the_threshold_1_at_zero_and_monotone():
    from facerec.vectors import CONFIDENCE_AT_THRESHOLD, match_confidence

    for threshold in (0.0564, 0.0858, 0.3):
        assert match_confidence(threshold, threshold) == pytest.approx(CONFIDENCE_AT_THRESHOLD, abs=1e-12) == 0.67
        assert match_confidence(0.0, threshold) == 1.0 and match_confidence(2.0, threshold) == 0.0
        values = [match_confidence(d, threshold) for d in np.linspace(0, 2, 401)]
        assert all(a >= b for a, b in zip(values, values[1:])) and all(0 <= v <= 1 for v in values)
    assert match_confidence(None, 0.1) == 0.0


@pytest.mark.parametrize("kind", ["nn", "svm", "logreg"])
def test_every_matcher_scores_with_the_match_confidence(kind):
    """The same score for every matcher: the match confidence of the distance under the matcher's threshold,
    0 for unknown; a classifier's class probability is its own field."""
    from facerec.vectors import match_confidence

    rng = np.random.default_rng(3)
    centres, X, y = clustered(rng)
    m = make_matcher(kind, threshold=0.3).fit(X, y)
    queries = np.concatenate([centres + 0.1 * rng.normal(size=centres.shape) / np.sqrt(centres.shape[1]),
                              rng.normal(size=(2, X.shape[1]))])
    ids = m.predict_identities(queries)
    assert [i.name for i in ids[:3]] == ["person0", "person1", "person2"] and {i.name for i in ids[3:]} == {UNKNOWN}
    for ident in ids[:3]:
        assert ident.score == pytest.approx(match_confidence(ident.distance, 0.3)) and 0.67 <= ident.score <= 1
    assert all(i.score == 0.0 for i in ids[3:])
    if kind == "nn":
        assert all(i.probability is None for i in ids)
    else:
        assert all(0 <= i.probability <= 1 for i in ids)


def test_classifier_with_one_person_or_one_photo_each():
    rng = np.random.default_rng(1)
    centres, X, y = clustered(rng, n_people=1)
    only = ClassifierMatcher(threshold=0.3).fit(X, y)
    assert list(only.predict(centres)) == ["person0"]
    centres, X, y = clustered(rng, n_people=3, per_person=1)
    single = ClassifierMatcher(kind="svm", threshold=0.3).fit(X, y)  # too few to calibrate: margins softmax
    assert list(single.predict(centres)) == ["person0", "person1", "person2"]


def test_estimator_protocol_and_input_checks(axes):
    m = make_matcher("nn", backbone="dlib", threshold=0.1, aggregate="mean")
    assert isinstance(m, NearestNeighbourMatcher) and clone(m).get_params()["aggregate"] == "mean"
    assert isinstance(make_matcher("logreg"), ClassifierMatcher)
    with pytest.raises(ValueError):
        make_matcher("knn")
    with pytest.raises(ValueError, match="reserved"):
        NearestNeighbourMatcher().fit(axes[:2], ["A", UNKNOWN])
    with pytest.raises(ValueError):
        NearestNeighbourMatcher().fit(np.zeros((0, 16)), [])
    with pytest.raises(ValueError):
        NearestNeighbourMatcher(aggregate="median").fit(axes[:2], ["A", "B"])
    assert NearestNeighbourMatcher().fit(axes[:2], ["A", "B"]).predict_identities(np.zeros((0, 16))) == []


def test_similarity_index_numpy_top_k_equals_a_full_sort():
    rng = np.random.default_rng(2)
    X, Q = rng.normal(size=(500, 64)), rng.normal(size=(7, 64))
    index = SimilarityIndex(X, use_faiss=False)
    sims, idx = index.search(Q, k=5)
    Xn, Qn = X / np.linalg.norm(X, axis=1, keepdims=True), Q / np.linalg.norm(Q, axis=1, keepdims=True)
    full = Qn @ Xn.T
    assert index.backend == "numpy"
    assert np.array_equal(idx, np.argsort(-full, axis=1)[:, :5])
    assert np.allclose(sims, np.take_along_axis(full, idx, axis=1), atol=1e-5)
    assert index.search(Q, k=1000)[1].shape == (7, 500)  # k larger than the gallery


def test_faiss_is_an_optional_extra():
    try:
        import faiss  # noqa: F401
    except ImportError:
        with pytest.raises(MissingExtraError, match="faiss"):
            SimilarityIndex(np.eye(4), use_faiss=True)
        assert SimilarityIndex(np.eye(4)).backend == "numpy"
    else:
        index = SimilarityIndex(np.eye(4), use_faiss=True)
        assert index.backend == "faiss" and index.search(np.eye(4)[1:2])[1][0, 0] == 1


def test_matcher_from_gallery(tmp_path, axes):
    with Gallery(tmp_path / "g.sqlite") as g:
        with pytest.raises(GalleryError, match="enroll"):
            matcher_from_gallery(g, "nn", "dlib")
        face = Face((0, 0, 50, 50), 0.99, ((10, 10), (40, 10), (25, 25), (15, 40), (35, 40)))
        g.record_photo("Alice", "/p/a.jpg", "a", None, None, "ok", "", "dlib", face, axes[0])
        g.record_photo("Bob", "/p/b.jpg", "b", None, None, "ok", "", "dlib", face, axes[1])
        for kind in ("nn", "svm", "logreg"):
            m = matcher_from_gallery(g, kind, "dlib")
            assert list(m.predict(np.stack([axes[1], axes[0], axes[9]]))) == ["Bob", "Alice", UNKNOWN], kind
        assert matcher_from_gallery(g, "nn", "dlib").threshold_ == identify_threshold("dlib", 2)
        g.record_photo("Carol", "/p/c.jpg", "c", None, None, "ok", "", "dlib", face, axes[2])
        g.record_photo("Carol", "/p/c2.jpg", "c2", None, None, "ok", "", "dlib", face, axes[3])
        refitted = matcher_from_gallery(g, "nn", "dlib")  # a sample more is a comparison more for each stranger
        assert refitted.threshold_ == identify_threshold("dlib", 4) < identify_threshold("dlib", 2)
        assert matcher_from_gallery(g, "nn", "dlib", threshold=0.3).threshold_ == 0.3


def test_one_name_per_photo_keeps_the_closest_face():
    from facerec.recognition.match import one_name_per_photo
    from facerec.types import Identity

    faces = [Identity("Ann", 0.95, 0.05), Identity("Bob", 0.93, 0.07), Identity("Ann", 0.97, 0.03),
             Identity(UNKNOWN, 0.5, 0.5)]
    out = one_name_per_photo(faces)
    assert [i.name for i in out] == [UNKNOWN, "Bob", "Ann", UNKNOWN]
    assert out[0].extra["nearest"] == "Ann"
    assert one_name_per_photo([]) == []
