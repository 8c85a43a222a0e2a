"""The transfer-learning head: a small Keras classifier on frozen embeddings (fit / predict / predict_proba),
open-set rules, and where a head is saved beside its gallery (see facerec.heads.train for the recipe)."""
from __future__ import annotations

import datetime as _dt
import json
import logging
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from facerec.backbones import DEFAULT_BACKBONE
from facerec.backbones.registry import entry
from facerec.heads.augment import ORIGINAL
from facerec.errors import FacerecError, MissingExtraError
from facerec.files.atomic import PRIVATE, atomic_save, atomic_write_text
from facerec.paths import head_dir
from facerec.types import UNKNOWN, Identity
from facerec.vectors import l2_normalise

log = logging.getLogger(__name__)


HEAD_FORMAT = "facerec-head"
HEAD_FORMAT_VERSION = 1
HEAD_FILENAME = "head.keras"
BASE_WEIGHTS_FILENAME = "base.weights.h5"
# Validation needs a few photos per person: with fewer, holding one out costs more than it measures.
MIN_PHOTOS_PER_PERSON_FOR_VALIDATION = 5


# --------------------------------------------------------------------------------------------------
# Where things live
# --------------------------------------------------------------------------------------------------


def gallery_head_path(gallery: str | Path, embedding: str) -> Path:
    """head.keras of the head trained on `gallery` for the embedding id `embedding`."""
    return head_dir(gallery, embedding) / HEAD_FILENAME


def _head_files(path: Path) -> tuple[Path, Path]:
    """(head.keras, head.json) for a .keras path or a folder holding them."""
    path = Path(path)
    if path.suffix != ".keras":
        path = path / HEAD_FILENAME
    return path, path.with_suffix(".json")


# --------------------------------------------------------------------------------------------------
# The head
# --------------------------------------------------------------------------------------------------


def keras_module():
    from facerec.device import quiet_tensorflow

    quiet_tensorflow()
    import keras

    return keras


def validation_split(labels: np.ndarray, groups: np.ndarray, fraction: float, seed: int,
                     min_photos: int = MIN_PHOTOS_PER_PERSON_FOR_VALIDATION) -> np.ndarray | None:
    """Boolean mask of validation rows, whole groups (photos) at a time, stratified by person;
    None when some person has fewer than `min_photos` photos."""
    if fraction <= 0:
        return None
    rng = np.random.default_rng(seed)
    mask = np.zeros(len(labels), dtype=bool)
    for c in np.unique(labels):
        person_groups = np.unique(groups[labels == c])
        if len(person_groups) < min_photos:
            return None
        n_val = max(1, int(round(fraction * len(person_groups))))
        chosen = rng.choice(person_groups, size=n_val, replace=False)
        mask |= (labels == c) & np.isin(groups, chosen)
    return mask


