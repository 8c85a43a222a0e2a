"""Matchers: who is this embedding? Open-set, so "nobody enrolled" is always a possible answer.

Both matchers have the scikit-learn estimator shape (`fit(X, y)`, `predict(X)`, `predict_proba(X)`,
`decision_function(X)`) and add `predict_identities(X) -> list[Identity]`, the form the CLI uses.
`predict` returns `facerec.types.UNKNOWN` for faces that match nobody.

- `NearestNeighbourMatcher`: cosine similarity to every enrolled sample, aggregated per person
  ('max': best sample, 'mean': average over samples, 'centroid': similarity to the person's mean
  vector). Unknown when the best person's cosine distance is above the threshold: the one given (fixed), else
  the backbone's identify threshold for the number of enrolled faces (`facerec.thresholds.identify_threshold`:
  a larger gallery gets a stricter threshold, so a stranger is named in at most 1 % of photos at any size).
- `ClassifierMatcher`: a linear SVM (calibrated) or logistic regression trained on the embeddings.
  A classifier always names one of the classes it knows, so a face is also unknown when the
  nearest enrolled sample of the predicted person is farther than the distance threshold, or when
  the top probability is below `min_probability`.

Matchers are cheap to fit, so they are fit from the gallery (`matcher_from_gallery`) whenever it changes
(facerec.recognition.recognizer.Recognizer) and never serialised.

The nearest enrolled face's distance against the gallery-size threshold is the whole decision: other uses of
one enrolled photo were measured alone on LFW View 1 and none helped on both halves at every gallery size
(`scripts/measure_one_photo.py`: the share of enrolled people's photos named right when 1 % of strangers'
photos are named, one photo per person, galleries of 5 / 20 / 100 people):

    DevTrain | DevTest                     5      20     100  |    5      20     100
    today: nearest face (with flip)      0.978  0.927  0.830  |  0.965  0.940  0.884
    without flip                         0.971  0.902  0.787  |  0.963  0.918  0.841   (the flip stays)
    enrolment jitter (dlib's, 10)        0.975  0.929  0.835  |  0.967  0.939  0.880
    AS-norm, the gallery's other people  0.190  0.476  0.660  |  0.218  0.556  0.739
    AS-norm, 1,000 unrelated faces       0.981  0.939  0.859  |  0.970  0.955  0.876
    margin: 0.01 closer than the second  0.977  0.926  0.842  |  0.964  0.938  0.887
    quality: small faces need closer     0.977  0.928  0.834  |  0.965  0.939  0.882
    quality: blurred faces need closer   0.976  0.925  0.823  |  0.965  0.939  0.877

Jitter and quality weighting move the figures by less than half a point either way (LFW's faces are all of a
similar size and sharpness, so quality is barely exercised here); the margin rule helps only galleries of 100;
AS-norm against the gallery's own people fails (the nearest of a few people always stands out, a stranger's
too); against unrelated faces (an album's unknown faces) it helps except at 100 people on DevTest (-0.7),
needs an album of strangers, and would need its own calibration to keep the stranger rate documented.
"""
from __future__ import annotations

from typing import Any, Protocol

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin

from facerec.vectors import l2_normalise
from facerec.errors import FacerecError, GalleryError, MissingExtraError
from facerec.thresholds import identify_threshold
from facerec.types import UNKNOWN, Identity
from facerec.recognition import AGGREGATES, MATCHER_KINDS

# Below this many enrolled samples numpy's matrix product is as fast as FAISS and exact.
FAISS_MIN_SAMPLES = 50_000


class IdentityPredictor(Protocol):
    def predict_identities(self, X: np.ndarray) -> list[Identity]: ...


# --------------------------------------------------------------------------- similarity search


def _faiss_module() -> Any | None:
    try:
        import faiss  # type: ignore[import-not-found]
    except ImportError:
        return None
    return faiss