def train_with_early_stopping(model, x: np.ndarray, labels: np.ndarray, sample_weight: np.ndarray,
                              validation: tuple[np.ndarray, np.ndarray] | None, epochs: int, patience: int,
                              batch_size: int, learning_rate: float, seed: int = 0,
                              min_delta: float = 1e-3) -> dict[str, list[float]]:
    """Mini-batch Adam on a Keras model (softmax output, integer labels) with early stopping that restores
    the best weights; monitors the validation loss when there is validation data, else the training loss.

    A compiled TensorFlow step instead of `model.fit`: on a few hundred embeddings Keras' per-epoch
    overhead (iterators, callbacks, a separate evaluation pass) is 100x the actual work.
    """
    keras = keras_module()
    import tensorflow as tf

    optimizer = keras.optimizers.Adam(learning_rate)
    per_sample_loss = keras.losses.SparseCategoricalCrossentropy(reduction=None)
    variables = model.trainable_variables

    @tf.function(reduce_retracing=True, autograph=False)
    def step(xb, yb, wb):
        with tf.GradientTape() as tape:
            probs = model(xb, training=True)
            loss = tf.reduce_sum(per_sample_loss(yb, probs) * wb) / tf.reduce_sum(wb)
        optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables))
        return loss, probs

    @tf.function(reduce_retracing=True, autograph=False)
    def infer(xb):
        return model(xb, training=False)

    def evaluate(xs: np.ndarray, ys: np.ndarray) -> tuple[float, float]:
        probs = np.concatenate([np.asarray(infer(tf.constant(xs[i:i + batch_size])))
                                for i in range(0, len(xs), batch_size)])
        picked = np.clip(probs[np.arange(len(ys)), ys], 1e-7, 1.0)
        return float(-np.log(picked).mean()), float(np.mean(probs.argmax(axis=1) == ys))

    rng = np.random.default_rng(seed)
    history: dict[str, list[float]] = {"loss": [], "accuracy": [], "val_loss": [], "val_accuracy": []}
    best_value, best_weights, waited = np.inf, None, 0
    for _ in range(max(1, epochs)):
        order = rng.permutation(len(x))
        losses, correct, seen = [], 0, 0
        for start in range(0, len(order), batch_size):
            idx = order[start:start + batch_size]
            loss, probs = step(tf.constant(x[idx]), tf.constant(labels[idx]), tf.constant(sample_weight[idx]))
            losses.append(float(loss) * len(idx))
            correct += int(np.sum(np.asarray(probs).argmax(axis=1) == labels[idx]))
            seen += len(idx)
        history["loss"].append(sum(losses) / seen)
        history["accuracy"].append(correct / seen)
        if validation is not None:
            val_loss, val_accuracy = evaluate(*validation)
            history["val_loss"].append(val_loss)
            history["val_accuracy"].append(val_accuracy)
        value = history["val_loss" if validation is not None else "loss"][-1]
        if value < best_value - min_delta:
            best_value, best_weights, waited = value, model.get_weights(), 0
        else:
            waited += 1
            if waited >= patience:
                break
    if best_weights is not None:
        model.set_weights(best_weights)
    return {k: v for k, v in history.items() if v}


class FaceHead:
    """A softmax classifier over embeddings with an open-set gate (scikit-learn estimator shape).

    hidden: sizes of the hidden Dense(relu) layers (default one of 256), each followed by Dropout(dropout).
    min_probability: unknown when the top softmax probability is lower.
    max_distance: unknown when the cosine distance to the predicted person's training centroid is
                  larger (None: facerec.thresholds.threshold_for(backbone)).
    """

    def __init__(self, backbone: str = DEFAULT_BACKBONE, hidden: Sequence[int] = (256,), dropout: float = 0.5,
                 min_probability: float = 0.5, max_distance: float | None = None, epochs: int = 200,
                 batch_size: int = 32, learning_rate: float = 1e-3, patience: int = 15,
                 validation_fraction: float = 0.2, seed: int = 0, verbose: int = 0):
        self.backbone = backbone
        self.hidden = tuple(int(h) for h in hidden)
        self.dropout = dropout
        self.min_probability = min_probability
        self.max_distance = max_distance
        self.epochs = epochs
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.patience = patience
        self.validation_fraction = validation_fraction
        self.seed = seed
        self.verbose = verbose
        self.fine_tuned_blocks = 0
        self.base_weights_path: Path | None = None
        self._base_model = None
        self.gallery_: str | None = None  # the gallery it was trained on (train_from_gallery sets both)
        self.embedding_: str | None = None  # the embedding id of the gallery rows it learned from

    # ---- training

    def build_model(self, n_features: int, n_classes: int):
        keras = keras_module()
        inputs = keras.Input(shape=(n_features,), name="embedding")
        x = inputs
        for i, units in enumerate(self.hidden):
            x = keras.layers.Dense(units, activation="relu", name=f"head_dense_{i}")(x)
            x = keras.layers.Dropout(self.dropout, name=f"head_dropout_{i}")(x)
        outputs = keras.layers.Dense(n_classes, activation="softmax", name="head_softmax")(x)
        return keras.Model(inputs, outputs, name="facerec_head")

    def fit(self, X: np.ndarray, y: Sequence[str], groups: Sequence[Any] | None = None) -> "FaceHead":
        """Train on embeddings X (n, d) with person names y. `groups` (e.g. photo ids) keeps the augmented
        copies of one photo on the same side of the validation split; default: every row is its own photo."""
        keras = keras_module()
        X = l2_normalise(X)
        y = np.asarray([str(v) for v in y])
        if len(X) != len(y) or len(X) == 0:
            raise FacerecError("training needs one name per embedding, and at least one embedding")
        self.classes_ = sorted(set(y.tolist()))
        if len(self.classes_) < 2:
            raise FacerecError("a classifier head needs at least 2 enrolled people (it learns to tell them apart); "
                               "enroll more people, or use the nearest-neighbour matcher")
        labels = np.searchsorted(self.classes_, y)
        groups_arr = np.asarray(groups) if groups is not None else np.arange(len(X))
        self.n_features_in_ = X.shape[1]
        self.centroids_ = self._centroids(X, labels)
        self.max_distance_ = self._resolve_max_distance()
        self.min_probability_ = float(self.min_probability)
        keras.utils.set_random_seed(self.seed)  # reproducible heads (also seeds Python's and numpy's global RNGs)
        self.model_ = self.build_model(X.shape[1], len(self.classes_))
        self.metrics_ = self._train(self.model_, X, labels, groups_arr, self.epochs, self.patience)
        self.metrics_["n_samples"] = int(len(X))
        self.metrics_["n_photos"] = int(len(np.unique(groups_arr)))
        self.samples_per_class_ = {name: int(n) for name, n in zip(self.classes_, np.bincount(labels))}
        self.trained_at_ = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
        return self

    def _centroids(self, X: np.ndarray, labels: np.ndarray) -> np.ndarray:
        return l2_normalise(np.stack([X[labels == c].mean(axis=0) for c in range(len(self.classes_))]))

    def _resolve_max_distance(self) -> float:
        if self.max_distance is not None:
            return float(self.max_distance)
        from facerec.thresholds import threshold_for

        return float(threshold_for(self.backbone, "identify"))

    def _train(self, model, inputs: np.ndarray, labels: np.ndarray, groups: np.ndarray, epochs: int,
               patience: int, learning_rate: float | None = None) -> dict[str, Any]:
        """Fit with early stopping and balanced class weights; a validation split when there are enough photos."""
        from sklearn.utils.class_weight import compute_class_weight

        val = validation_split(labels, groups, self.validation_fraction, self.seed)
        train = ~val if val is not None else np.ones(len(labels), dtype=bool)
        present = np.unique(labels[train])
        weights = compute_class_weight("balanced", classes=present, y=labels[train])
        class_weight = dict(zip(present.tolist(), weights.tolist()))
        history = train_with_early_stopping(
            model, inputs[train], labels[train], np.array([class_weight[c] for c in labels[train]], dtype=np.float32),
            validation=(inputs[val], labels[val]) if val is not None else None,
            epochs=epochs, patience=patience, batch_size=self.batch_size,
            learning_rate=learning_rate or self.learning_rate, seed=self.seed,
        )
        monitor = "val_loss" if val is not None else "loss"
        best = int(np.argmin(history[monitor]))
        metrics: dict[str, Any] = {
            "epochs_run": len(history["loss"]), "best_epoch": best + 1, "monitor": monitor,
            "loss": history["loss"][best], "accuracy": history["accuracy"][best],
            "n_train": int(train.sum()), "n_validation": int(val.sum()) if val is not None else 0,
        }
        if val is not None:
            metrics["val_loss"] = history["val_loss"][best]
            metrics["val_accuracy"] = history["val_accuracy"][best]
        return metrics

    # ---- prediction

    def _check_fitted(self) -> None:
        if not hasattr(self, "model_"):
            raise FacerecError("this head is not trained yet: call fit() or load_head()")

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        """(n, n_people) softmax probabilities in classes_ order (no 'unknown' column)."""
        self._check_fitted()
        X = l2_normalise(X)
        if len(X) == 0:
            return np.zeros((0, len(self.classes_)), dtype=np.float32)
        if X.shape[1] != self.n_features_in_:
            raise FacerecError(f"this head was trained on {self.n_features_in_}-d {self.backbone} embeddings, "
                               f"got {X.shape[1]}-d ones: use --backbone {self.backbone} or train a new head")
        return np.asarray(self.model_.predict_on_batch(X), dtype=np.float32)

    def predict_identities(self, X: np.ndarray) -> list[Identity]:
        X = l2_normalise(X)
        if len(X) == 0:
            return []
        proba = self.predict_proba(X)
        best = proba.argmax(axis=1)
        distances = 1.0 - np.sum(X * self.centroids_[best], axis=1)
        out = []
        for c, p, d in zip(best, proba[np.arange(len(best)), best], distances):
            name = self.classes_[int(c)]
            known = p >= self.min_probability_ and d <= self.max_distance_
            extra = {} if known else {"reason": "low probability" if p < self.min_probability_ else "too far"}
            out.append(Identity.decided(name, known, float(d), self.max_distance_, probability=float(p), extra=extra))
        return out

    def predict(self, X: np.ndarray) -> np.ndarray:
        """Open-set names (UNKNOWN for faces that match nobody)."""
        return np.array([i.name for i in self.predict_identities(X)], dtype=object)

    def decision_key(self) -> str:
        """What decides this head's names (facerec.album.photos.decision_key): its classes, gates and weights, so that
        a head trained again to other weights re-identifies an album's photos."""
        import hashlib

        self._check_fitted()
        digest = hashlib.sha256(json.dumps([list(self.classes_), self.max_distance_, self.min_probability_,
                                            self.embedding_]).encode())
        for array in self.model_.get_weights():
            digest.update(np.ascontiguousarray(array).tobytes())
        return f"head {digest.hexdigest()[:16]}"

    # ---- fine-tuned base

    @property
    def fine_tuned(self) -> bool:
        return self.fine_tuned_blocks > 0

    def base_model(self):
        """The fine-tuned embedding network (Keras), loaded on first use."""
        if not self.fine_tuned:
            raise FacerecError("this head was trained on a frozen backbone: embed faces with the backbone itself")
        if self._base_model is None:
            model = entry(self.backbone).keras_base().model("random")
            model.load_weights(self.base_weights_path)
            self._base_model = model
        return self._base_model

    def embed_chips(self, chips: np.ndarray) -> np.ndarray:
        """Embeddings of aligned chips from the fine-tuned base (what predict_identities expects after fine-tuning)."""
        chips = np.asarray(chips)
        if len(chips) == 0:
            return np.zeros((0, self.n_features_in_), dtype=np.float32)
        return l2_normalise(self.base_model().predict_on_batch(entry(self.backbone).keras_base().preprocess(chips)))

    # ---- persistence

    def to_json(self) -> dict[str, Any]:
        self._check_fitted()
        return {
            "format": HEAD_FORMAT, "format_version": HEAD_FORMAT_VERSION,
            "backbone": self.backbone, "classes": list(self.classes_), "embedding_dim": int(self.n_features_in_),
            "hidden": list(self.hidden), "dropout": self.dropout,
            "min_probability": self.min_probability_, "max_distance": self.max_distance_,
            "threshold": self.max_distance_,
            "trained_at": self.trained_at_, "metrics": self.metrics_, "samples_per_class": self.samples_per_class_,
            "centroids": [[float(v) for v in row] for row in self.centroids_],
            "fine_tuned_blocks": self.fine_tuned_blocks,
            "base_weights": BASE_WEIGHTS_FILENAME if self.fine_tuned else None,
            "augmentations": getattr(self, "augmentations_", [ORIGINAL]),
            "seed": self.seed,
            "gallery": self.gallery_, "embedding": self.embedding_,
        }

    def save(self, path: Path | None = None) -> Path:
        """Write head.keras + head.json (and base.weights.h5 when fine-tuned), by default beside the gallery
        it was trained on; returns the .keras path."""
        self._check_fitted()
        if path is None:
            if self.gallery_ is None or self.embedding_ is None:
                raise FacerecError("this head was not trained from a gallery, so it has no default place: give a path")
            path = gallery_head_path(self.gallery_, self.embedding_)
        keras_path, json_path = _head_files(path)
        # atomic and private from the first byte: a crash never leaves half a head, nobody else reads it
        atomic_save(keras_path, self.model_.save)
        if self.fine_tuned:
            base_path = keras_path.parent / BASE_WEIGHTS_FILENAME
            if self._base_model is not None and (self.base_weights_path is None
                                                 or Path(self.base_weights_path).resolve() != base_path.resolve()):
                atomic_save(base_path, self._base_model.save_weights)
            self.base_weights_path = base_path
        atomic_write_text(json_path, json.dumps(self.to_json(), indent=1), mode=PRIVATE)  # holds face centroids
        return keras_path

    @classmethod
    def load(cls, path: Path) -> "FaceHead":
        keras_path, json_path = _head_files(path)
        if not keras_path.is_file() or not json_path.is_file():
            raise MissingExtraError(f"no trained head at {keras_path.parent} (needs {keras_path.name} and "
                                    f"{json_path.name}): run `facerec train` first")
        try:
            meta = json.loads(json_path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as e:
            raise FacerecError(f"{json_path}: unreadable head description ({e}); run `facerec train` again") from e
        if meta.get("format") != HEAD_FORMAT:
            raise FacerecError(f"{json_path}: not a facerec head file")
        head = cls(backbone=meta["backbone"], hidden=meta["hidden"], dropout=meta["dropout"],
                   min_probability=meta["min_probability"], max_distance=meta["max_distance"], seed=meta.get("seed", 0))
        keras = keras_module()
        try:
            head.model_ = keras.models.load_model(keras_path, compile=False)
        except Exception as e:  # Keras raises many types for a damaged file
            raise FacerecError(f"{keras_path}: cannot load the trained head ({e}); run `facerec train` again") from e
        head.classes_ = list(meta["classes"])
        head.n_features_in_ = int(meta["embedding_dim"])
        head.min_probability_ = float(meta["min_probability"])
        head.max_distance_ = float(meta["max_distance"])
        head.centroids_ = np.asarray(meta["centroids"], dtype=np.float32)
        head.metrics_ = meta.get("metrics", {})
        head.samples_per_class_ = meta.get("samples_per_class", {})
        head.trained_at_ = meta.get("trained_at", "")
        head.augmentations_ = meta.get("augmentations", [ORIGINAL])
        head.fine_tuned_blocks = int(meta.get("fine_tuned_blocks") or 0)
        head.gallery_ = meta.get("gallery")
        head.embedding_ = meta.get("embedding")
        if head.fine_tuned:
            head.base_weights_path = keras_path.parent / meta["base_weights"]
            if not head.base_weights_path.is_file():
                raise MissingExtraError(f"{head.base_weights_path} is missing (the head was fine-tuned with it); "
                                        "run `facerec train` again")
        return head


def load_head(backbone: str, path: Path | str) -> FaceHead:
    """The trained head at `path` (a head.keras file or its folder), which must be for `backbone`."""
    head = FaceHead.load(Path(path))
    if head.backbone != backbone:
        raise FacerecError(f"the head at {path} was trained for backbone "
                           f"{head.backbone}, not {backbone}: pass --backbone {head.backbone} or run `facerec train`")
    return head


def load_gallery_head(gallery, embedding: str) -> FaceHead:
    """The head trained on `gallery` (an open Gallery) for `embedding`, checked against the gallery as it is now."""
    from facerec.backbones import backbone_of

    head = load_head(backbone_of(embedding), head_dir(gallery.path, embedding))
    check_head_fits_gallery(head, gallery, embedding)
    return head


def check_head_fits_gallery(head: FaceHead, gallery, embedding: str) -> None:
    """Refuse a head that could name someone this gallery does not hold (or was trained on other embeddings);
    warn when it was trained on another gallery file or before someone was enrolled."""
    where = head_dir(gallery.path, embedding)
    if head.embedding_ is not None and head.embedding_ != embedding:
        raise FacerecError(f"the head at {where} was trained on {head.embedding_} embeddings, not {embedding}; "
                           "run `facerec train` again with the same options")
    enrolled = {p.name for p in gallery.people(embedding) if p.faces > 0}
    gone = sorted(set(head.classes_) - enrolled)
    if gone:
        raise FacerecError(f"the head at {where} can name {len(gone)} person(s) not enrolled in {gallery.path} "
                           f"({', '.join(gone[:5])}); run `facerec train` again")
    if head.gallery_ is not None and Path(head.gallery_) != Path(gallery.path).resolve():
        log.warning("the head at %s was trained on the gallery %s, not %s; run `facerec train` to be sure",
                    where, head.gallery_, gallery.path)
    new = sorted(enrolled - set(head.classes_))
    if new:
        log.warning("the head at %s was trained before %s was enrolled and cannot name them; run `facerec train` again",
                    where, ", ".join(new[:5]))