class SimilarityIndex:
    """Top-k cosine similarity search over unit vectors.

    numpy (exact, `Q @ X.T`) by default; a FAISS IndexFlatIP (exact, multithreaded) when `faiss` is
    importable and there are at least FAISS_MIN_SAMPLES vectors, or when use_faiss=True.
    For millions of faces swap in faiss.IndexIVFFlat (approximate) here; nothing else changes.
    """

    def __init__(self, X: np.ndarray, use_faiss: bool | None = None):
        self.X = np.ascontiguousarray(l2_normalise(X))
        faiss = _faiss_module()
        if use_faiss and faiss is None:
            raise MissingExtraError("FAISS search needs the faiss extra: pip install 'facerec[faiss]'")
        if use_faiss is None:
            use_faiss = faiss is not None and len(self.X) >= FAISS_MIN_SAMPLES
        self.backend = "faiss" if use_faiss else "numpy"
        self._faiss_index = None
        if use_faiss:
            self._faiss_index = faiss.IndexFlatIP(self.X.shape[1])
            self._faiss_index.add(self.X)

    def __len__(self) -> int:
        return len(self.X)

    def search(self, Q: np.ndarray, k: int = 1) -> tuple[np.ndarray, np.ndarray]:
        """(similarities, indices), each (m, k), best first."""
        Q = np.ascontiguousarray(l2_normalise(np.atleast_2d(Q)))
        k = min(k, len(self.X))
        if self._faiss_index is not None:
            sims, idx = self._faiss_index.search(Q, k)
            return sims, idx
        S = Q @ self.X.T
        idx = np.argpartition(-S, k - 1, axis=1)[:, :k] if k < S.shape[1] else np.tile(np.arange(S.shape[1]), (len(S), 1))
        part = np.take_along_axis(S, idx, axis=1)
        order = np.argsort(-part, axis=1, kind="stable")
        return np.take_along_axis(part, order, axis=1), np.take_along_axis(idx, order, axis=1)


# --------------------------------------------------------------------------- helpers


def _check_fit_input(X: np.ndarray, y: Any) -> tuple[np.ndarray, np.ndarray]:
    X = np.asarray(X, dtype=np.float32)
    y = np.asarray(y, dtype=object)
    if X.ndim != 2 or len(X) == 0:
        raise ValueError("fit needs a non-empty (n, d) matrix of embeddings")
    if len(y) != len(X):
        raise ValueError(f"{len(X)} embeddings but {len(y)} names")
    if UNKNOWN in set(y):
        raise ValueError(f"{UNKNOWN!r} is reserved and cannot be an enrolled name")
    return l2_normalise(X), y


def _begin_fit(matcher: Any, X: np.ndarray, y: Any) -> np.ndarray:
    """What every matcher's fit starts with: checked unit rows, classes, labels, the open-set threshold."""
    X, y = _check_fit_input(X, y)
    matcher.classes_, matcher.labels_ = np.unique(y, return_inverse=True)
    matcher.threshold_ = gallery_threshold(matcher.threshold, matcher.backbone, len(X))
    matcher.n_features_in_ = X.shape[1]
    return X


def gallery_threshold(threshold: float | None, backbone: str | None, n_samples: int) -> float:
    """The distance a matcher fitted on `n_samples` enrolled faces decides `unknown` on: the caller's threshold
    as given (a fixed value per comparison: the user's word wins), else the backbone's identify threshold for a
    gallery of that size (facerec.thresholds.identify_threshold: strangers stay strangers as the gallery grows)."""
    return float(threshold) if threshold is not None else identify_threshold(backbone or "", n_samples)


def _softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def _per_class_max(S: np.ndarray, labels: np.ndarray, n_classes: int) -> np.ndarray:
    """(m, n) sample similarities -> (m, n_classes) best similarity per class."""
    out = np.full((S.shape[0], n_classes), -np.inf, dtype=np.float32)
    for c in range(n_classes):
        out[:, c] = S[:, labels == c].max(axis=1)
    return out


# --------------------------------------------------------------------------- nearest neighbour


class NearestNeighbourMatcher(ClassifierMixin, BaseEstimator):
    """Open-set nearest-neighbour matching on cosine similarity.

    threshold: cosine distance above which a face is `unknown` (None: identify_threshold(backbone, samples)).
    aggregate: 'max' (best sample per person, the default), 'mean' or 'centroid'.
    """

    def __init__(self, threshold: float | None = None, backbone: str | None = None, aggregate: str = "max"):
        self.threshold = threshold
        self.backbone = backbone
        self.aggregate = aggregate

    def fit(self, X: np.ndarray, y: Any) -> "NearestNeighbourMatcher":
        if self.aggregate not in AGGREGATES:
            raise ValueError(f"aggregate must be one of {AGGREGATES}, not {self.aggregate!r}")
        X = _begin_fit(self, X, y)
        if self.aggregate == "centroid":
            centroids = np.stack([X[self.labels_ == c].mean(axis=0) for c in range(len(self.classes_))])
            self.index_ = SimilarityIndex(centroids)
            self.index_labels_ = np.arange(len(self.classes_))
        else:
            self.index_ = SimilarityIndex(X)
            self.index_labels_ = self.labels_
        return self

    def decision_function(self, X: np.ndarray) -> np.ndarray:
        """(m, n_people) cosine similarity of each face to each enrolled person, in classes_ order."""
        Q = l2_normalise(np.atleast_2d(X))
        S = Q @ self.index_.X.T
        n = len(self.classes_)
        if self.aggregate == "mean":
            counts = np.bincount(self.labels_, minlength=n).astype(np.float32)
            sums = np.zeros((len(Q), n), dtype=np.float32)
            np.add.at(sums.T, self.labels_, S.T)
            return sums / counts
        return _per_class_max(S, self.index_labels_, n)

    def predict_proba(self, X: np.ndarray, temperature: float = 0.05) -> np.ndarray:
        """Softmax of the per-person similarities. A convenience for code that wants probabilities:
        it is not calibrated and has no 'unknown' column (use predict for open-set answers)."""
        return _softmax(self.decision_function(X) / temperature)

    def _best(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Best person index and its aggregated similarity for each face."""
        if self.aggregate == "mean":
            scores = self.decision_function(X)
            best = scores.argmax(axis=1)
            return best, scores[np.arange(len(best)), best]
        sims, idx = self.index_.search(np.atleast_2d(X), k=1)  # max and centroid: the top hit decides
        return self.index_labels_[idx[:, 0]], sims[:, 0]

    def predict_identities(self, X: np.ndarray) -> list[Identity]:
        X = np.atleast_2d(np.asarray(X, dtype=np.float32))
        if len(X) == 0:
            return []
        best, sims = self._best(X)
        out = []
        for c, sim in zip(best, sims):
            nearest = str(self.classes_[c])
            distance = float(1.0 - sim)
            out.append(Identity.decided(nearest, distance <= self.threshold_, distance, self.threshold_))
        return out

    def predict(self, X: np.ndarray) -> np.ndarray:
        return np.array([i.name for i in self.predict_identities(X)], dtype=object)


# --------------------------------------------------------------------------- classifiers


class ClassifierMatcher(ClassifierMixin, BaseEstimator):
    """A classifier on embeddings, made open-set by two gates.

    kind: 'svm' (linear SVC with sigmoid calibration) or 'logreg' (multinomial logistic regression).
    threshold: cosine distance gate on the nearest enrolled sample of the predicted person
               (None: identify_threshold(backbone, samples)).
    min_probability: unknown when the top probability is lower (None: 0.0, i.e. the distance gate alone;
                     class probabilities from a few samples per person are rough).
    C: inverse regularisation; unit-length embeddings sit close together, so it is much larger than
       scikit-learn's default or every probability comes out near 1 / n_people.
    """

    def __init__(self, kind: str = "svm", threshold: float | None = None, min_probability: float | None = None,
                 backbone: str | None = None, C: float = 100.0):
        self.kind = kind
        self.threshold = threshold
        self.min_probability = min_probability
        self.backbone = backbone
        self.C = C

    def fit(self, X: np.ndarray, y: Any) -> "ClassifierMatcher":
        if self.kind not in ("svm", "logreg"):
            raise ValueError(f"kind must be 'svm' or 'logreg', not {self.kind!r}")
        X = _begin_fit(self, X, y)
        self.min_probability_ = float(self.min_probability or 0.0)
        self.X_ = X
        self.model_ = self._make_model(np.bincount(self.labels_).min()) if len(self.classes_) > 1 else None
        if self.model_ is not None:
            self.model_.fit(X, self.labels_)
        return self

    def _make_model(self, smallest_class: int) -> Any:
        if self.kind == "logreg":
            from sklearn.linear_model import LogisticRegression

            return LogisticRegression(C=self.C, max_iter=2000)
        from sklearn.calibration import CalibratedClassifierCV
        from sklearn.svm import SVC

        svc = SVC(kernel="linear", C=self.C)
        if smallest_class < 2:
            return svc  # too few samples to calibrate: predict_proba falls back to a softmax of the margins
        return CalibratedClassifierCV(svc, cv=min(3, int(smallest_class)), ensemble=False)

    def decision_function(self, X: np.ndarray) -> np.ndarray:
        return self.predict_proba(X)

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        """(m, n_people) class probabilities in classes_ order (no 'unknown' column)."""
        Q = l2_normalise(np.atleast_2d(X))
        if self.model_ is None:
            return np.ones((len(Q), 1), dtype=np.float32)
        if hasattr(self.model_, "predict_proba"):
            return np.asarray(self.model_.predict_proba(Q), dtype=np.float32)
        margins = np.asarray(self.model_.decision_function(Q), dtype=np.float32)
        if margins.ndim == 1:  # binary SVC: one margin for class 1
            margins = np.stack([-margins, margins], axis=1)
        return _softmax(margins)

    def predict_identities(self, X: np.ndarray) -> list[Identity]:
        X = np.atleast_2d(np.asarray(X, dtype=np.float32))
        if len(X) == 0:
            return []
        Q = l2_normalise(X)
        proba = self.predict_proba(Q)
        best = proba.argmax(axis=1)
        S = Q @ self.X_.T
        out = []
        for i, c in enumerate(best):
            name = str(self.classes_[c])
            distance = float(1.0 - S[i, self.labels_ == c].max())
            p = float(proba[i, c])
            known = distance <= self.threshold_ and p >= self.min_probability_
            out.append(Identity.decided(name, known, distance, self.threshold_, probability=p))
        return out

    def predict(self, X: np.ndarray) -> np.ndarray:
        return np.array([i.name for i in self.predict_identities(X)], dtype=object)


# --------------------------------------------------------------------------- one photo


def name_photo_faces(matcher: Any, X: np.ndarray) -> list[Identity]:
    """The faces of ONE photo or frame named by `matcher` (None: nobody enrolled, every face unknown), each
    person at most once."""
    if len(X) == 0:
        return []
    if matcher is None:
        return [Identity(UNKNOWN, 0.0) for _ in range(len(X))]
    return one_name_per_photo(matcher.predict_identities(np.atleast_2d(X)))


def one_name_per_photo(identities: list[Identity]) -> list[Identity]:
    """The faces of one photo, each name given at most once: a person is in a photo only once, so when two
    faces get the same name the closest keeps it and the others become unknown (their nearest name kept)."""
    best: dict[str, int] = {}
    for i, ident in enumerate(identities):
        if ident.name == UNKNOWN:
            continue
        j = best.get(ident.name)
        if j is None or _closer(ident, identities[j]):
            best[ident.name] = i
    out = []
    for i, ident in enumerate(identities):
        if ident.name == UNKNOWN or best[ident.name] == i:
            out.append(ident)
        else:
            out.append(Identity(UNKNOWN, 0.0, ident.distance,
                                {**ident.extra, "nearest": ident.name, "reason": "name taken by a closer face"},
                                ident.probability))
    return out


def _closer(a: Identity, b: Identity) -> bool:
    if a.distance is not None and b.distance is not None and a.distance != b.distance:
        return a.distance < b.distance
    return a.score > b.score


# --------------------------------------------------------------------------- construction


def make_matcher(kind: str = "nn", backbone: str | None = None, threshold: float | None = None,
                 aggregate: str = "max", min_probability: float | None = None, seed: int = 0) -> Any:
    """An unfitted matcher: 'nn', 'svm', 'logreg' or 'head' (a new transfer-learning head, trained by fit).
    `threshold` is always a cosine distance. The one place matchers are made: the Recognizer fits it on the
    gallery, the evaluation on its enrolment split."""
    if kind == "nn":
        return NearestNeighbourMatcher(threshold=threshold, backbone=backbone, aggregate=aggregate)
    if kind in ("svm", "logreg"):
        return ClassifierMatcher(kind=kind, threshold=threshold, min_probability=min_probability, backbone=backbone)
    if kind == "head":
        from facerec.heads.head import FaceHead

        from facerec.backbones import DEFAULT_BACKBONE

        return FaceHead(backbone=backbone or DEFAULT_BACKBONE, max_distance=threshold, seed=seed)
    raise ValueError(f"unknown matcher {kind!r}; choose one of {', '.join(MATCHER_KINDS)}")


class NobodyEnrolled(GalleryError):
    """The gallery holds no embeddings of this recipe; `why` is the message without the advice."""

    def __init__(self, why: str, backbone: str):
        super().__init__(f"{why}; run `facerec enroll PEOPLE_DIR --backbone {backbone}` first")
        self.why = why


def matcher_from_gallery(gallery: Any, kind: str, embedding: str, threshold: float | None = None,
                         **kwargs: Any) -> IdentityPredictor:
    """A matcher fitted on everyone enrolled in `gallery` for `embedding` (an embedding id), or for 'head' the
    head trained on this gallery (checked to name only people it holds). NobodyEnrolled when nobody is."""
    if kind == "head":
        return head_from_gallery(gallery, embedding)
    X, names, _ = gallery.embeddings(embedding)
    if len(X) == 0:
        from facerec.backbones import backbone_of

        raise NobodyEnrolled(f"nobody is enrolled for backbone {embedding} in {gallery.path}", backbone_of(embedding))
    return make_matcher(kind, backbone=embedding, threshold=threshold, **kwargs).fit(X, names)


def head_from_gallery(gallery: Any, embedding: str) -> IdentityPredictor:
    """The head trained on `gallery` for `embedding` (an embedding id), checked to name only people it holds."""
    try:
        from facerec.heads.head import load_gallery_head
    except ImportError as e:
        raise MissingExtraError(f"the 'head' matcher needs facerec.heads.head, which is not available here ({e})") from e
    try:
        return load_gallery_head(gallery, embedding)
    except FacerecError:
        raise
    except FileNotFoundError as e:
        raise MissingExtraError(f"no trained head for {embedding}: run `facerec train` first ({e})") from e
